"""Parity through the timed path (issue 14): the outputs of the launches that are timed, every stream."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trtperf import ModelSpec
from trtperf.backends.onnxruntime import OnnxRuntimeEngine
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.engine import OutputProbe, Worker
from trtperf.parity.compare import TwoWayParity, compare_outputs
from trtperf.parity.timed_path import check_timed_path, describe_timed_path_failure, launch_drift
from trtperf.pipeline import CaseRunner
from trtperf.record.results import FAILED, PASSED
from trtperf.spec import Tolerance
from trtperf.timing.loop import CallableWorker, TimingPlan, measure, timed_outputs
from trtperf.timing.mode import mismatch_advice


class StaleGraphWorker:
    """A test double of a GPU worker whose launch writes nothing (an empty CUDA graph)."""

    def __init__(self, value: float) -> None:
        self.buffer = np.full(3, value)
        self.output_probe = OutputProbe(poison=self._poison, read=lambda: {"y": self.buffer.copy()})

    def _poison(self) -> None:
        self.buffer[:] = np.nan

    def run(self, iterations: int) -> list[float]:
        return [1e-3] * iterations

    def close(self) -> None:
        pass


def test_a_launch_that_writes_nothing_reads_back_poison() -> None:
    outputs = timed_outputs([StaleGraphWorker(1.0)])
    assert outputs is not None and np.isnan(outputs[0]["y"]).all()  # stale 1.0 would have passed parity


def test_timed_outputs_reads_every_worker_after_one_more_inference() -> None:
    counter = iter(range(100))
    workers = [CallableWorker(lambda: [np.array([next(counter)])], read_outputs=lambda r: {"y": r[0]})  # type: ignore[index]
               for _ in range(3)]
    for worker in workers:
        worker.run(2)
    outputs = timed_outputs(workers)
    assert outputs is not None and len(outputs) == 3
    assert sorted(int(o["y"][0]) for o in outputs) == [6, 7, 8]  # the 7th-9th inferences, one per worker


def test_a_worker_that_cannot_read_outputs_back_is_reported_not_guessed() -> None:
    assert timed_outputs([CallableWorker(lambda: None)]) is None
    parity = check_timed_path([None], _never_called)
    assert parity.passed and parity.checked == 0 and parity.unreadable
    assert "cannot read" in parity.to_json()["note"]


def test_measure_hands_each_runs_workers_to_after_run_before_closing() -> None:
    seen: list[int] = []
    closed: list[bool] = []

    def make(n: int) -> Sequence[Worker]:
        return [CallableWorker(lambda: 0, on_close=lambda: closed.append(True)) for _ in range(n)]

    def after(workers: Sequence[Worker]) -> None:
        assert not closed or len(closed) % 2 == 0
        seen.append(len(workers))

    measure(make, 2, TimingPlan(runs=3, warmup_s=0.0, min_time_s=0.0, min_iters=1), after_run=after)
    assert seen == [2, 2, 2] and len(closed) == 6


def _never_called(got: Mapping[str, np.ndarray]) -> TwoWayParity:
    raise AssertionError("no outputs to check")


def _report(passed: bool) -> TwoWayParity:
    got = {"y": np.array([1.0, 2.0 if passed else 9.0])}
    cost = compare_outputs(got, {"y": np.array([1.0, 2.0])}, lambda name: Tolerance())
    return TwoWayParity(cost=cost, faithful=None, precision="fp32", same_reference=True)


def test_the_first_failing_run_and_stream_is_named() -> None:
    outputs = [[{"y": np.zeros(1)}, {"y": np.zeros(1)}], [{"y": np.zeros(1)}, {"y": np.ones(1)}]]
    parity = check_timed_path(outputs, lambda got: _report(not got["y"].any()))
    assert not parity.passed and parity.failure is not None
    assert (parity.failure.run, parity.failure.stream, parity.checked) == (1, 1, 4)
    text = describe_timed_path_failure(parity.failure, 2, {"cuda_graph": True})
    assert "CUDA-graph replays" in text and "stream 2 of 2" in text and "timed run 2" in text
    assert "'y'" in text  # the output's own failure detail
    drifted = describe_timed_path_failure(parity.failure, 2, {"cuda_graph": False}, first={"y": np.zeros(1)})
    assert "differ from the first inference's by up to 1" in drifted and "not deterministic" in drifted


def test_launch_drift() -> None:
    assert launch_drift({"y": np.array([1.0, np.nan])}, {"y": np.array([1.5, np.nan])}) == 0.5
    assert launch_drift({"y": np.array([1.0])}, {"y": np.array([np.nan])}) == float("inf")
    assert launch_drift({"y": np.ones(2)}, {"y": np.ones(3)}) == float("inf")
    assert launch_drift({"y": np.ones(2)}, {"y": np.ones(2)}) == 0.0


class DriftingWorker:
    """A test double: an ORT worker whose timed launches compute something else after the first."""

    def __init__(self, inner: CallableWorker) -> None:
        self.inner = inner
        probe = inner.output_probe
        assert probe is not None
        self.output_probe = OutputProbe(poison=probe.poison, read=lambda: {k: v + 1.0 for k, v in probe.read().items()})

    def run(self, iterations: int) -> list[float]:
        return self.inner.run(iterations)

    def close(self) -> None:
        self.inner.close()


def _runner(tmp_path: Path) -> CaseRunner:
    settings = Settings(runs=2, warmup=0.0, min_time=0.0, min_iters=2, cache_dir=tmp_path / "cache")
    return CaseRunner(settings, tmp_path / "baselines")


def test_a_case_whose_timed_path_drifts_fails_although_its_first_inference_passes(
        tiny_spec: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real: Callable[..., Sequence[Worker]] = OnnxRuntimeEngine.make_workers

    def drifting(self: OnnxRuntimeEngine, inputs: Mapping[str, np.ndarray], streams: int) -> Sequence[Any]:
        return [DriftingWorker(w) for w in real(self, inputs, streams)]  # type: ignore[arg-type]

    monkeypatch.setattr(OnnxRuntimeEngine, "make_workers", drifting)
    result = _runner(tmp_path).run(tiny_spec, Case("tiny_mlp", "onnxruntime", "fp32", 4, 2))
    assert result.outcome == FAILED
    assert "the timed path (stream launches, stream 1 of 2, after timed run 1)" in result.message
    assert result.parity is not None and result.parity["passed"]  # the first inference was right
    assert result.parity["timed_path"]["passed"] is False


def test_a_healthy_case_checks_every_stream_of_every_run(tiny_spec: ModelSpec, tmp_path: Path) -> None:
    result = _runner(tmp_path).run(tiny_spec, Case("tiny_mlp", "onnxruntime", "fp32", 4, 2))
    assert result.outcome == PASSED, result.message
    assert result.parity is not None and result.parity["timed_path"] == {"checked": 4, "passed": True}


@pytest.mark.parametrize(("baseline", "current", "expected"), [
    ({"cuda_graph": False}, {"cuda_graph": True}, "--trtperf-cuda-graph off"),
    ({"cuda_graph": True}, {"cuda_graph": False}, "--trtperf-cuda-graph on"),
    ({"cuda_graph": True, "transfers": True}, {"cuda_graph": True, "transfers": False}, "rerun in the baseline's"),
])
@pytest.mark.timed
def test_mode_mismatch_says_how_to_compare_or_re_record(baseline: dict[str, Any], current: dict[str, Any],
                                                        expected: str) -> None:
    advice = mismatch_advice(baseline, current)
    assert expected in advice and "--trtperf-update-baselines" in advice
