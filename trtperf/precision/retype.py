"""Repair the element types of an fp16/bf16 variant so that every node's inputs agree.

onnxconverter-common's ``convert_float_to_float16`` decides each tensor's type from its own
bookkeeping, not from the ops, and gets some patterns wrong. Found on real exports
(``tests/unit/test_precision_repair.py`` has each one):

- ``Cast(to=FLOAT)`` from an integer or bool tensor (``mask.to(torch.float32)``): the node is
  kept, still producing float32, but its output is typed float16 and its consumers are converted
  to float16, so ``Mul(float16, float32)`` follows.
- An initializer shared by a kept-fp32 node and a converted node (the dynamo exporter merges
  equal initializers, for example the zero biases of a randomly initialized transformer): it stays
  float32 and feeds a float16 ``Add``.
- Ops whose schema has no float16/bfloat16 type for an input (``Range``, ``Resize``'s ``scales``,
  bfloat16 ops below opset 22).

Rather than one rule per pattern, :func:`repair_types` re-derives every tensor's element type
from the ONNX op schemas in graph order (the types the strict checker will infer) and inserts a
Cast wherever a node's float inputs disagree or a type is not allowed by its schema: to float32
for kept-fp32 nodes, to the low precision otherwise. The low-precision variant's declared value
types are then rewritten to the derived ones, so ``onnx.checker.check_model(full_check=True)``
sees a consistent graph. Nodes with subgraphs (If, Loop, Scan) are left as they are.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

FLOAT_TYPES = frozenset({1, 10, 16})
"""TensorProto FLOAT, FLOAT16, BFLOAT16."""


@dataclass
class RepairNotes:
    """What :func:`repair_types` changed: ``casts`` inserted as (node name, input, from, to)."""

    casts: list[tuple[str, str, str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"inserted_casts": len(self.casts),
                "examples": [f"{n}: {i} {a}->{b}" for n, i, a, b in self.casts[:10]]}


def _type_name(elem: int) -> str:
    import onnx

    return str(onnx.TensorProto.DataType.Name(elem)).lower()  # type: ignore[attr-defined]


def _allowed(schema: Any, type_str: str) -> set[int] | None:
    """Element types a formal parameter allows (None: not a plain tensor type we can read)."""
    import onnx

    strings = [type_str]
    for constraint in schema.type_constraints:
        if constraint.type_param_str == type_str:
            strings = list(constraint.allowed_type_strs)
    out: set[int] = set()
    for s in strings:
        if s.startswith("tensor(") and s.endswith(")"):
            name = s[len("tensor("):-1].upper()  # tensor(float16) -> FLOAT16, the TensorProto name
            try:
                out.add(int(onnx.TensorProto.DataType.Value(name)))  # type: ignore[attr-defined]
            except ValueError:
                continue
    return out or None


def _formal(params: Any, index: int) -> Any | None:
    """The formal parameter of input/output ``index`` (the last one when it is variadic)."""
    if index < len(params):
        return params[index]
    if params and params[-1].option == params[-1].option.Variadic:
        return params[-1]
    return None


def _schema(node: Any, opsets: dict[str, int]) -> Any | None:
    import onnx

    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    version = opsets.get(domain, opsets.get("ai.onnx", 0) if domain == "" else 0)
    try:
        return onnx.defs.get_schema(node.op_type, version, domain)
    except Exception:  # custom domain or unknown op
        return None


def _infer_outputs(schema: Any, node: Any, types: dict[str, int], shapes: dict[str, Any],
                   opset_imports: Any) -> dict[str, int]:
    """Output element types of ``node`` by ONNX's own inference, given the input types."""
    import onnx

    input_types = {}
    for name in node.input:
        if name and name in types:
            shape = shapes.get(name)
            input_types[name] = onnx.helper.make_tensor_type_proto(types[name], shape)
    try:
        inferred = onnx.shape_inference.infer_node_outputs(schema, node, input_types,
                                                           opset_imports=list(opset_imports))
    except Exception:
        return {}
    return {name: t.tensor_type.elem_type for name, t in inferred.items()
            if t.HasField("tensor_type") and t.tensor_type.elem_type}


def _shapes(model: Any) -> dict[str, Any]:
    """Declared shapes (list of int/str/None per axis) of the graph's typed values."""
    out: dict[str, Any] = {}
    for info in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        tensor = info.type.tensor_type
        if tensor.HasField("shape"):
            out[info.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                              for d in tensor.shape.dim]
    for init in model.graph.initializer:
        out[init.name] = list(init.dims)
    return out


