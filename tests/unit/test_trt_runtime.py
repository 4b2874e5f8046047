"""Runtime helpers that need no GPU (the runtime itself ran on an H100: docs/notes/issue-3.md)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

from trtperf.engine import KeptBindings
from trtperf.errors import BuildError
from trtperf.trt.flavour import describe_module
from trtperf.trt.runtime import (
    TORCH_DTYPES,
    RuntimeCacheFile,
    SharedRuntimeCache,
    dims,
    int8_hint,
    torch_dtype_name,
)

# Context creation of an int8 Q/DQ cnn engine on an H100, TensorRT-RTX 1.7.1 (bench/trt_h100.sh).
RTX_INT8_CONV_ERROR = (
    "ICudaEngine::createExecutionContext: Error Code 1: Myelin ([cudnn_graph.cpp:562: ixn_constructor_impl"
    "<myelin::exec::{anonymous}::ixn_conv_cudnn_graph_t>] In ixn_conv_cudnn_graph_t `node_Conv_58`: Error "
    "constructing instruction: cudnn_graph_utils.cpp:485: CHECK(false) failed. Myelin type has not implementation "
    "for fallback shapes: 5;"
)


def flavour(version: str, rtx: bool) -> object:
    module = ModuleType("t")
    module.__version__ = version  # type: ignore[attr-defined]
    if rtx:
        module.ComputeCapability = object()  # type: ignore[attr-defined]
        module.IBuilderConfig = type("C", (), {"set_compute_capability": None})  # type: ignore[attr-defined]
    return describe_module(module, "t")


def test_rtx_int8_convolution_failure_gets_the_explanation() -> None:
    hint = int8_hint(flavour("1.7.1.116", rtx=True), [RTX_INT8_CONV_ERROR])  # type: ignore[arg-type]
    assert "no int8 convolution" in hint and "fp16/fp8" in hint
    assert int8_hint(flavour("1.7.1.116", rtx=True), ["out of memory"]) == ""  # type: ignore[arg-type]
    assert int8_hint(flavour("11.4.0.106", rtx=False), [RTX_INT8_CONV_ERROR]) == ""  # type: ignore[arg-type]


def test_io_types_map_to_torch() -> None:
    torch = pytest.importorskip("torch")
    for trt_name, torch_name in TORCH_DTYPES.items():
        assert isinstance(getattr(torch, torch_name), torch.dtype), trt_name
    assert torch_dtype_name("HALF", "x") == "float16"
    with pytest.raises(BuildError, match="tensor 'w' has type INT4"):
        torch_dtype_name("INT4", "w")


def test_dims_become_tuples() -> None:
    assert dims([8, 3, 64, 64]) == (8, 3, 64, 64)


class FakeRuntimeCache:
    """Test double of TensorRT-RTX's IRuntimeCache: accepts blobs starting with b"ok"."""

    def __init__(self) -> None:
        self.contents = b""

    def deserialize(self, blob: bytes) -> bool:
        if not blob.startswith(b"ok"):
            return False
        self.contents = blob
        return True

    def serialize(self) -> bytes:
        return self.contents


class FakeRuntimeConfig:
    """Test double of IRuntimeConfig (``has_api`` False: a flavour without the runtime cache API)."""

    def __init__(self, has_api: bool = True) -> None:
        self.attached: Any = None
        if has_api:
            self.create_runtime_cache = FakeRuntimeCache

    def set_runtime_cache(self, cache: object) -> bool:
        self.attached = cache
        return True


class BlobStore:
    def __init__(self, blob: bytes | None) -> None:
        self.blob = blob
        self.stores = 0

    def file(self) -> RuntimeCacheFile:
        def store(blob: bytes) -> None:
            self.stores += 1
            self.blob = blob
        return RuntimeCacheFile(load=lambda: self.blob, store=store)


def test_one_runtime_cache_serves_every_context_and_is_stored_only_when_it_grew() -> None:
    store = BlobStore(None)
    shared = SharedRuntimeCache(store.file())
    first, second = FakeRuntimeConfig(), FakeRuntimeConfig()
    shared.attach(first)
    shared.attach(second)
    assert shared.status == "empty" and first.attached is second.attached is shared.cache
    shared.store()
    assert store.stores == 0  # nothing compiled: nothing written
    shared.cache.contents = b"ok kernels"  # what RTX compiled while running
    shared.store()
    shared.store()
    assert store.stores == 1 and store.blob == b"ok kernels"
    again = SharedRuntimeCache(store.file())  # the next session
    again.attach(FakeRuntimeConfig())
    again.store()
    assert again.status == "loaded" and store.stores == 1


