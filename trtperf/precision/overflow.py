"""Pre-flight range report: which nodes of an fp16/bf16 variant leave the format's range.

ONNX Runtime's CPU provider has few fp16 kernels: it runs an fp16 variant's arithmetic in fp32
between inserted Casts (and drops Cast pairs), so an fp16 overflow (``300 * 300 = 90000`` where
fp16 stops at 65504) never shows in its outputs, and a GPU engine that does overflow would then
fail the faithful parity check as if it computed the wrong model. This report finds those
overflows on the CPU, before any engine is built.

How: the *probe* is the variant evaluated in fp32 arithmetic with the variant's own values (its
fp16/bf16 weights and constants widened exactly to fp32, every Cast to the low type made a Cast to
float32). For every tensor the variant types fp16/bf16, the probe adds reductions (max |x|, the
smallest non-zero |x|, and counts of values at or beyond the overflow threshold and of non-zero
values that flush to zero), so memory stays one activation at a time. ONNX Runtime (CPU, no graph
optimization) runs it on the case's own inputs.

Thresholds (IEEE 754 round-to-nearest; ``numpy.finfo``): fp16's largest finite value is 65504 and
values of magnitude >= 65520 (65504 + half an ulp of 32) round to inf; non-zero values below half
its smallest subnormal (2**-24 / 2) round to zero. bf16: largest finite 3.3895e38, values >=
3.3961e38 (2**128 - 2**119) round to inf; smallest subnormal 2**-133 (9.18e-41).

An overflow fails the case (the engine cannot compute the variant's model); flushing to zero is
reported as a note when at least :data:`FLUSH_NOTE_FRACTION` of a tensor's non-zero values would
flush (a few tiny products are common and harmless).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trtperf.text import plural


@dataclass(frozen=True)
class FormatRange:
    """Where a float format overflows and underflows (see the module docstring for the numbers)."""

    name: str
    max_finite: float
    overflow_at: float
    """Magnitudes at or above this round to inf."""
    flush_below: float
    """Non-zero magnitudes below this round to zero (half the smallest subnormal)."""


FORMATS: dict[str, FormatRange] = {
    "fp16": FormatRange("fp16", 65504.0, 65520.0, 2.0 ** -25),
    "bf16": FormatRange("bf16", float(np.float32(3.3895313892515355e38)), float(2.0 ** 128 - 2.0 ** 119),
                        2.0 ** -134),
}

_SUFFIXES = ("max", "min_nonzero", "over", "flush", "nonfinite", "nonzero")

FLUSH_NOTE_FRACTION = 0.01
"""A tensor is noted for flushing to zero when at least this fraction of its non-zero values would
(a few tiny products are normal; a tensor that largely vanishes is worth a look)."""


@dataclass(frozen=True)
class TensorRange:
    """The values one low-precision tensor of the variant took in the probe."""

    tensor: str
    node: str
    """The node of the fp32 ONNX to name: the producer (or, for a conversion Cast, the producer of its input)."""
    op_type: str
    max_abs: float
    min_nonzero_abs: float
    overflow: int
    """Elements at or beyond the format's overflow threshold (they would become inf)."""
    flushed: int
    """Non-zero elements that would flush to zero."""
    nonfinite: int
    """Elements already inf/NaN in fp32 arithmetic (not the format's doing)."""
    nonzero: int = 0
    """Finite non-zero elements."""
    cast_to: tuple[str, ...] = ()
    """For a conversion Cast: the nodes that read the narrowed value (keep those in fp32 to fix it)."""

    def to_json(self) -> dict[str, Any]:
        return {"tensor": self.tensor, "node": self.node, "op_type": self.op_type, "max_abs": self.max_abs,
                "min_nonzero_abs": self.min_nonzero_abs, "overflow": self.overflow, "flushed": self.flushed,
                "nonfinite": self.nonfinite, "nonzero": self.nonzero, "cast_to": list(self.cast_to)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TensorRange:
        return cls(**{**data, "cast_to": tuple(data.get("cast_to", ()))})


@dataclass
class OverflowReport:
    """Tensors of a variant that leave the format's range; ``passed`` when none overflows."""

    precision: str
    checked: int
    overflows: list[TensorRange] = field(default_factory=list)
    flushes: list[TensorRange] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.overflows

    def fix(self) -> list[str]:
        """The ``keep_fp32`` entries that keep the overflowing values in float32."""
        names: list[str] = []
        for item in self.overflows:
            for name in (item.cast_to or (item.node,)):
                if name not in names:
                    names.append(name)
        return names

    def describe(self, limit: int = 8) -> str:
        fmt = FORMATS[self.precision]
        lines = []
        for item in self.overflows[:limit]:
            where = (f"output {item.tensor!r} of node {item.node!r} ({item.op_type}), narrowed to {self.precision} "
                     f"for {list(item.cast_to)}" if item.cast_to else
                     f"node {item.node!r} ({item.op_type}) output {item.tensor!r}")
            lines.append(f"  {where}: max |x| = {item.max_abs:.4g} > {fmt.max_finite:.6g}; "
                         f"{plural(item.overflow, 'element')} would be inf")
        if len(self.overflows) > limit:
            lines.append(f"  ... and {plural(len(self.overflows) - limit, 'more tensor')}")
        return "\n".join(lines)

    def flush_note(self) -> str | None:
        if not self.flushes:
            return None
        worst = max(self.flushes, key=lambda t: t.flushed)
        tensors = f"{plural(len(self.flushes), 'tensor')} {'has' if len(self.flushes) == 1 else 'have'}"
        return (f"{self.precision} range: {tensors} >= {FLUSH_NOTE_FRACTION:.0%} of their "
                f"non-zero values flushing to zero (most: {worst.flushed} of {worst.nonzero} in node {worst.node!r} "
                f"({worst.op_type}), smallest |x| "
                f"{worst.min_nonzero_abs:.3g}); keep_fp32=[{worst.node!r}] keeps them if they matter")

    def to_json(self) -> dict[str, Any]:
        return {"precision": self.precision, "checked": self.checked,
                "overflows": [t.to_json() for t in self.overflows], "flushes": [t.to_json() for t in self.flushes]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OverflowReport:
        return cls(precision=data["precision"], checked=int(data["checked"]),
                   overflows=[TensorRange.from_json(t) for t in data["overflows"]],
                   flushes=[TensorRange.from_json(t) for t in data["flushes"]])


def _widen(tensor: Any, low: int) -> Any:
    """An fp16/bf16 TensorProto as the float32 TensorProto of the same values (exact)."""
    from onnx import numpy_helper

    if tensor.data_type != low:
        return tensor
    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name)


def probe_model(variant: Any, low: int, original_nodes: Collection[str]) -> tuple[Any, dict[str, dict[str, Any]]]:
    """The probe of ``variant`` (see the module docstring) and, per probed tensor, whom to name.

    ``low``: TensorProto.FLOAT16 or BFLOAT16. ``original_nodes``: node names of the fp32 ONNX (a
    node not among them is a conversion Cast, named by its input's producer and its readers).
    """
    import onnx
    from onnx import helper

    FLOAT = onnx.TensorProto.FLOAT
    inferred = onnx.shape_inference.infer_shapes(variant)
    types = {v.name: v.type.tensor_type.elem_type
             for v in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)}
    probe = onnx.ModelProto()
    probe.CopyFrom(variant)
    graph = probe.graph
    producer = {o: n for n in graph.node for o in n.output}
    readers: dict[str, list[str]] = {}
    for n in graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n.name)
    for index, init in enumerate(graph.initializer):
        graph.initializer[index].CopyFrom(_widen(init, low))
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                attr.t.CopyFrom(_widen(attr.t, low))
            elif attr.name in ("to", "dtype") and attr.type == onnx.AttributeProto.INT and attr.i == low:
                attr.i = FLOAT
    for info in (*graph.value_info, *graph.input, *graph.output):
        if info.type.tensor_type.elem_type == low:
            info.type.tensor_type.elem_type = FLOAT
    names: dict[str, dict[str, Any]] = {}
    extra_nodes = []
    fmt_over, fmt_flush = _thresholds(low)
    for tensor in [o for n in variant.graph.node for o in n.output if types.get(o) == low]:
        node = producer[tensor]
        if node.name in original_nodes or node.op_type != "Cast":
            who = {"node": node.name, "op_type": node.op_type, "cast_to": ()}
        else:  # a conversion Cast: name the fp32 node whose value it narrows, and who reads it narrowed
            source = producer.get(node.input[0])
            who = {"node": source.name if source is not None else node.input[0],
                   "op_type": source.op_type if source is not None else "graph input",
                   "cast_to": tuple(readers.get(tensor, ()))}
        key = f"p{len(names)}"
        names[key] = {"tensor": tensor, **who}
        extra_nodes += _stats_nodes(tensor, key, fmt_over, fmt_flush)
    graph.node.extend(extra_nodes)
    del graph.output[:]
    for key in names:
        graph.output.extend([helper.make_tensor_value_info(f"{key}_{s}", _STAT_TYPES[s], []) for s in _SUFFIXES])
    # Stats ops need opset >= 13 forms without axes; every supported exporter opset is newer.
    return probe, names


