"""fp16 and bf16 variants: weights and activations in the low precision, I/O and sensitive ops in fp32.

fp16 uses onnxconverter-common's ``convert_float_to_float16`` (maintained by the ONNX project,
89 KB, no torch), with ``keep_io_types=True`` and :data:`FP32_OPS` blocked. It inserts the Cast
nodes at every fp32/fp16 boundary, which is exactly what a strongly typed TensorRT network needs.

bf16 has no maintained converter without torch (ModelOpt's AutoCast imports torch and pins
onnxruntime-gpu), so the bf16 variant retypes the fp16 graph: same blocked nodes and casts,
FLOAT16 -> BFLOAT16 everywhere, initializers re-rounded from their fp32 originals (bf16 has fp32's
range, so nothing is clamped). Ops whose ONNX schema has no bfloat16 at the model's opset (Conv,
MaxPool before opset 22) make the variant move to opset 22, where they have one.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

FP32_OPS = (
    # Reductions over many elements: fp16 accumulation loses digits, and mean/variance of
    # activations overflow fp16's 65504 range. TensorRT's own mixed-precision advice keeps these fp32.
    "LayerNormalization", "GroupNormalization", "InstanceNormalization", "BatchNormalization",
    "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp",
    # exp() overflows fp16 above 11.09; softmax normalizes a sum of exps.
    "Softmax", "LogSoftmax", "Exp", "Pow", "Log",
    # Scales and zero points of an already quantized model stay as the model has them.
    "QuantizeLinear", "DequantizeLinear",
)
"""Op types kept in fp32 in fp16/bf16 variants, and why."""

BF16_OPSET = 22
"""First opset whose Conv/MaxPool/AveragePool schemas allow bfloat16."""


def _onnx() -> Any:
    import onnx

    return onnx


def _block_list(extra: frozenset[str] = frozenset()) -> list[str]:
    from onnxconverter_common.float16 import DEFAULT_OP_BLOCK_LIST

    return sorted(set(DEFAULT_OP_BLOCK_LIST) | set(FP32_OPS) | extra)


def _name_nodes(model: Any) -> None:
    """Give unnamed nodes unique names: the converter names its Cast outputs after nodes, and two
    unnamed consumers of one input would produce the same Cast output twice (invalid SSA)."""
    taken = {n.name for n in model.graph.node}
    for index, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{index}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)


def _kept_nodes(model: Any, ops: list[str], nodes: frozenset[str]) -> set[str]:
    return {n.name for n in model.graph.node if n.op_type in ops or n.name in nodes}


def to_fp16(model: Any, extra_fp32_ops: frozenset[str] = frozenset(), fp32_nodes: frozenset[str] = frozenset(),
            low: int | None = None) -> tuple[Any, dict[str, Any]]:
    """An fp16 copy of ``model`` (onnx.ModelProto) with fp32 I/O; returns it and notes for the cache meta.

    ``extra_fp32_ops`` (op types) and ``fp32_nodes`` (node names) stay float32 besides :data:`FP32_OPS`.
    The converter's output is made type-consistent by :func:`trtperf.precision.retype.repair_types`
    (``low``: the element type it repairs towards; default FLOAT16; :func:`to_bf16` repairs after retyping).
    """
    from onnxconverter_common.float16 import convert_float_to_float16

    from trtperf.precision.retype import repair_types

    blocked = _block_list(extra_fp32_ops)
    _name_nodes(model)
    clamped = clamped_constants(model) if low is None else []  # bf16 re-rounds from the fp32 originals
    kept = _kept_nodes(model, blocked, fp32_nodes)
    with warnings.catch_warnings(record=True) as caught:
        # The converter warns once per weight it clamps into fp16's range; count them instead.
        warnings.simplefilter("always")
        converted = convert_float_to_float16(
            model,
            min_positive_val=float(np.finfo(np.float16).smallest_subnormal),
            max_finite_val=float(np.finfo(np.float16).max),
            keep_io_types=True,
            check_fp16_ready=False,
            op_block_list=blocked,
            node_block_list=sorted(fp32_nodes),
        )
    notes: dict[str, Any] = {"tool": "onnxconverter-common convert_float_to_float16, types repaired by trtperf",
                             "fp32_ops": sorted(set(FP32_OPS) | extra_fp32_ops),
                             "fp32_nodes": sorted(fp32_nodes),
                             "clamped_weight_warnings": len(caught), "kept_fp32": sorted(kept),
                             "clamped": clamped[:10], "clamped_count": len(clamped)}
    if low is None:
        notes["repair"] = repair_types(converted, _onnx().TensorProto.FLOAT16, kept).to_json()
    return converted, notes


def _lacks_bf16(op_type: str, opset: int) -> bool:
    onnx = _onnx()
    try:
        schema = onnx.defs.get_schema(op_type, opset)
    except Exception:  # custom domain / unknown op: leave it to the checker
        return False
    float_constraints = [c for c in schema.type_constraints if "tensor(float)" in c.allowed_type_strs]
    return any("tensor(bfloat16)" not in c.allowed_type_strs for c in float_constraints)


def _default_opset(model: Any) -> int:
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def bf16_needs_opset(model: Any) -> int | None:
    """The opset to move ``model`` to so its float ops accept bfloat16 (None: it already does)."""
    opset = _default_opset(model)
    if opset >= BF16_OPSET:
        return None
    blocked = set(_block_list())
    needs = {n.op_type for n in model.graph.node if n.op_type not in blocked and _lacks_bf16(n.op_type, opset)}
    return BF16_OPSET if needs else None


def _bf16_tensor(name: str, values: np.ndarray) -> Any:
    import ml_dtypes

    onnx = _onnx()
    # Saturate finite values at bf16's largest finite value: float32's extremes (float32's minimum in an
    # attention mask) would round to inf, and an inf mask turns a fully masked softmax row into NaN.
    top = 3.3895313892515355e38  # ml_dtypes.finfo(bfloat16).max: (2 - 2**-7) * 2**127
    wide = values.astype(np.float32)
    wide = np.where(np.isfinite(wide), np.clip(wide, -top, top), wide)
    raw = np.ascontiguousarray(wide.astype(ml_dtypes.bfloat16)).view(np.uint16).tobytes()
    return onnx.helper.make_tensor(name, onnx.TensorProto.BFLOAT16, values.shape, raw, raw=True)


def clamped_constants(model: Any, limit: float = float(np.finfo(np.float16).max)) -> list[dict[str, Any]]:
    """float32 initializers and Constant values of ``model`` with finite magnitudes above ``limit``.

    The fp16 conversion clamps them to +-``limit`` (float32's minimum in an attention mask becomes
    -65504), so the variant computes with other values: [{"name", "min", "max"}], initializers first.
    """
    from onnx import numpy_helper

    FLOAT = _onnx().TensorProto.FLOAT
    found = [(i.name, numpy_helper.to_array(i)) for i in model.graph.initializer if i.data_type == FLOAT]
    found += [(n.output[0], numpy_helper.to_array(a.t)) for n in model.graph.node if n.op_type == "Constant"
              for a in n.attribute if a.name == "value" and a.t.data_type == FLOAT]
    out = []
    for name, values in found:
        finite = values[np.isfinite(values)]
        if finite.size and float(np.max(np.abs(finite))) > limit:
            out.append({"name": name, "min": float(finite.min()), "max": float(finite.max())})
    return out


def _constant_originals(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {n.output[0]: numpy_helper.to_array(a.t) for n in model.graph.node if n.op_type == "Constant"
            for a in n.attribute if a.name == "value" and a.t.data_type == _onnx().TensorProto.FLOAT}


def retype_fp16_to_bf16(fp16: Any, fp32_originals: dict[str, np.ndarray],
                        constant_originals: dict[str, np.ndarray] | None = None) -> Any:
    """Turn an fp16 variant into a bf16 one in place: casts, value types, initializers, constants.

    ``fp32_originals``: float32 initializers by name; ``constant_originals``: float32 Constant values by
    output name (both re-rounded to bf16 from float32, not from the fp16 values the converter clamped).
    """
    onnx = _onnx()
    from onnx import numpy_helper

    FLOAT16, BFLOAT16 = onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16
    for index, init in enumerate(fp16.graph.initializer):
        if init.data_type == FLOAT16:
            source = fp32_originals.get(init.name)
            values = source if source is not None else numpy_helper.to_array(init)
            fp16.graph.initializer[index].CopyFrom(_bf16_tensor(init.name, values))
    for node in fp16.graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == FLOAT16:
                attr.i = BFLOAT16
            elif attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == FLOAT16:
                original = (constant_originals or {}).get(node.output[0]) if node.op_type == "Constant" else None
                values = original if original is not None else numpy_helper.to_array(attr.t)
                attr.t.CopyFrom(_bf16_tensor(attr.t.name, values))
    for info in (*fp16.graph.value_info, *fp16.graph.input, *fp16.graph.output):
        if info.type.tensor_type.elem_type == FLOAT16:
            info.type.tensor_type.elem_type = BFLOAT16
    return fp16


def to_bf16(model: Any, extra_fp32_ops: frozenset[str] = frozenset(),
            fp32_nodes: frozenset[str] = frozenset()) -> tuple[Any, dict[str, Any]]:
    """A bf16 copy of ``model`` with fp32 I/O and :data:`FP32_OPS` (and the extra ops/nodes) kept fp32."""
    from onnx import numpy_helper, version_converter

    from trtperf.precision.retype import repair_types

    notes: dict[str, Any] = {}
    target = bf16_needs_opset(model)
    if target is not None:
        notes["opset"] = f"{_default_opset(model)} -> {target} (bfloat16 Conv/MaxPool)"
        model = version_converter.convert_version(model, target)
    opset = _default_opset(model)
    # Whatever still has no bfloat16 kernel type at this opset stays fp32 rather than failing the checker.
    no_bf16 = frozenset(n.op_type for n in model.graph.node if _lacks_bf16(n.op_type, opset))
    originals = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer
                 if i.data_type == _onnx().TensorProto.FLOAT}
    fp16, fp16_notes = to_fp16(model, no_bf16 | extra_fp32_ops, fp32_nodes, low=_onnx().TensorProto.BFLOAT16)
    bf16 = retype_fp16_to_bf16(fp16, originals, _constant_originals(model))
    notes.update({"tool": "onnxconverter-common fp16 graph retyped to bfloat16 and types repaired by trtperf",
                  "fp32_ops": fp16_notes["fp32_ops"], "fp32_nodes": fp16_notes["fp32_nodes"],
                  "repair": repair_types(bf16, _onnx().TensorProto.BFLOAT16, fp16_notes["kept_fp32"]).to_json()})
    return bf16, notes
