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


def nested_op_types(model: onnx.ModelProto) -> frozenset[str]:
    """The op types inside the main graph's subgraphs (If/Loop/Scan bodies, at any depth) and in its local
    functions: where passes that rewrite only the main graph do not reach."""
    found: set[str] = set()
    graphs = [*(g for node in model.graph.node for g in _subgraphs(node)), *model.functions]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            found.add(node.op_type)
            graphs.extend(_subgraphs(node))
    return frozenset(found)


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    return [g for attribute in node.attribute
            for g in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs)]


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



PASS_THROUGH_OPS = ("Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Expand")
"""Ops that carry index values unchanged (first input): an id input reaches its Gather through them."""


@dataclass(frozen=True)
class LookupTable:
    """A Gather that indexes a constant table (an embedding): which graph input its indices come from."""

    node: str
    table: str
    """The initializer gathered from (e.g. ``emb.weight``)."""
    rows: int
    """Its size along the gathered axis: the vocabulary size (valid indices ``0..rows-1``)."""
    source: str | None
    """The graph input whose values are the indices (through :data:`PASS_THROUGH_OPS`), or None."""


def lookup_tables(model: onnx.ModelProto) -> list[LookupTable]:
    """Every ``Gather`` of the top-level graph whose data is an initializer, with its size along the
    gathered axis and the graph input feeding its indices (``source``). Shapes come from the
    initializer's dims, so no weights are read."""
    initializers = {i.name: list(i.dims) for i in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    inputs = {value.name for value in model.graph.input}
    tables = []
    for node in model.graph.node:
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[0] not in initializers:
            continue
        dims = initializers[node.input[0]]
        axis = next((int(a.i) for a in node.attribute if a.name == "axis"), 0)
        if not dims or not -len(dims) <= axis < len(dims):
            continue
        name: str | None = node.input[1]
        while name is not None and name not in inputs:
            producer = producers.get(name)
            name = producer.input[0] if producer is not None and producer.op_type in PASS_THROUGH_OPS else None
        tables.append(LookupTable(node.name, node.input[0], int(dims[axis]), name))
    return tables