_STAT_TYPES = {"max": 1, "min_nonzero": 1, "over": 7, "flush": 7, "nonfinite": 7, "nonzero": 7}


def _thresholds(low: int) -> tuple[float, float]:
    fmt = FORMATS["fp16" if low == 10 else "bf16"]
    return fmt.overflow_at, fmt.flush_below


def _stats_nodes(tensor: str, key: str, overflow_at: float, flush_below: float) -> list[Any]:
    """Nodes reducing ``tensor`` to the five statistics (scalars named ``{key}_{stat}``)."""
    from onnx import TensorProto, helper

    def const(name: str, value: float) -> Any:
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.FLOAT, [], [value]))

    def count(mask: str, out: str) -> list[Any]:
        return [helper.make_node("Cast", [mask], [f"{out}_i"], to=TensorProto.INT64),
                helper.make_node("ReduceSum", [f"{out}_i"], [out], keepdims=0)]

    k = f"{key}__"
    return [
        helper.make_node("Abs", [tensor], [f"{k}abs"]),
        helper.make_node("IsNaN", [f"{k}abs"], [f"{k}nan"]),
        helper.make_node("IsInf", [f"{k}abs"], [f"{k}inf"]),
        helper.make_node("Or", [f"{k}nan", f"{k}inf"], [f"{k}bad"]),
        *count(f"{k}bad", f"{key}_nonfinite"),
        helper.make_node("Not", [f"{k}bad"], [f"{k}good"]),
        const(f"{k}zero", 0.0), const(f"{k}over_at", overflow_at), const(f"{k}flush_at", flush_below),
        const(f"{k}big", float(np.finfo(np.float32).max)),
        helper.make_node("Where", [f"{k}good", f"{k}abs", f"{k}zero"], [f"{k}finite"]),
        helper.make_node("ReduceMax", [f"{k}finite"], [f"{key}_max"], keepdims=0),
        helper.make_node("GreaterOrEqual", [f"{k}finite", f"{k}over_at"], [f"{k}is_over"]),
        *count(f"{k}is_over", f"{key}_over"),
        helper.make_node("Greater", [f"{k}finite", f"{k}zero"], [f"{k}nonzero"]),
        *count(f"{k}nonzero", f"{key}_nonzero"),
        helper.make_node("Less", [f"{k}finite", f"{k}flush_at"], [f"{k}tiny"]),
        helper.make_node("And", [f"{k}nonzero", f"{k}tiny"], [f"{k}is_flush"]),
        *count(f"{k}is_flush", f"{key}_flush"),
        helper.make_node("Where", [f"{k}nonzero", f"{k}finite", f"{k}big"], [f"{k}nz"]),
        helper.make_node("ReduceMin", [f"{k}nz"], [f"{key}_min_nonzero"], keepdims=0),
    ]


