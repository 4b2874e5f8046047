"""Stability notes of the verdict stage: the launch-bound (enqueue-bound) warning."""

from __future__ import annotations

from trtperf.config import Settings
from trtperf.timing.stats import RunSamples
from trtperf.verdict.judging import launch_bound_note, stability_notes


def _run(gpu_ms: float, enqueue_ms: float | None) -> RunSamples:
    enqueue = () if enqueue_ms is None else (enqueue_ms / 1e3,) * 20
    return RunSamples(latencies=(gpu_ms / 1e3,) * 20, wall_s=0.1, inferences=20, enqueue=enqueue)


def test_host_slower_than_the_gpu_is_launch_bound() -> None:
    note = launch_bound_note([_run(0.10, 0.30)] * 3)
    assert note is not None
    assert "launch-bound" in note and "0.3000 ms" in note and "--trtperf-cuda-graph on" in note
    assert note in stability_notes([_run(0.10, 0.30)] * 3, Settings())
    replayed = launch_bound_note([_run(0.10, 0.30)], cuda_graph=True)
    assert replayed is not None and "even with CUDA-graph replay" in replayed and "--trtperf-cuda-graph" not in replayed


def test_trtexec_threshold_is_80_percent_of_gpu_time() -> None:
    assert launch_bound_note([_run(0.10, 0.081)]) is not None
    assert launch_bound_note([_run(0.10, 0.079)]) is None


def test_gpu_bound_and_cpu_runs_get_no_note() -> None:
    assert launch_bound_note([_run(1.0, 0.05)]) is None
    assert launch_bound_note([_run(1.0, None)]) is None
    assert stability_notes([_run(1.0, None)], Settings()) == []


def test_short_gpu_inferences_suggest_several_per_event_pair() -> None:
    short = [_run(0.014, 0.005)]
    assert any("short inference (14.0 us)" in n for n in stability_notes(short, Settings()))
    assert not any("short inference" in n for n in stability_notes(short, Settings(iterations_per_sample=20)))
    assert not any("short inference" in n for n in stability_notes([_run(0.014, None)], Settings()))  # CPU
    assert not any("short inference" in n for n in stability_notes([_run(0.2, 0.005)], Settings()))
    assert not any("short inference" in n for n in stability_notes(short, Settings(l2_flush=True)))


def test_behind_the_delay_kernel_a_slow_host_is_named_host_bound_not_launch_bound() -> None:
    note = launch_bound_note([_run(0.10, 0.30)] * 3, delay_kernel=True)
    assert note is not None and note.startswith("host-bound launches:") and "latency is still the GPU's" in note
    assert "launch-bound" not in note
    assert note in stability_notes([_run(0.10, 0.30)] * 3, Settings(), delay_kernel=True)
