"""Reading an ONNX graph: its inputs (names, element types, static and symbolic axes), its outputs,
and the quantized types its Q/DQ nodes carry. Pure functions of an ``onnx.ModelProto``; no trtperf
types, so the declaration (``trtperf.spec``) and every stage can use them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


@dataclass(frozen=True)
class GraphInput:
    """One graph input: name, ONNX element type, and per axis an int (static), a name, or None (unknown)."""

    name: str
    elem_type: int
    dims: tuple[int | str | None, ...]


def graph_inputs(model: onnx.ModelProto) -> list[GraphInput]:
    """The graph's real inputs (not initializers that old exporters also list as inputs)."""
    initializers = {i.name for i in model.graph.initializer}
    out = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims: list[int | str | None] = []
        for dim in tensor.shape.dim:
            if dim.HasField("dim_value") and dim.dim_value > 0:
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param") and dim.dim_param:
                dims.append(str(dim.dim_param))
            else:
                dims.append(None)
        out.append(GraphInput(value.name, int(tensor.elem_type), tuple(dims)))
    return out


def graph_outputs(model: onnx.ModelProto) -> list[str]:
    return [value.name for value in model.graph.output]


def qdq_element_types(model: Any) -> set[str]:
    """Quantized element types of a model's Q/DQ nodes, read from their zero points (empty: no Q/DQ).

    "int8", "uint8", "fp8" (E4M3), ...; "unknown" for a Q/DQ node without a zero-point initializer.
    """
    import onnx

    names = {onnx.TensorProto.FLOAT8E4M3FN: "fp8"}
    inits = {i.name: i for i in model.graph.initializer}
    types: set[str] = set()
    for node in model.graph.node:
        if node.op_type not in QDQ_OPS:
            continue
        zp = inits.get(node.input[2]) if len(node.input) > 2 else None
        if zp is None:
            types.add("unknown")
        else:
            types.add(names.get(zp.data_type) or onnx.helper.tensor_dtype_to_np_dtype(zp.data_type).name)
    return types


def carried_precisions(path: Path) -> tuple[str, ...]:
    """Precision a Q/DQ file runs at (("int8",) for int8 Q/DQ nodes), else ("fp32",); for defaults."""
    import onnx

    types = qdq_element_types(onnx.load(str(path), load_external_data=False))
    carried = tuple(sorted(types & {"int8", "fp8"}))
    return carried or ("fp32",)

