"""The measurement mode: one typed value from the settings, honoured by every backend's engine."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from trtperf.backends import get_backend
from trtperf.cases import Case
from trtperf.config import Settings, resolve
from trtperf.errors import TrtperfUsageError
from trtperf.prepare import prepare
from trtperf.spec import ModelSpec
from trtperf.timing.mode import MeasurementMode, normalize_timing_mode

ROOT = Path(__file__).resolve().parents[2]
NON_DEFAULT = {"timing_mode": "e2e", "cuda_graph": "on", "l2_flush": False, "iterations_per_sample": 20,
               "delay_kernel": False}


def test_built_once_from_the_settings() -> None:
    mode = Settings(**NON_DEFAULT).measurement  # type: ignore[arg-type]
    assert mode == MeasurementMode(transfers=True, cuda_graph="on", l2_flush=False, iterations_per_sample=20)
    # trtexec 11: graphs where they work; nvbench: a delay kernel so the host's launch speed is not timed
    assert Settings().measurement == MeasurementMode(cuda_graph="auto", delay_kernel=True)


@pytest.mark.parametrize("where", ["env", "model"])
def test_conflicting_combinations_are_rejected_when_the_settings_are_read(where: str) -> None:
    with pytest.raises(TrtperfUsageError, match=r"l2_flush .* iterations_per_sample=20. Drop one"):
        if where == "env":
            resolve({}, {"TRTPERF_L2_FLUSH": "1", "TRTPERF_ITERATIONS_PER_SAMPLE": "20"}, {})
        else:
            resolve({"l2_flush": "1"}, {}, {}).with_model_overrides({"iterations_per_sample": 20})


def test_timing_mode_is_the_modes_json() -> None:
    mode = MeasurementMode(transfers=True, cuda_graph="auto", iterations_per_sample=4)
    assert mode.to_json("cuda_event", graph_captured=False, contexts="one per stream") == {
        "clock": "cuda_event", "transfers": True, "cuda_graph": False, "l2_flush": False,
        "iterations_per_sample": 4, "delay_kernel": False, "contexts": "one per stream"}
    assert MeasurementMode(cuda_graph="on").to_json("cuda_event")["cuda_graph"] is True


def test_baselines_recorded_before_a_field_existed_still_compare_equal() -> None:
    old_trt = {"clock": "cuda_event", "transfers": False, "cuda_graph": False, "l2_flush": False,
               "contexts": "one per stream"}
    old_torch = {"clock": "cuda_event", "transfers": False, "cuda_graph": True, "l2_cache": "warm", "torch": "eager"}
    assert normalize_timing_mode(old_trt) == MeasurementMode().to_json("cuda_event", contexts="one per stream")
    assert normalize_timing_mode(old_torch) == MeasurementMode(cuda_graph="on").to_json("cuda_event", torch="eager")
    assert normalize_timing_mode({"l2_cache": "flushed"})["l2_flush"] is True


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_cpu_engines_report_the_mode_they_measured_whatever_was_asked(backend: str, tiny_spec: ModelSpec,
                                                                       tmp_path: Path) -> None:
    """A CPU engine times the whole call on the host clock: it must not claim graphs, copies or blocks."""
    if backend == "torch" and get_backend("torch").on_gpu():  # type: ignore[attr-defined]
        pytest.skip("the torch backend runs on a GPU here")
    asked = Settings(cache_dir=tmp_path / "cache", **NON_DEFAULT)  # type: ignore[arg-type]
    prepared = prepare(tiny_spec, Case(tiny_spec.name, backend, "fp32", 2, 1), asked, _cache(tmp_path))
    with prepared.load() as engine:
        (worker,) = engine.make_workers({"x": np.zeros((2, 4), np.float32)}, 1)
        assert len(worker.run(3)) == 3  # one sample per inference, not blocks of 20
        worker.close()
        mode = engine.timing_mode()
    assert mode["clock"] == "host"
    assert {k: mode[k] for k in ("transfers", "cuda_graph", "l2_flush", "iterations_per_sample")} == {
        "transfers": False, "cuda_graph": False, "l2_flush": False, "iterations_per_sample": 1}


def _cache(tmp_path: Path):  # type: ignore[no-untyped-def]
    from trtperf.cache import ArtifactCache

    return ArtifactCache(tmp_path / "cache")


def test_gpu_engines_make_their_timed_workers_through_the_mode() -> None:
    """Every GPU engine's timed worker comes from timing.cuda.event_worker(launch, stream, mode, ...), the one
    place each field of the mode reaches the CUDA-event worker (the tensorrt backend once dropped
    iterations_per_sample by building its worker by hand). CudaEventWorker is built directly only there and
    by the host-latency probe, which is not a timed worker."""
    allowed = {("trtperf/timing/cuda.py", "event_worker"), ("trtperf/trt/runtime.py", "probe_host_latency")}
    found = set()
    for path in (ROOT / "trtperf").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "CudaEventWorker":
                    found.add((str(path.relative_to(ROOT)), func.name))
    assert found == allowed
    calls = {str(p.relative_to(ROOT)) for p in (ROOT / "trtperf").rglob("*.py") if "event_worker(" in p.read_text()}
    assert {"trtperf/trt/runtime.py", "trtperf/backends/torch_backend.py"} <= calls


def test_event_worker_passes_every_field_of_the_mode() -> None:
    torch = pytest.importorskip("torch")
    from trtperf.timing.cuda import event_worker

    class StreamDouble:
        device = torch.device("cpu")

        def synchronize(self) -> None:
            pass

    for mode in (MeasurementMode(iterations_per_sample=7), MeasurementMode()):
        worker = event_worker(lambda: None, StreamDouble(), mode)
        assert worker.iterations_per_sample == mode.iterations_per_sample
        assert worker.l2_flush is mode.l2_flush  # l2_flush=True needs a GPU (buffer sized by its L2)
        assert worker.delay_kernel is mode.delay_kernel  # delay_kernel=True needs a GPU (its clock rate)
    assert [f.name for f in dataclasses.fields(MeasurementMode)] == [
        "transfers", "cuda_graph", "l2_flush", "iterations_per_sample", "delay_kernel"], \
        "a new field: pass it in event_worker"


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_the_committed_cpu_baselines_compare_with_todays_cpu_engines(backend: str, tiny_spec: ModelSpec,
                                                                    tmp_path: Path) -> None:
    """Found by a new-user run of the main job: every CPU case failed 'mode mismatch' against
    baselines/cpu-amd-epyc.json (recorded before l2_flush/iterations_per_sample were in every timing mode)."""
    import json

    from trtperf.verdict.gate import timing_mode_difference

    if backend == "torch" and get_backend("torch").on_gpu():  # type: ignore[attr-defined]
        pytest.skip("the torch backend runs on a GPU here")
    entries = json.loads((ROOT / "baselines" / "cpu-amd-epyc-f25m1-avx2-2c.json").read_text())["entries"]
    recorded = [e["timing_mode"] for key, e in entries.items() if f"[{backend}-" in key]
    assert recorded, f"no {backend} entries in the committed CPU baseline"
    settings = Settings(cache_dir=tmp_path / "cache")
    prepared = prepare(tiny_spec, Case(tiny_spec.name, backend, "fp32", 2, 1), settings, _cache(tmp_path))
    with prepared.load() as engine:
        today = engine.timing_mode()
    for mode in recorded:
        volatile = {"intra_op_threads"}  # the torch CPU engine records this machine's thread count
        difference = timing_mode_difference({k: v for k, v in mode.items() if k not in volatile},
                                            {k: v for k, v in today.items() if k not in volatile})
        assert difference == "", difference