def repair_types(model: Any, low: int, keep_fp32: Collection[str]) -> RepairNotes:
    """Make ``model`` (an fp16/bf16 variant, changed in place) type-consistent; returns what changed.

    ``low``: TensorProto.FLOAT16 or BFLOAT16. ``keep_fp32``: names of the nodes the conversion kept
    in float32 (a disagreement at such a node is resolved to float32, elsewhere to ``low``).
    """
    import onnx
    from onnx import helper

    graph = model.graph
    opsets = {o.domain or "": int(o.version) for o in model.opset_import}
    shapes = _shapes(model)
    declared = {v.name: v.type.tensor_type.elem_type for v in (*graph.value_info, *graph.output)}
    types: dict[str, int] = {v.name: v.type.tensor_type.elem_type for v in graph.input}
    types.update({i.name: i.data_type for i in graph.initializer})
    notes = RepairNotes()
    new_nodes: list[Any] = []
    made: dict[tuple[str, int], str] = {}

    def cast_to(name: str, to: int, at: str) -> str:
        key = (name, to)
        if key not in made:
            out = f"{name}__trtperf_as_{_type_name(to)}"
            new_nodes.append(helper.make_node("Cast", [name], [out], name=f"{out}__cast", to=to))
            types[out] = to
            if name in shapes:
                shapes[out] = shapes[name]
            made[key] = out
            notes.casts.append((at, name, _type_name(types[name]), _type_name(to)))
        return made[key]

    for node in graph.node:
        schema = _schema(node, opsets)
        has_subgraph = any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)
        if schema is None or has_subgraph:
            new_nodes.append(node)
            for out in node.output:
                if out in declared:
                    types[out] = declared[out]
            continue
        target_of_param: dict[str, int] = {}
        by_param: dict[str, list[int]] = {}
        for index, name in enumerate(node.input):
            formal = _formal(schema.inputs, index)
            if name and formal is not None and types.get(name) in FLOAT_TYPES:
                by_param.setdefault(formal.type_str, []).append(index)
        for param, indices in by_param.items():
            allowed = _allowed(schema, param) or set()
            seen = {types[node.input[i]] for i in indices}
            if len(seen) == 1 and seen <= allowed:
                target_of_param[param] = seen.pop()
                continue
            prefer = onnx.TensorProto.FLOAT if node.name in keep_fp32 else low
            target = prefer if prefer in allowed else next(
                (t for t in (onnx.TensorProto.FLOAT, low, *sorted(seen)) if t in allowed), None)
            if target is None:
                continue  # nothing we can cast to: leave it to the checker's message
            target_of_param[param] = target
            for i in indices:
                if types[node.input[i]] != target:
                    node.input[i] = cast_to(node.input[i], target, node.name)
        new_nodes.append(node)
        # Output types: bound by a type parameter the inputs fix, else ONNX inference (Cast, ConstantOfShape...).
        inferred: dict[str, int] | None = None
        for index, name in enumerate(node.output):
            if not name:
                continue
            formal = _formal(schema.outputs, index)
            elem = target_of_param.get(formal.type_str) if formal is not None else None
            if elem is None and formal is not None:
                bound = [types[node.input[i]] for i, _ in enumerate(node.input)
                         if node.input[i] and (f := _formal(schema.inputs, i)) is not None
                         and f.type_str == formal.type_str and node.input[i] in types]
                elem = bound[0] if bound else None
            if elem is None:
                if inferred is None:
                    inferred = _infer_outputs(schema, node, types, shapes, model.opset_import)
                elem = inferred.get(name) or declared.get(name)
            if elem:
                types[name] = elem
    # Graph outputs keep their declared type: cast where the graph computes another one.
    for output in graph.output:
        want = output.type.tensor_type.elem_type
        have = types.get(output.name)
        if have is None or have == want or want == 0:
            continue
        inner = f"{output.name}__trtperf_{_type_name(have)}"
        for n in new_nodes:
            n.output[:] = [inner if o == output.name else o for o in n.output]
            n.input[:] = [inner if i == output.name else i for i in n.input]
        types[inner] = have
        new_nodes.append(helper.make_node("Cast", [inner], [output.name], name=f"{inner}__cast", to=want))
        notes.casts.append(("graph output", output.name, _type_name(have), _type_name(want)))
    del graph.node[:]
    graph.node.extend(new_nodes)
    for info in graph.value_info:
        elem = types.get(info.name)
        if elem and info.type.tensor_type.elem_type != elem:
            info.type.tensor_type.elem_type = elem
    return notes
