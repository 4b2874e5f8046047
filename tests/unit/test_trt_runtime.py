"""Runtime helpers that need no GPU (the runtime itself ran on an H100: docs/notes/issue-3.md)."""

from __future__ import annotations

from types import ModuleType

import pytest

from trtperf.errors import BuildError
from trtperf.trt.flavour import describe_module
from trtperf.trt.runtime import TORCH_DTYPES, dims, int8_hint, torch_dtype_name

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