def overflow_report(variant_path: Path, fp32_path: Path, precision: str,
                    inputs: Mapping[str, np.ndarray]) -> OverflowReport:
    """The range report of the ``precision`` ("fp16" or "bf16") variant at ``variant_path`` on ``inputs``.

    ``fp32_path``: the fp32 ONNX it was made from (its node names are the ones a user can keep in
    fp32). Runs ONNX Runtime on the CPU; raises what ONNX Runtime raises when it cannot run the probe.
    """
    import onnx
    import onnxruntime

    low = {"fp16": onnx.TensorProto.FLOAT16, "bf16": onnx.TensorProto.BFLOAT16}[precision]
    variant = onnx.load(str(variant_path))
    original = {n.name for n in onnx.load(str(fp32_path), load_external_data=False).graph.node}
    probe, names = probe_model(variant, low, original)
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    wanted = [o.name for o in probe.graph.output]
    values = dict(zip(wanted, session.run(wanted, dict(inputs)), strict=True))
    report = OverflowReport(precision=precision, checked=len(names))
    for key, who in names.items():
        item = TensorRange(
            tensor=who["tensor"], node=who["node"], op_type=who["op_type"], cast_to=tuple(who["cast_to"]),
            max_abs=float(values[f"{key}_max"]), min_nonzero_abs=float(values[f"{key}_min_nonzero"]),
            overflow=int(values[f"{key}_over"]), flushed=int(values[f"{key}_flush"]),
            nonfinite=int(values[f"{key}_nonfinite"]), nonzero=int(values[f"{key}_nonzero"]),
        )
        if item.overflow:
            report.overflows.append(item)
        elif item.flushed and item.flushed >= FLUSH_NOTE_FRACTION * item.nonzero:
            report.flushes.append(item)
    return report
