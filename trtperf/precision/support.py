"""Which precisions a GPU can run, as a pure function for GPU backends' ``precision_unsupported``.

Sources: NVIDIA TensorRT support matrix (hardware precision per compute capability: FP16 from
5.3, INT8 from 6.1, TF32 and BF16 from 8.0 (Ampere), FP8 from 8.9 (Ada, Hopper)); TensorRT-RTX
1.7.1 on an H100 through the harness in shared/gpu/trt-rtx (int8 Q/DQ convolutions build, but
context creation fails: RTX's int8 is weight-only GEMM).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from trtperf.onnx_io import QDQ_OPS, nested_op_types
from trtperf.precisions import TABLE

CONVOLUTIONS = frozenset({"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "DeformConv"})
"""ONNX op types that are convolutions."""

RTX_INT8_CONV = ("TensorRT-RTX has no int8 convolution kernels (its int8 is weight-only GEMM): int8 Q/DQ "
                 "convolutions build but the execution context cannot be created; use full TensorRT for int8 CNNs")

MIN_COMPUTE_CAPABILITY: dict[str, tuple[int, int]] = {p.name: p.min_compute_capability for p in TABLE.values()}


def gpu_precision_unsupported(precision: str, compute_capability: tuple[int, int] | None,
                              flavour: str = "tensorrt", has_conv: bool = False) -> str | None:
    """None when a GPU of ``compute_capability`` can run ``precision``, else why not.

    ``flavour`` "tensorrt_rtx" adds RTX's own limit (no int8 convolution) when ``has_conv``.
    ``compute_capability`` None (unknown device) is judged at build time, not here.
    """
    needed = MIN_COMPUTE_CAPABILITY.get(precision)
    if needed is None:
        return f"unknown precision {precision!r}"
    if compute_capability is not None and tuple(compute_capability) < needed:
        cc = ".".join(map(str, compute_capability))
        return (f"{precision} needs compute capability {needed[0]}.{needed[1]} or newer; this GPU has {cc}")
    if flavour == "tensorrt_rtx" and precision == "int8" and has_conv:
        return RTX_INT8_CONV
    return None


def flavour_graph_unsupported(precision: str, flavour: str, op_types: frozenset[str]) -> str | None:
    """Why ``flavour`` ("tensorrt", "tensorrt_rtx") cannot run ``precision`` for a graph of ``op_types``.

    TensorRT-RTX int8 with any convolution (:data:`CONVOLUTIONS`): seen on an H100 and an H200
    (RTX 1.7.1): "ixn_conv_cudnn_graph_t ... Myelin type has not implementation" at context creation.
    """
    if flavour == "tensorrt_rtx" and precision == "int8" and op_types & CONVOLUTIONS:
        found = ", ".join(sorted(op_types & CONVOLUTIONS))
        return f"{RTX_INT8_CONV} (the model has {found})"
    return None


QUANTIZED_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
"""The op types whose inputs trtperf's int8/fp8 variants quantize (where TensorRT places int8 kernels)."""
FLOAT_COMPUTE_OPS = frozenset({"LSTM", "GRU", "RNN", "Einsum"})
"""Op types that carry much of a model's compute but stay in float in those variants."""


ALREADY_QUANTIZED = frozenset({*QDQ_OPS, "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QLinearMatMul",
                               "QLinearConv"})
"""Op types of a graph that is quantized already (Q/DQ, or ONNX Runtime's dynamic and QOperator formats)."""


def quantization_coverage(precision: str, op_types: frozenset[str]) -> tuple[str | None, str | None]:
    """(why the case cannot run, a note) for ``precision``'s variant of a graph of ``op_types``: the op types
    of its main graph (:func:`main_graph_op_types`), since the quantizer leaves subgraphs and functions alone.

    int8/fp8 variants quantize only :data:`QUANTIZED_OPS`. A graph with none of them, and no Q/DQ of its
    own, would be timed and judged as "int8" while computing in fp32 (an LSTM model passed so, found by an
    attack run on held-out models): that is a reason to skip. A graph that has some of them and also
    :data:`FLOAT_COMPUTE_OPS` gets a note naming what stays in float.
    """
    if TABLE[precision].variant != "quantize" or op_types & ALREADY_QUANTIZED:
        return None, None
    quantized = ", ".join(QUANTIZED_OPS)
    left = ", ".join(sorted(op_types & FLOAT_COMPUTE_OPS))
    if not op_types & set(QUANTIZED_OPS):
        compute = f" (its compute is {left})" if left else ""
        return (f"{precision}: nothing in this model would be quantized: trtperf's {precision} variant quantizes "
                f"{quantized}, and the graph has none of them{compute}, so the case would time the fp32 model "
                f"under the name {precision}; declare precisions= without {precision}, or bring a Q/DQ ONNX file"), None
    if left:
        return None, (f"{precision} covers part of the model: {quantized} are quantized, its {left} stay in float")
    return None, None


@lru_cache(maxsize=64)
def _op_types(path: str, mtime_ns: int) -> tuple[frozenset[str], frozenset[str]]:
    """(op types of the main graph, op types anywhere: subgraphs and local functions too), one load."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    main = frozenset(node.op_type for node in model.graph.node)
    return main, main | nested_op_types(model)


def main_graph_op_types(path: Path) -> frozenset[str]:
    """The op types of the ONNX file's main graph only (not If/Loop/Scan bodies or local functions)."""
    return _op_types(str(path), path.stat().st_mtime_ns)[0]


def onnx_op_types(path: Path) -> frozenset[str]:
    """Every op type in the ONNX file's graph, its subgraphs and local functions (cached per file version)."""
    return _op_types(str(path), path.stat().st_mtime_ns)[1]
