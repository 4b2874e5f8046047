"""fp16/bf16 variants are valid ONNX (strict checker) for the graph patterns that broke the converter.

Each pattern here made onnxconverter-common's ``convert_float_to_float16`` emit a graph that
``onnx.checker.check_model(full_check=True)`` rejects (and ONNX Runtime refuses to load); the
repair pass (:mod:`trtperf.precision.retype`) makes it valid. The right values: the strict check
passes, ONNX Runtime runs the fp16 variant, and its outputs stay within fp16's error of fp32.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import trtperf
from trtperf import InputSpec, ModelSpec, TrtperfUsageError
from trtperf.backends.onnxruntime import reference_session, run_session
from trtperf.cache import ArtifactCache
from trtperf.errors import BuildError
from trtperf.export import export_cached
from trtperf.inputs import make_inputs
from trtperf.precision import cast, precision_variant

pytest.importorskip("onnxconverter_common")

X = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 4])


def _f32(name: str, value: Any) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, np.float32), name)


def _graph(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], out_shape: list[Any] | None = None,
           opset: int = 18) -> onnx.ModelProto:
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape or ["b", 4])
    model = helper.make_model(helper.make_graph(nodes, "g", [X], [out], inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model, full_check=True)
    return model


def _int_to_float_cast() -> onnx.ModelProto:
    """x * float(int(x > 0)): Cast(to=FLOAT) of an integer, the converter types its output fp16."""
    return _graph([
        helper.make_node("Greater", ["x", "zero"], ["pos"], name="gt"),
        helper.make_node("Cast", ["pos"], ["pos_i"], name="to_int", to=TensorProto.INT64),
        helper.make_node("Cast", ["pos_i"], ["pos_f"], name="to_float", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "pos_f"], ["y"], name="mul"),
    ], [_f32("zero", 0.0)])


def _range_from_shape() -> onnx.ModelProto:
    """x + arange(float(x.shape[1])): Range's schema has no float16, and its limit is an int-to-float Cast."""
    return _graph([
        helper.make_node("Shape", ["x"], ["s"], name="shape", start=1),
        helper.make_node("Squeeze", ["s"], ["n"], name="squeeze"),
        helper.make_node("Cast", ["n"], ["nf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Range", ["start", "nf", "step"], ["r"], name="range"),
        helper.make_node("Add", ["x", "r"], ["y"], name="add"),
    ], [_f32("start", 0.0), _f32("step", 1.0)])


def _eye_like() -> onnx.ModelProto:
    """(x @ W) @ EyeLike(W, dtype=FLOAT): an op whose output type comes from an attribute."""
    return _graph([
        helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
        helper.make_node("EyeLike", ["W"], ["e"], name="eye", dtype=TensorProto.FLOAT),
        helper.make_node("MatMul", ["m", "e"], ["y"], name="mm2"),
    ], [_f32("W", np.arange(16).reshape(4, 4) / 16)])


def _shared_initializer() -> onnx.ModelProto:
    """One zero initializer feeding a kept-fp32 LayerNormalization and a converted Add (the dynamo
    exporter merges equal initializers: every zero bias of a randomly initialized transformer)."""
    return _graph([
        helper.make_node("LayerNormalization", ["x", "g", "zb"], ["ln"], name="ln", axis=-1),
        helper.make_node("MatMul", ["ln", "W"], ["m"], name="mm"),
        helper.make_node("Add", ["m", "zb"], ["y"], name="add"),
    ], [_f32("g", np.ones(4)), _f32("zb", np.zeros(4)), _f32("W", np.eye(4))])


def _unnamed_nodes() -> onnx.ModelProto:
    """Two unnamed nodes reading the input: the converter names both Casts 'x_cast_to_' (not SSA)."""
    return _graph([
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["c"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
        helper.make_node("Mul", ["x", "c"], ["y"]),
    ], [])


PATTERNS: dict[str, Callable[[], onnx.ModelProto]] = {
    "int_to_float_cast": _int_to_float_cast,
    "range_from_shape": _range_from_shape,
    "eye_like": _eye_like,
    "shared_initializer": _shared_initializer,
    "unnamed_nodes": _unnamed_nodes,
}


def _run(model: onnx.ModelProto, path: Path, x: np.ndarray) -> np.ndarray:
    onnx.save(model, str(path))
    return np.asarray(reference_session(path).run(["y"], {"x": x})[0])


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
@pytest.mark.parametrize("convert", [cast.to_fp16, cast.to_bf16], ids=["fp16", "bf16"])
def test_converted_pattern_passes_the_strict_checker(pattern: str, convert: Any, tmp_path: Path) -> None:
    variant, notes = convert(PATTERNS[pattern]())
    onnx.checker.check_model(variant, full_check=True)
    assert notes["repair"]["inserted_casts"] >= 0
    if convert is cast.to_fp16:  # ONNX Runtime's CPU has no bf16 kernels; fp16 it runs
        x = np.random.default_rng(0).uniform(-2, 2, (3, 4)).astype(np.float32)
        want, got = _run(PATTERNS[pattern](), tmp_path / "fp32.onnx", x), _run(variant, tmp_path / "v.onnx", x)
        np.testing.assert_allclose(got, want, atol=1e-2, rtol=1e-2)


def test_the_int_to_float_cast_stays_float32_and_its_consumer_gets_a_cast() -> None:
    variant, notes = cast.to_fp16(_int_to_float_cast())
    nodes = {n.name: n for n in variant.graph.node}
    to = next(a for a in nodes["to_float"].attribute if a.name == "to")
    assert helper.get_attribute_value(to) == TensorProto.FLOAT
    assert notes["repair"]["inserted_casts"] == 1
    assert "pos_f float->float16" in notes["repair"]["examples"][0]
    assert nodes["mul"].input[1] == "pos_f__trtperf_as_float16"


# ---- exported torch models -----------------------------------------------------------------


class _MaskedMean(nn.Module):
    """The patterns users write around masks: int/bool masks cast to float, a float32-min additive mask,
    a count turned into a float divisor."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        h = self.proj(x)
        scores = h @ h.transpose(-1, -2) + (1.0 - keep.to(torch.float32))[:, None, :] * -1e4
        attended = torch.softmax(scores, -1) @ h
        weights = keep.to(torch.float32)[..., None] * (h > 0).float()
        out: torch.Tensor = (attended * weights).sum(1) / (keep.sum(-1, keepdim=True).to(h.dtype) + 1.0)
        return out


def _masked_spec() -> ModelSpec:
    return trtperf.model(
        inputs=[InputSpec("x", ("batch", 6, 16)), InputSpec("keep", ("batch", 6), "int64", 0, 2)],
        outputs=["y"], batches=(2,), precisions=("fp32", "fp16", "bf16"),
    )(_MaskedMean)


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelSpec, ArtifactCache, Any]:
    cache = ArtifactCache(tmp_path_factory.mktemp("masked") / "cache")
    spec = _masked_spec()
    return spec, cache, export_cached(spec, cache)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_exported_int_to_float_casts_give_a_valid_variant(masked: tuple[ModelSpec, ArtifactCache, Any],
                                                          precision: str) -> None:
    spec, cache, fp32 = masked
    variant = precision_variant(spec, fp32, precision, cache)
    model = onnx.load(str(variant.path))
    onnx.checker.check_model(model, full_check=True)
    assert variant.meta["extra"]["repair"]["inserted_casts"] >= 2  # the two mask casts feed fp16 arithmetic
    if precision == "fp16":
        inputs = make_inputs(spec, 2, seed=0)
        got = run_session(reference_session(variant.path), inputs)["y"]
        want = run_session(reference_session(fp32.path), inputs)["y"]
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-2


def test_an_invalid_variant_fails_at_the_precision_stage_as_trtperfs_fault(
        masked: tuple[ModelSpec, ArtifactCache, Any], monkeypatch: pytest.MonkeyPatch, cache: ArtifactCache) -> None:
    """Without the repair (the converter's raw output) the variant must not reach the cache."""
    spec, _, fp32 = masked
    from trtperf.precision import retype

    monkeypatch.setattr(retype, "repair_types", lambda *a, **k: retype.RepairNotes())
    with pytest.raises(BuildError) as info:
        precision_variant(spec, fp32, "fp16", cache)
    message = str(info.value)
    assert "trtperf's fp16 conversion produced an invalid ONNX variant" in message
    assert "at node 'node__to_copy' (Cast)" in message
    assert "keep_fp32=['Cast']" in message and "keep_fp32=['node__to_copy']" in message
    assert not list(cache.root.rglob("*.onnx")), "an invalid variant was cached"


def test_keep_fp32_by_op_type_and_by_node_name(masked: tuple[ModelSpec, ArtifactCache, Any]) -> None:
    spec, cache, fp32 = masked
    source = onnx.load(str(fp32.path))
    softmax = next(n.name for n in source.graph.node if n.op_type == "Softmax")
    matmul = next(n.name for n in source.graph.node if n.op_type == "MatMul")
    plain = precision_variant(spec, fp32, "fp16", cache)
    kept = precision_variant(dataclasses.replace(spec, keep_fp32=("MatMul",)), fp32, "fp16", cache)
    one = precision_variant(dataclasses.replace(spec, keep_fp32=(matmul,)), fp32, "fp16", cache)
    assert len({plain.path, kept.path, one.path}) == 3, "keep_fp32 must be part of the variant's cache key"

    def float32_matmuls(entry: Any) -> set[str]:
        model = onnx.shape_inference.infer_shapes(onnx.load(str(entry.path)))
        types = {v.name: v.type.tensor_type.elem_type for v in (*model.graph.value_info, *model.graph.output)}
        return {n.name for n in model.graph.node
                if n.op_type == "MatMul" and types.get(n.output[0]) == TensorProto.FLOAT}

    all_matmuls = {n.name for n in source.graph.node if n.op_type == "MatMul"}
    assert float32_matmuls(plain) == set()
    assert float32_matmuls(kept) == all_matmuls
    assert float32_matmuls(one) == {matmul}
    assert softmax in kept.meta["extra"]["kept_fp32"]


def test_keep_fp32_entry_naming_nothing_is_a_usage_error(masked: tuple[ModelSpec, ArtifactCache, Any]) -> None:
    spec, cache, fp32 = masked
    bad = dataclasses.replace(spec, keep_fp32=("Softmaxx",))
    with pytest.raises(TrtperfUsageError, match=r"keep_fp32 entries \['Softmaxx'\] name no op type or node"):
        precision_variant(bad, fp32, "fp16", cache)


@pytest.mark.parametrize("value", ["ReduceMean", [""], [3]])
def test_keep_fp32_declaration_is_checked(value: Any) -> None:
    with pytest.raises(TrtperfUsageError, match="keep_fp32 must be a list"):
        trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], keep_fp32=value)(nn.Identity)


def _constant_mask() -> onnx.ModelProto:
    """y = x + c, with c a Constant holding float32's minimum (an additive mask) and 1.0."""
    value = helper.make_tensor("c", TensorProto.FLOAT, [4], [float(np.finfo(np.float32).min), 1.0, 0.0, 1.0])
    return _graph([helper.make_node("Constant", [], ["c"], name="mask", value=value),
                   helper.make_node("Add", ["x", "c"], ["y"], name="add")], [])


def test_fp16_records_the_constants_it_clamps_and_bf16_keeps_their_range() -> None:
    _, fp16_notes = cast.to_fp16(_constant_mask())
    assert fp16_notes["clamped_count"] == 1
    assert fp16_notes["clamped"][0] == {"name": "c", "min": float(np.finfo(np.float32).min), "max": 1.0}
    bf16, _ = cast.to_bf16(_constant_mask())
    const = next(n for n in bf16.graph.node if n.op_type == "Constant")
    values = numpy_helper.to_array(const.attribute[0].t).astype(np.float32)
    # float32's minimum saturates at bf16's largest finite value: not fp16's -65504, and not -inf
    # (round-to-nearest would give -inf, and an inf mask makes a fully masked softmax row NaN).
    assert values[0] == pytest.approx(-3.3895e38, rel=1e-4) and values[1] == 1.0


def test_the_precision_stage_notes_clamped_constants(cache: ArtifactCache) -> None:
    from trtperf.precision import clamp_note

    spec = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], precisions=("fp16",))(nn.Identity)
    assert clamp_note({}, "fp16") is None
    note = clamp_note(cast.to_fp16(_constant_mask())[1], "fp16")
    assert note is not None and "clamped 1 constant to +-65504 (e.g. 'c': [-3.403e+38, 1])" in note
    del spec, cache


