"""The torch backends on the CPU: eager end to end, the compile plumbing with dynamo's "eager"
compiler as a test double, precision handling, keys and skips. The GPU paths (CUDA streams,
events, graphs, L2 flush, inductor) run on the H100: bench/h100_job.sh, docs/notes/issue-5.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from trtperf.backends import get_backend
from trtperf.backends.base import BuildRequest
from trtperf.backends.torch_backend import (
    TorchBackend,
    TorchCompileBackend,
    TorchEngine,
    engine_key_parts,
    inductor_cache_dir,
    math_mode,
    outputs_to_numpy,
    to_tensors,
)
from trtperf.cache import ArtifactCache, cache_key
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.device import DeviceInfo
from trtperf.engine import BuiltEngine
from trtperf.errors import BuildError, TrtperfUsageError
from trtperf.inputs import make_inputs
from trtperf.spec import InputSpec, ModelSpec, model
from trtperf.timing.cuda import L2_FLUSH_MIN_BYTES, l2_flush_bytes, sample_blocks
from trtperf.timing.loop import TimingPlan, measure
from trtperf.timing.mode import MeasurementMode

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="CPU-path tests; the GPU paths run on the H100 job")


class TwoHeads(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(8, 16)
        self.a = torch.nn.Linear(16, 4)
        self.b = torch.nn.Linear(16, 2)

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.body(x)) + ids.unsqueeze(-1).float()
        return self.a(h), self.b(h)


def _spec() -> ModelSpec:
    @model(inputs=[InputSpec("x", ("batch", 8)), InputSpec("ids", ("batch",), dtype="int64", low=0, high=3)],
           outputs=["a", "b"], batches=(2,), precisions=("fp32", "fp16"))
    def two_heads() -> torch.nn.Module:
        return TwoHeads()

    return two_heads


@pytest.fixture(scope="module")
def spec() -> ModelSpec:
    return _spec()


def _request(spec: ModelSpec, cache: ArtifactCache, backend: str, precision: str = "fp32", batch: int = 2,
             **settings: Any) -> BuildRequest:
    return BuildRequest(spec=spec, case=Case(spec.name, backend, precision, batch, 1), onnx_path=Path("unused.onnx"),
                        onnx_sha256="0" * 64, settings=dataclasses.replace(Settings(), **settings), cache=cache)


@pytest.fixture
def cache(tmp_path: Path) -> ArtifactCache:
    return ArtifactCache(tmp_path / "cache")


def test_registered_and_cpu_skips_say_why() -> None:
    eager, compiled = get_backend("torch"), get_backend("torch_compile")
    assert isinstance(eager, TorchBackend) and isinstance(compiled, TorchCompileBackend)
    assert eager.unavailable_reason() is None
    assert eager.device().kind == "cpu"
    assert eager.precision_unsupported("fp32") is None
    assert "GPU math mode" in str(eager.precision_unsupported("tf32"))
    assert "not a deployment target" in str(eager.precision_unsupported("fp16"))
    assert "quantization recipe" in str(eager.precision_unsupported("int8"))
    assert "need a CUDA GPU" in str(compiled.unavailable_reason())


@pytest.mark.parametrize("precision", ["fp32", "tf32", "fp16", "bf16"])
def test_math_mode_sets_tf32_only_for_tf32_and_restores(precision: str) -> None:
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = (matmul.allow_tf32, cudnn.allow_tf32)
    with math_mode(precision):
        assert matmul.allow_tf32 is (precision == "tf32")
        assert cudnn.allow_tf32 is (precision == "tf32")
    assert (matmul.allow_tf32, cudnn.allow_tf32) == before


def test_to_tensors_casts_floating_inputs_only(spec: ModelSpec) -> None:
    arrays = make_inputs(spec, 3)
    x, ids = to_tensors(arrays, ["x", "ids"], "fp16", torch.device("cpu"))
    assert x.dtype == torch.float16 and ids.dtype == torch.int64
    assert np.array_equal(ids.numpy(), arrays["ids"])


def test_outputs_to_numpy_maps_tensor_tuple_and_dict_and_rejects_wrong_count() -> None:
    t = torch.ones(2, 3, dtype=torch.bfloat16)
    assert outputs_to_numpy(t, ["y"], "m")["y"].dtype == np.float32
    both = outputs_to_numpy((t, torch.zeros(2, dtype=torch.int64)), ["y", "n"], "m")
    assert both["n"].dtype == np.int64
    assert set(outputs_to_numpy({"n": t, "y": t}, ["y", "n"], "m")) == {"y", "n"}
    with pytest.raises(BuildError, match=r"forward\(\) returned 2 outputs.*names 1"):
        outputs_to_numpy((t, t), ["y"], "cnn[torch-fp32-b1-s1]")


def test_engine_keys_separate_everything_that_changes_the_engine() -> None:
    device = DeviceInfo("gpu", "NVIDIA H100", "nvidia-h100", {"compute_capability": "9.0"})
    base = dict(model="m", source_digest="s", weights_digest="w", backend="torch_compile", torch_version="2.11.0",
                device=device, precision="fp16", batch=8, compile_mode="default", compiler="inductor")
    key = cache_key("engine-torch_compile", engine_key_parts(**base))  # type: ignore[arg-type]
    for field, other in [("weights_digest", "w2"), ("source_digest", "s2"), ("torch_version", "2.12.0"),
                         ("precision", "bf16"), ("batch", 1), ("compile_mode", "max-autotune"),
                         ("device", DeviceInfo("gpu", "NVIDIA H200", "nvidia-h200", {"compute_capability": "9.0"}))]:
        changed = engine_key_parts(**{**base, field: other})  # type: ignore[arg-type]
        assert cache_key("engine-torch_compile", changed) != key, field
    got = inductor_cache_dir(Path("/c"), "2.11.0+cu130", "nvidia-h100")
    assert got == Path("/c/torch-inductor/2-11-0-cu130-nvidia-h100")


def test_l2_flush_buffer_is_twice_the_l2_with_a_floor() -> None:
    assert l2_flush_bytes(50 << 20) == 100 << 20  # H100: 50 MB L2
    assert l2_flush_bytes(0) == L2_FLUSH_MIN_BYTES


def test_eager_engine_matches_the_module_and_times_each_stream(spec: ModelSpec, cache: ArtifactCache) -> None:
    backend = TorchBackend()
    request = _request(spec, cache, "torch")
    built = backend.build(request)
    assert not built.cache_hit and built.path.suffix == ".json"
    assert backend.build(request).cache_hit
    inputs = make_inputs(spec, 2)
    module = spec.build_module()
    with torch.no_grad():
        want_a, want_b = module(torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["ids"]))
    with backend.load(built, request) as engine:
        got = engine.infer(inputs)
        np.testing.assert_allclose(got["a"], want_a.numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got["b"], want_b.numpy(), rtol=1e-6, atol=1e-6)
        assert engine.timing_mode()["clock"] == "host" and engine.timing_mode()["torch"] == "eager"
        runs = measure(lambda n: engine.make_workers(inputs, n), 2,
                       TimingPlan(runs=2, warmup_s=0.0, min_time_s=0.005, min_iters=5))
    assert len(runs) == 2 and all(r.inferences >= 10 for r in runs)  # 2 streams x >= 5 iterations
    assert all(0 < v < 1 for r in runs for v in r.latencies)


def test_a_foreign_engine_key_is_refused_not_silently_replaced(spec: ModelSpec, cache: ArtifactCache) -> None:
    backend = TorchBackend()
    request = _request(spec, cache, "torch")
    stale = BuiltEngine(path=Path("old.json"), cache_key="ab" * 32, cache_hit=True, build_s=0.0)
    with pytest.raises(BuildError, match="not the current module"):
        backend.load(stale, request)


@pytest.fixture
def compile_double() -> Iterator[TorchCompileBackend]:
    # dynamo with its "eager" compiler: the compile path without inductor's C++ compile time.
    yield TorchCompileBackend("eager", allow_cpu=True)
    torch._dynamo.reset()


def test_compiled_engine_is_cached_memoized_and_recompiled_in_a_new_process(
        spec: ModelSpec, cache: ArtifactCache, compile_double: TorchCompileBackend) -> None:
    assert compile_double.unavailable_reason() is None
    request = _request(spec, cache, "torch_compile", precision="fp32", batch=2)
    first = compile_double.build(request)
    assert not first.cache_hit and first.info["compile_s_this_process"] > 0
    assert first.info["torch_mode"] == "compile:eager"
    again = compile_double.build(request)
    assert again.cache_hit and again.info["compile_s_this_process"] == 0  # memoized in this process
    assert again.cache_key == first.cache_key
    other_batch = compile_double.build(_request(spec, cache, "torch_compile", batch=3))
    assert other_batch.cache_key != first.cache_key  # compiled modules are shape-specialized
    fresh = TorchCompileBackend("eager", allow_cpu=True)  # as a new process: manifest found, module recompiled
    rebuilt = fresh.build(request)
    assert rebuilt.cache_hit and rebuilt.info["compile_s_this_process"] > 0
    inputs = make_inputs(spec, 2)
    with fresh.load(rebuilt, request) as engine, TorchBackend().load(TorchBackend().build(
            _request(spec, cache, "torch")), _request(spec, cache, "torch")) as eager:
        got, want = engine.infer(inputs), eager.infer(inputs)
        for name in ("a", "b"):
            np.testing.assert_allclose(got[name], want[name], rtol=1e-6, atol=1e-6)


def test_compile_failure_names_the_case_and_the_fallback(cache: ArtifactCache,
                                                         compile_double: TorchCompileBackend) -> None:
    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ torch.ones(3, 3)  # x is (batch, 8): shape error while compiling

    @model(inputs=[InputSpec("x", ("batch", 8))], outputs=["y"], batches=(2,))
    def broken() -> torch.nn.Module:
        return Broken()

    with pytest.raises(BuildError, match=r"(?s)broken\[torch_compile-fp32-b2-s1\]: torch.compile .* failed.*`torch`"):
        compile_double.build(_request(broken, cache, "torch_compile"))


@pytest.mark.parametrize(("iterations", "per_sample", "blocks"),
                         [(1, 1, [1]), (5, 1, [1] * 5), (40, 20, [20, 20]), (45, 20, [20, 20, 5]), (3, 20, [3])])
def test_sample_blocks_cover_every_inference(iterations: int, per_sample: int, blocks: list[int]) -> None:
    assert sample_blocks(iterations, per_sample) == blocks
    assert sum(blocks) == iterations


def _gpu_engine(**mode: Any) -> TorchEngine:
    # No CUDA call happens in the constructor or timing_mode: testable on a CPU-only machine.
    return TorchEngine(torch.nn.Identity(), input_names=["x"], output_names=["y"], precision="fp16",
                       device=torch.device("cuda", 0), mode=MeasurementMode(**{"cuda_graph": "on", **mode}),
                       label="eager", what="cnn[torch-fp16-b8-s1]")


def test_gpu_timing_mode_names_what_a_sample_covers() -> None:
    engine = _gpu_engine()
    assert engine.timing_mode() == {"clock": "cuda_event", "transfers": False, "cuda_graph": True,
                                    "l2_flush": False, "iterations_per_sample": 1, "delay_kernel": False,
                                    "torch": "eager"}
    engine.close()
    assert _gpu_engine(delay_kernel=True).timing_mode()["delay_kernel"] is True
    blocked = _gpu_engine(iterations_per_sample=20, transfers=True)
    assert blocked.timing_mode()["iterations_per_sample"] == 20 and blocked.timing_mode()["transfers"] is True
    blocked.close()


def test_l2_flush_with_blocked_samples_is_refused_with_the_fix() -> None:
    with pytest.raises(TrtperfUsageError, match=r"l2_flush .* iterations_per_sample=20. Drop one"):
        _gpu_engine(l2_flush=True, iterations_per_sample=20)


class _FakeStream:
    def synchronize(self) -> None:
        pass


class _FakeBinding:
    """Test double of GpuBinding (no CUDA here): records loads and releases; matches one input shape."""

    def __init__(self, shape: tuple[int, ...], graph: bool) -> None:
        self.shape, self.wants_graph = shape, graph
        self.graph = object() if graph else None
        self.stream = _FakeStream()
        self.loads = 0
        self.released = False

    def load_inputs(self, tensors: list[torch.Tensor]) -> bool:
        if tuple(tensors[0].shape) != self.shape:
            return False
        self.loads += 1
        return True

    def release(self) -> None:
        self.released = True

    def launch(self) -> None:
        pass

    def poison(self) -> None:
        pass

    def read(self) -> dict[str, np.ndarray]:
        return {}


@pytest.mark.parametrize("fresh", [False, True])
def test_gpu_bindings_are_kept_per_input_shape_and_stream_kind_unless_fresh(fresh: bool,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The reuse logic of torch's GPU bindings, with test doubles for the binding and the CUDA-event worker
    (the GPU itself: tests/gpu/test_gpu_timed_path.py)."""
    import types

    import trtperf.timing.cuda

    monkeypatch.setattr(trtperf.timing.cuda, "event_worker",
                        lambda launch, stream, mode, on_close, probe: types.SimpleNamespace(close=on_close))
    # No CUDA call happens in the constructor, nor below with the doubles: the GPU path, on the CPU.
    engine = TorchEngine(torch.nn.Identity(), input_names=["x"], output_names=["y"], precision="fp32",
                         device=torch.device("cuda", 0), mode=MeasurementMode(cuda_graph="auto"), label="eager",
                         what="t", fresh_contexts=fresh)
    made: list[_FakeBinding] = []

    def bind(inputs: dict[str, np.ndarray], graph: bool) -> _FakeBinding:
        made.append(_FakeBinding(inputs["x"].shape, graph))
        return made[-1]

    monkeypatch.setattr(engine, "_bind", bind)

    def run(batch: int, streams: int) -> None:
        for worker in engine.make_workers({"x": np.zeros((batch, 4), np.float32)}, streams):
            worker.close()

    try:
        for _ in range(3):
            run(8, 1)
        assert len(made) == (3 if fresh else 1) and engine.graph_captured is True
        assert made[0].loads == (0 if fresh else 2) and made[0].released is fresh
        run(4, 1)  # another shape: the kept binding is released, a new one made
        assert len(made) == (4 if fresh else 2) and made[0].released
        run(4, 2)  # two streams are not captured: graph bindings do not serve them
        run(4, 2)
        assert len(made) == (8 if fresh else 4) and engine.graph_captured is False
        assert [b.wants_graph for b in made[-2:]] == [False, False]
    finally:
        engine.close()
    assert all(b.released for b in made)  # close releases what was kept