def test_a_blob_rtx_rejects_is_compiled_afresh_and_replaced() -> None:
    store = BlobStore(b"from another driver")
    shared = SharedRuntimeCache(store.file())
    shared.attach(FakeRuntimeConfig())
    assert shared.status == "rejected"
    shared.cache.contents = b"ok new kernels"
    shared.store()
    assert store.blob == b"ok new kernels"


def test_no_runtime_cache_api_means_no_cache_and_no_store() -> None:
    store = BlobStore(b"ok kernels")
    shared = SharedRuntimeCache(store.file())
    config = FakeRuntimeConfig(has_api=False)
    shared.attach(config)
    shared.store()
    assert shared.status == "unavailable" and config.attached is None and store.stores == 0


def test_failing_to_store_the_runtime_cache_costs_nothing_but_compile_time() -> None:
    def full_disk(blob: bytes) -> None:
        raise OSError(28, "No space left on device")

    shared = SharedRuntimeCache(RuntimeCacheFile(load=lambda: None, store=full_disk))
    shared.attach(FakeRuntimeConfig())
    shared.cache.contents = b"ok kernels"
    shared.store()  # no exception
    assert shared.status == "empty"


class FakeStream:
    """Test double of a CUDA stream (everything is synchronous here)."""

    cuda_stream = 0

    def synchronize(self) -> None:
        pass


class DoublingContext:
    """Test double of an execution context: y = 2 x, read from the binding's input buffer at each launch."""

    def __init__(self, binding: Any) -> None:
        self.binding = binding

    def execute_async_v3(self, stream: int) -> bool:
        self.binding.device_outputs["y"].copy_(2 * self.binding.device_inputs["x"])
        return True


def _engine_with_fake_bindings(monkeypatch: pytest.MonkeyPatch, fresh: bool = False) -> tuple[Any, list[int]]:
    """The real TrtEngine.infer/make_workers/_binding_for and the real Binding, with bind() done as the real one does
    it (inputs copied into the binding's buffers once) over a :class:`DoublingContext`; no GPU."""
    import contextlib
    import types

    import torch

    from trtperf.trt.runtime import Binding, TrtEngine

    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    binds: list[int] = []

    def bind(self: Any, inputs: Any, stream: Any) -> Binding:
        binds.append(1)
        device_inputs = {"x": torch.from_numpy(np.ascontiguousarray(inputs["x"])).clone()}
        binding = Binding(None, stream, device_inputs, {"y": torch.empty_like(device_inputs["x"])})
        binding.context = DoublingContext(binding)
        binding.enqueue()
        return binding

    engine: Any = object.__new__(TrtEngine)
    engine._torch = types.SimpleNamespace(cuda=types.SimpleNamespace(Stream=FakeStream, stream=torch.cuda.stream))
    engine.mode = types.SimpleNamespace()
    engine.bind = types.MethodType(bind, engine)
    engine.release = lambda binding: None
    engine._bindings = KeptBindings(fresh, engine.release)
    return engine, binds


def test_a_kept_binding_computes_the_inputs_of_each_call_not_those_it_was_bound_with(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A review found infer() returning the first call's outputs for a dict whose arrays changed since (the
    # trtperf_build fixture passes the same dict every time): a kept binding now copies the current inputs.
    engine, binds = _engine_with_fake_bindings(monkeypatch)
    inputs = {"x": np.array([1.0, 2.0], np.float32)}
    assert engine.infer(inputs)["y"].tolist() == [2.0, 4.0]
    inputs["x"] = np.array([10.0, 20.0], np.float32)  # the same dict, new arrays
    assert engine.infer(inputs)["y"].tolist() == [20.0, 40.0]
    inputs["x"][:] = [100.0, 200.0]  # changed in place
    first = engine.infer(inputs)
    assert first["y"].tolist() == [200.0, 400.0]
    assert engine.infer({"x": np.array([3.0, 4.0], np.float32)})["y"].tolist() == [6.0, 8.0]
    assert first["y"].tolist() == [200.0, 400.0]  # a copy, not a view the next launch overwrites
    assert len(binds) == 1  # one context for all of them
    assert engine.infer({"x": np.array([1.0, 2.0, 3.0], np.float32)})["y"].tolist() == [2.0, 4.0, 6.0]
    assert len(binds) == 2  # another shape: a new binding


def test_fresh_contexts_bind_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    engine, binds = _engine_with_fake_bindings(monkeypatch, fresh=True)
    for value in (1.0, 2.0):
        assert engine.infer({"x": np.array([value], np.float32)})["y"].tolist() == [2 * value]
    assert len(binds) == 2