class _Float32MinMask(nn.Module):
    """Attention with an additive mask of float32's minimum (shared/cases/fp16_int_to_float_cast.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, -1)
        bias = (1.0 - keep.to(x.dtype))[:, None, :] * torch.finfo(torch.float32).min
        out: torch.Tensor = torch.softmax(q @ k.transpose(-1, -2) + bias, -1) @ v
        return out


def test_a_cost_failure_from_a_clamped_mask_says_so(tmp_path: Path) -> None:
    from trtperf.cases import Case
    from trtperf.config import Settings
    from trtperf.pipeline import CaseRunner
    from trtperf.record.results import FAILED

    spec = trtperf.model(
        inputs=[InputSpec("x", ("batch", 3, 8), low=-3, high=3), InputSpec("keep", ("batch", 3), "int64", 0, 2)],
        outputs=["y"], batches=(8,), precisions=("fp16",),
    )(_Float32MinMask)
    runner = CaseRunner(Settings(no_timing=True, cache_dir=tmp_path / "cache"), tmp_path / "baselines")
    result = runner.run(spec, Case(spec.name, "onnxruntime", "fp16", 8, 1))
    # Fully masked rows: fp32 adds -3.4e38 (every score equal, uniform weights); the fp16 variant adds -65504,
    # which keeps the scores' differences. The variant is valid; the cost check sees the changed function.
    assert result.outcome == FAILED, result.message
    assert "cost check failed" in result.message
    assert "Precision stage: the fp16 conversion clamped 1 constant to +-65504" in result.message


# ---- property: whatever types the converter leaves, the repair makes the graph consistent ----------

_OPS = ("Add", "Mul", "Sub", "Relu", "Cast16", "Cast32", "CastInt", "Sqrt")


@st.composite
def _mistyped_graphs(draw: st.DrawFn) -> tuple[onnx.ModelProto, set[str]]:
    """Random elementwise DAGs over x, valid in float32, then mis-typed as the converter does: float
    initializers and Casts of fp16 or fp32, int64 tensors read only by Casts, declared float types random."""
    floats: dict[str, int] = {"x": TensorProto.FLOAT}
    ints: list[str] = []
    inits = []
    for i, elem in enumerate(draw(st.lists(st.sampled_from([TensorProto.FLOAT, TensorProto.FLOAT16]), max_size=3))):
        dtype = np.float32 if elem == TensorProto.FLOAT else np.float16
        inits.append(numpy_helper.from_array(np.full(4, 0.5 + i, dtype), f"w{i}"))
        floats[f"w{i}"] = elem
    nodes, value_info, kept = [], [], set()
    for n in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(_OPS))
        out, name = f"t{n}", f"n{n}"
        if op in ("Cast16", "Cast32"):
            source = draw(st.sampled_from(sorted(floats) + ints))
            to = TensorProto.FLOAT16 if op == "Cast16" else TensorProto.FLOAT
            nodes.append(helper.make_node("Cast", [source], [out], name=name, to=to))
        elif op == "CastInt":
            nodes.append(helper.make_node("Cast", [draw(st.sampled_from(sorted(floats)))], [out], name=name,
                                          to=TensorProto.INT64))
            ints.append(out)
            continue
        elif op in ("Relu", "Sqrt"):
            nodes.append(helper.make_node(op, [draw(st.sampled_from(sorted(floats)))], [out], name=name))
        else:
            pair = [draw(st.sampled_from(sorted(floats))), draw(st.sampled_from(sorted(floats)))]
            nodes.append(helper.make_node(op, pair, [out], name=name))
        if draw(st.booleans()):
            kept.add(name)
        declared = draw(st.sampled_from([TensorProto.FLOAT, TensorProto.FLOAT16]))  # possibly wrong, as converted
        value_info.append(helper.make_tensor_value_info(out, declared, None))
        floats[out] = declared
    last = next((n.output[0] for n in reversed(nodes) if n.output[0] in floats), "x")
    nodes.append(helper.make_node("Add", [last, "x"], ["y"], name="out"))  # (b, 4) whatever `last` is
    graph = helper.make_graph(nodes, "g", [X], [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 4])],
                              inits, value_info=value_info)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), kept


@settings(max_examples=60, deadline=None)
@given(_mistyped_graphs())
def test_repair_makes_any_mistyped_graph_pass_the_strict_checker(case: tuple[onnx.ModelProto, set[str]]) -> None:
    from trtperf.precision.retype import repair_types

    model, kept = case
    repair_types(model, TensorProto.FLOAT16, kept)
    onnx.checker.check_model(model, full_check=True)
    session = reference_session_from_model(model)
    (y,) = session.run(["y"], {"x": np.linspace(0.1, 1.0, 8, dtype=np.float32).reshape(2, 4)})
    assert y.dtype == np.float32 and y.shape == (2, 4)


def reference_session_from_model(model: onnx.ModelProto) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
