"""The tensorrt backend on a CPU-only machine with TensorRT-RTX: build-only mode, cache keys, reuse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from trtperf.backends.base import BuildRequest
from trtperf.backends.tensorrt import PORTABLE, TensorRTBackend
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.engine import BuiltEngine
from trtperf.spec import ModelSpec

pytest.importorskip("tensorrt_rtx_bindings")


def _no_gpu() -> bool:
    import torch

    return not torch.cuda.is_available()


cpu_only = pytest.mark.skipif(not _no_gpu(), reason="checks the CPU-only behaviour")

FAST = Settings(build_only=True, trt_opt_level=0)


@pytest.fixture
def backend() -> TensorRTBackend:
    return TensorRTBackend(FAST.trt_flavour)


def build(backend: TensorRTBackend, tiny_spec: ModelSpec, tiny_onnx: tuple[ArtifactCache, CacheEntry],
          settings: Settings = FAST, precision: str = "fp32", batch: int = 4, streams: int = 1) -> BuiltEngine:
    cache, entry = tiny_onnx
    case = Case(tiny_spec.name, "tensorrt", precision, batch, streams)
    return backend.build(BuildRequest(spec=tiny_spec, case=case, onnx_path=entry.path,
                                      onnx_sha256=entry.meta["sha256"], settings=settings, cache=cache))


@cpu_only
def test_build_only_mode_runs_without_a_gpu(backend: TensorRTBackend) -> None:
    assert backend.skip_reason(FAST) is None
    reason = backend.skip_reason(Settings())
    assert reason is not None and "no CUDA GPU" in reason and "--trtperf-build-only" in reason
    assert backend.unavailable_reason() == reason


def test_flavour_and_version_are_recorded(backend: TensorRTBackend) -> None:
    env = backend.environment()
    assert env["backend"] == "tensorrt" and env["trt_flavour"] == "tensorrt-rtx"
    assert env["trt_version"] == env["backend_version"] and env["trt_version"].startswith("1.")


def test_engine_is_cached_under_the_full_key_and_reused(
    backend: TensorRTBackend, tiny_spec: ModelSpec, tiny_onnx: tuple[ArtifactCache, CacheEntry]
) -> None:
    first = build(backend, tiny_spec, tiny_onnx)
    assert first.path.suffix == ".plan" and first.path.stat().st_size > 0
    assert first.build_s > 0
    assert first.info["flavour"] == "tensorrt-rtx" and first.info["target"] == PORTABLE
    assert first.info["profile"] == {"x": [[1, 4], [4, 4], [16, 4]]}  # opt = the case's batch
    assert first.info["network_layers"] >= 3 and first.info["network_layer_types"]["MATRIX_MULTIPLY"] == 2

    # More streams share the engine: one context per stream, same plan.
    again = build(backend, tiny_spec, tiny_onnx, streams=2)
    assert again.cache_hit and again.cache_key == first.cache_key and again.path == first.path

    # Everything that changes the plan changes the key.
    changed = {
        "batch (profile opt)": build(backend, tiny_spec, tiny_onnx, batch=1),
        "optimization level": build(backend, tiny_spec, tiny_onnx, settings=dataclasses.replace(FAST, trt_opt_level=1)),
        "TF32": build(backend, tiny_spec, tiny_onnx, settings=dataclasses.replace(FAST, trt_tf32="on")),
        "workspace": build(backend, tiny_spec, tiny_onnx, settings=dataclasses.replace(FAST, trt_workspace=64)),
        "batch range": build(backend, tiny_spec, tiny_onnx, settings=dataclasses.replace(FAST, trt_batch_range=(2, 8))),
        "precision": build(backend, tiny_spec, tiny_onnx, precision="tf32"),
    }
    keys = {name: built.cache_key for name, built in changed.items()}
    assert len(set(keys.values()) | {first.cache_key}) == len(keys) + 1, keys
    assert all(not built.cache_hit for built in changed.values())
    assert changed["precision"].info["tf32"] is True and first.info["tf32"] is False  # tf32 only for tf32
    assert changed["workspace"].info["workspace_bytes"] == 64 << 20


def test_a_malformed_model_fails_the_build_with_the_parser_errors(
    backend: TensorRTBackend, tiny_spec: ModelSpec, tiny_onnx: tuple[ArtifactCache, CacheEntry], tmp_path: Path
) -> None:
    from trtperf.errors import BuildError

    cache, _ = tiny_onnx
    case = Case(tiny_spec.name, "tensorrt", "fp32", 4, 1)
    # Protobuf reads some garbage as an empty model, which the parser accepts: caught as "no outputs".
    for content, expected in [(b"not an ONNX model at all", "MODEL_DESERIALIZE_FAILED"),
                              (b"definitely not onnx", "network without outputs")]:
        bad = tmp_path / "bad.onnx"
        bad.write_bytes(content)
        request = BuildRequest(spec=tiny_spec, case=case, onnx_path=bad, onnx_sha256=content.hex(), settings=FAST,
                               cache=cache)
        for _ in range(2):  # nothing half-made is left in the cache: the next attempt fails the same way
            with pytest.raises(BuildError, match=expected):
                backend.build(request)


@cpu_only
def test_cpu_device_is_reported_when_no_gpu(backend: TensorRTBackend) -> None:
    device = backend.device()
    assert device.kind == "cpu" and device.facts["gpu"] is None


def test_gpu_precision_limits_apply_only_with_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import trtperf.backends.tensorrt as tensorrt_backend
    from trtperf.device import DeviceInfo

    backend = TensorRTBackend()
    backend._device = DeviceInfo("gpu", "Old GPU", "old-gpu", {"compute_capability": "7.5"})
    monkeypatch.setattr(tensorrt_backend, "_cuda_problem", lambda: None)  # as if this GPU were present
    assert backend.precision_unsupported("fp16") is None
    reason = backend.precision_unsupported("fp8")
    assert reason is not None and "8.9" in reason and "7.5" in reason
    monkeypatch.setattr(tensorrt_backend, "_cuda_problem", lambda: "no CUDA GPU")
    assert backend.precision_unsupported("fp8") is None  # build-only on a CPU: every precision builds


def test_the_runtime_cache_file_round_trips_and_goes_with_its_engine(tmp_path: Path) -> None:
    from trtperf.backends.tensorrt import runtime_cache_file, runtime_cache_path

    cache = ArtifactCache(tmp_path / "cache", key_file=tmp_path / "key")
    def produce(tmp: Path) -> None:
        tmp.write_bytes(b"plan")

    entry = cache.get_or_create("engine", {"plan": 1}, produce, suffix=".plan")
    file = runtime_cache_file(cache, entry.path, "nvidia-h100")
    assert file.load() is None
    file.store(b"kernels")
    assert file.load() == b"kernels" and runtime_cache_path(entry.path, "nvidia-h100").is_file()
    assert runtime_cache_file(cache, entry.path, "nvidia-h200").load() is None  # per GPU
    entry.path.unlink()  # the engine went (pruned or being rebuilt): its kernels are not written back
    runtime_cache_path(entry.path, "nvidia-h100").unlink()
    file.store(b"kernels")
    assert not runtime_cache_path(entry.path, "nvidia-h100").exists()
    shared = ArtifactCache(tmp_path / "cache", key_file=tmp_path / "key", read_only=True)
    runtime_cache_file(shared, entry.path, "nvidia-h100").store(b"kernels")  # read-only: stores nothing, no error
