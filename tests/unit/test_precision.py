"""Precision variants: what each ONNX variant contains, that ONNX Runtime runs it, and its cache key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import trtperf
from trtperf import InputSpec, ModelSpec, TrtperfUsageError
from trtperf.backends.onnxruntime import reference_session, run_session
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.errors import BuildError
from trtperf.inputs import make_inputs
from trtperf.onnx_io import QDQ_OPS
from trtperf.precision import cast, precision_variant, quantize
from trtperf.precision.calibration import (
    CALIBRATION_SEED,
    MAX_CHUNK,
    drawn_calibration,
    load_calibration,
)

Tiny = tuple[ArtifactCache, CacheEntry]


def _run(path: Path, spec: ModelSpec, batch: int = 4) -> np.ndarray:
    return run_session(reference_session(path), make_inputs(spec, batch, seed=0))[spec.outputs[0]]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _io_types(model: Any) -> list[int]:
    return [v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)]


def _init_types(model: Any) -> set[int]:
    return {i.data_type for i in model.graph.initializer}


# ---- fp16 / bf16 --------------------------------------------------------------------------


def test_fp16_variant_keeps_fp32_io_and_runs_on_onnxruntime(tiny_spec: ModelSpec, tiny_onnx: Tiny) -> None:
    cache, fp32 = tiny_onnx
    variant = precision_variant(tiny_spec, fp32, "fp16", cache)
    model = onnx.load(str(variant.path))
    assert _io_types(model) == [TensorProto.FLOAT, TensorProto.FLOAT]
    assert TensorProto.FLOAT16 in _init_types(model)
    assert any(n.op_type == "Cast" for n in model.graph.node)
    got, ref = _run(variant.path, tiny_spec), _run(fp32.path, tiny_spec)
    assert got.dtype == np.float32
    assert not np.array_equal(got, ref), "an fp16 variant that computes exactly like fp32 was not converted"
    np.testing.assert_allclose(got, ref, atol=1e-2, rtol=1e-2)


def _sensitive_model(opset: int = 18) -> Any:
    """x -> MatMul(W) -> LayerNormalization -> Softmax -> y, built without torch."""
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "W"),
        numpy_helper.from_array(np.ones(8, np.float32), "gamma"),
        numpy_helper.from_array(np.zeros(8, np.float32), "beta"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h"], name="mm"),
        helper.make_node("LayerNormalization", ["h", "gamma", "beta"], ["n"], name="ln", axis=-1),
        helper.make_node("Softmax", ["n"], ["y"], name="sm", axis=-1),
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _input_type_of(model: Any, node_name: str) -> int:
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type
             for v in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)}
    types.update({i.name: i.data_type for i in inferred.graph.initializer})
    node = next(n for n in inferred.graph.node if n.name == node_name)
    return int(types[node.input[0]])


@pytest.mark.parametrize("convert, low", [(cast.to_fp16, TensorProto.FLOAT16), (cast.to_bf16, TensorProto.BFLOAT16)])
def test_sensitive_ops_stay_fp32_and_matmul_goes_low(convert: Any, low: int) -> None:
    variant, notes = convert(_sensitive_model())
    onnx.checker.check_model(variant)
    assert _input_type_of(variant, "mm") == low
    assert _input_type_of(variant, "ln") == TensorProto.FLOAT
    assert _input_type_of(variant, "sm") == TensorProto.FLOAT
    assert {"LayerNormalization", "Softmax"} <= set(notes["fp32_ops"])


def test_bf16_initializers_come_from_fp32_not_from_fp16() -> None:
    big = 1e5  # beyond fp16's range: an fp16 detour would clamp it to 65504
    model = _sensitive_model()
    w = numpy_helper.to_array(model.graph.initializer[0]).copy()
    w[0, 0] = big
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, "W"))
    variant, _ = cast.to_bf16(model)
    (weight,) = [i for i in variant.graph.initializer if i.name == "W"]
    assert weight.data_type == TensorProto.BFLOAT16
    assert float(numpy_helper.to_array(weight).astype(np.float32)[0, 0]) == pytest.approx(big, rel=1e-2)


def test_bf16_moves_conv_models_to_opset_22() -> None:
    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "W"], ["y"], name="conv")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 3, 3])],
        [numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    assert cast.bf16_needs_opset(model) == 22
    variant, notes = cast.to_bf16(model)
    onnx.checker.check_model(variant)
    assert "18 -> 22" in notes["opset"]
    assert _input_type_of(variant, "conv") == TensorProto.BFLOAT16


def test_bf16_is_not_runnable_on_onnxruntime_cpu(tiny_spec: ModelSpec, tiny_onnx: Tiny) -> None:
    """Pins the onnxruntime backend's stated reason for skipping bf16: a newer ORT that runs it should fail this."""
    cache, fp32 = tiny_onnx
    variant = precision_variant(tiny_spec, fp32, "bf16", cache)
    with pytest.raises(Exception, match="NOT_IMPLEMENTED"):
        reference_session(variant.path)
    from trtperf.backends.onnxruntime import OnnxRuntimeBackend

    assert "bfloat16" in (OnnxRuntimeBackend().precision_unsupported("bf16") or "")


# ---- int8 / fp8 ---------------------------------------------------------------------------


def _qdq_facts(model: Any) -> tuple[dict[str, Any], list[Any]]:
    inits = {i.name: numpy_helper.to_array(i) if i.data_type != TensorProto.FLOAT8E4M3FN else i
             for i in model.graph.initializer}
    return inits, [n for n in model.graph.node if n.op_type in QDQ_OPS]


def test_int8_variant_is_symmetric_per_channel_with_fp32_bias(tiny_spec: ModelSpec, tiny_onnx: Tiny) -> None:
    cache, fp32 = tiny_onnx
    variant = precision_variant(tiny_spec, fp32, "int8", cache)
    model = onnx.load(str(variant.path))
    inits, qdq = _qdq_facts(model)
    assert qdq, "no Q/DQ nodes in the int8 variant"
    for node in qdq:
        zero_point = inits[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any(), f"{node.name}: not symmetric int8"
    produced_by = {out: n for n in model.graph.node for out in n.output}
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    assert len(gemms) == 2
    for gemm in gemms:
        weight_dq = produced_by[gemm.input[1]]
        assert weight_dq.op_type == "DequantizeLinear"
        assert inits[weight_dq.input[1]].size > 1, "weights must be quantized per channel"
        # TensorRT-RTX's parser rejects int32 bias: the bias must be a plain fp32 initializer.
        assert gemm.input[2] in inits and inits[gemm.input[2]].dtype == np.float32
        assert gemm.input[2] not in produced_by
    consumers = {name: [n.op_type for n in model.graph.node if name in n.input] for n2 in model.graph.node
                 for name in n2.output}
    for q in (n for n in qdq if n.op_type == "QuantizeLinear"):
        (dq,) = [n for n in qdq if n.op_type == "DequantizeLinear" and q.output[0] in n.input]
        source = produced_by.get(q.input[0])
        # Every Q/DQ pair sits at a GEMM's input or output, where TensorRT fuses it into the kernel.
        assert "Gemm" in consumers[dq.output[0]] or (source is not None and source.op_type == "Gemm"), q.name
    got, ref = _run(variant.path, tiny_spec), _run(fp32.path, tiny_spec)
    assert not np.array_equal(got, ref)
    assert _cosine(got, ref) > 0.99


def test_fp8_variant_is_the_int8_calibration_rescaled_to_e4m3(tiny_spec: ModelSpec, tiny_onnx: Tiny) -> None:
    cache, fp32 = tiny_onnx
    int8 = onnx.load(str(precision_variant(tiny_spec, fp32, "int8", cache).path))
    fp8_entry = precision_variant(tiny_spec, fp32, "fp8", cache)
    fp8 = onnx.load(str(fp8_entry.path))
    assert max(o.version for o in fp8.opset_import if o.domain in ("", "ai.onnx")) >= 19
    int8_inits, _ = _qdq_facts(int8)
    fp8_inits, qdq = _qdq_facts(fp8)
    for node in qdq:
        assert fp8_inits[node.input[2]].data_type == TensorProto.FLOAT8E4M3FN
        np.testing.assert_allclose(fp8_inits[node.input[1]], int8_inits[node.input[1]] * 127 / 448, rtol=1e-6)
    got, ref = _run(fp8_entry.path, tiny_spec), _run(fp32.path, tiny_spec)
    assert _cosine(got, ref) > 0.98


def test_retarget_refuses_asymmetric_int8() -> None:
    graph = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"]),
         helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(3, np.int8), "zp")])
    with pytest.raises(ValueError, match="not symmetric"):
        quantize.retarget_int8_to_fp8(helper.make_model(graph))


# ---- calibration ----------------------------------------------------------------------------


def test_drawn_calibration_respects_ranges_and_avoids_parity_inputs(tiny_spec: ModelSpec) -> None:
    spec = dataclasses.replace(tiny_spec, inputs=(InputSpec("x", ("batch", 4), low=2.0, high=3.0),))
    calib = drawn_calibration(spec)
    stacked = np.concatenate([b["x"] for b in calib.batches])
    assert stacked.shape[0] == 32 and stacked.min() >= 2.0 and stacked.max() < 3.0
    parity = make_inputs(spec, 8, seed=0)["x"]
    assert not any(np.array_equal(b["x"], parity) for b in calib.batches)
    assert calib.digest == drawn_calibration(spec).digest
    assert calib.digest != drawn_calibration(tiny_spec).digest
    assert CALIBRATION_SEED > 1000


def test_load_calibration_chunks_and_validates(tiny_spec: ModelSpec, tmp_path: Path) -> None:
    path = tmp_path / "calib.npz"
    np.savez(path, x=np.ones((20, 4), np.float64))
    calib = load_calibration(tiny_spec, path)
    assert [b["x"].shape[0] for b in calib.batches] == [MAX_CHUNK, MAX_CHUNK, 20 - 2 * MAX_CHUNK]
    assert all(b["x"].dtype == np.float32 for b in calib.batches)
    assert calib.digest.startswith("file:")
    bad_sets: list[tuple[dict[str, np.ndarray], str]] = [
        ({"z": np.ones((4, 4))}, "no array for input"), ({"x": np.ones((4, 5))}, "shape"),
        ({"x": np.ones((0, 4))}, "non-zero")]
    for bad, match in bad_sets:
        np.savez(path, allow_pickle=False, **bad)
        with pytest.raises(TrtperfUsageError, match=match) as info:
            load_calibration(tiny_spec, path)
        assert "tiny_mlp" in str(info.value) and str(path) in str(info.value)
    with pytest.raises(TrtperfUsageError, match="cannot be read"):
        load_calibration(tiny_spec, tmp_path / "missing.npz")


# ---- cache key discipline and pass-through --------------------------------------------------


def test_variants_are_cached_and_keyed_by_calibration_and_tools(
    tiny_spec: ModelSpec, tiny_onnx: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, fp32 = tiny_onnx
    first = precision_variant(tiny_spec, fp32, "int8", cache)
    again = precision_variant(tiny_spec, fp32, "int8", cache)
    assert again.hit and again.key == first.key and again.meta["parts"]["calibration"].startswith("spec:")
    assert {"onnx", "precision", "recipe", "tools", "calibration"} <= set(first.meta["parts"])
    path = tmp_path / "calib.npz"
    np.savez(path, x=np.full((8, 4), 0.5, np.float32))
    user = precision_variant(tiny_spec, fp32, "int8", cache, calibration_data=path)
    assert not user.hit and user.key != first.key
    assert user.meta["sha256"] != first.meta["sha256"], "other calibration data must give other scales"
    fp16 = precision_variant(tiny_spec, fp32, "fp16", cache)
    assert "calibration" not in fp16.meta["parts"]
    import trtperf.precision as precision

    monkeypatch.setattr(precision, "tool_versions", lambda: {"onnx": "0.0-other"})
    assert precision_variant(tiny_spec, fp32, "fp16", cache).key != fp16.key


@pytest.mark.parametrize("precision", ["fp32", "tf32"])
def test_fp32_and_tf32_pass_through(tiny_spec: ModelSpec, tiny_onnx: Tiny, precision: str) -> None:
    cache, fp32 = tiny_onnx
    assert precision_variant(tiny_spec, fp32, precision, cache) is fp32


def test_builder_flags_opt_in_hands_over_the_fp32_onnx(tiny_spec: ModelSpec, tiny_onnx: Tiny) -> None:
    cache, fp32 = tiny_onnx
    assert precision_variant(tiny_spec, fp32, "fp16", cache, builder_flags=True) is fp32


def _with_qdq(tiny_onnx: Tiny, tmp_path: Path, zero_point: Any) -> CacheEntry:
    """The tiny model with a Q/DQ pair on its input, as quantization-aware training leaves it."""
    _, fp32 = tiny_onnx
    model = onnx.load(str(fp32.path))
    first = model.graph.node[0]
    old = first.input[0]
    first.input[0] = "x_dq"
    model.graph.node.insert(0, helper.make_node("DequantizeLinear", ["x_q", "qs", "qzp"], ["x_dq"]))
    model.graph.node.insert(0, helper.make_node("QuantizeLinear", [old, "qs", "qzp"], ["x_q"]))
    model.graph.initializer.extend([numpy_helper.from_array(np.array(0.02, np.float32), "qs"), zero_point])
    for opset in model.opset_import:
        opset.version = max(opset.version, 19)
    onnx.checker.check_model(model)
    cache = ArtifactCache(tmp_path / "qat-cache")
    return cache.get_or_create("onnx", {"qat": zero_point.data_type}, lambda tmp: onnx.save(model, str(tmp)),
                               suffix=".onnx")


def test_a_model_with_qdq_runs_as_it_is(tiny_spec: ModelSpec, tiny_onnx: Tiny, tmp_path: Path) -> None:
    qat = _with_qdq(tiny_onnx, tmp_path, numpy_helper.from_array(np.array(0, np.int8), "qzp"))
    cache = ArtifactCache(tmp_path / "c")
    assert precision_variant(tiny_spec, qat, "int8", cache) is qat
    with pytest.raises(BuildError, match=r"already carries \['int8'\] Q/DQ.*precisions=\('int8',\)") as info:
        precision_variant(tiny_spec, qat, "fp8", cache)
    assert "tiny_mlp" in str(info.value)
    # A cast variant keeps the Q/DQ pair in fp32.
    fp16 = onnx.load(str(precision_variant(tiny_spec, qat, "fp16", cache).path))
    assert _input_type_of(fp16, next(n.name for n in fp16.graph.node if n.op_type == "QuantizeLinear")) \
        == TensorProto.FLOAT


def test_unknown_precision_is_a_usage_error(tiny_spec: ModelSpec, tiny_onnx: Tiny) -> None:
    cache, fp32 = tiny_onnx
    with pytest.raises(TrtperfUsageError, match="unknown precision 'int4'"):
        precision_variant(tiny_spec, fp32, "int4", cache)


def test_variant_failure_names_model_precision_and_fix(tiny_onnx: Tiny, tmp_path: Path) -> None:
    _, fp32 = tiny_onnx
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    entry = dataclasses.replace(fp32, path=broken, meta={**fp32.meta, "sha256": "0" * 64})
    spec = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="broken")(lambda: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(BuildError) as info:
        precision_variant(spec, entry, "fp16", ArtifactCache(tmp_path / "c"))
    assert "'broken'" in str(info.value) and "fp16" in str(info.value) and "precisions=" in str(info.value)


def test_onnxruntime_optimizer_is_unfaithful_to_fp8_qdq(tiny_spec: ModelSpec, tiny_onnx: Tiny, tmp_path: Path) -> None:
    """Pins why the onnxruntime backend skips fp8: ORT_ENABLE_EXTENDED drops the Relu in front of an
    fp8 QuantizeLinear. If a newer ONNX Runtime fixes that, this fails: then let the backend run fp8."""
    import onnxruntime as ort

    cache, fp32 = tiny_onnx
    variant = precision_variant(tiny_spec, fp32, "fp8", cache)
    inputs = make_inputs(dataclasses.replace(tiny_spec, inputs=(InputSpec("x", ("batch", 4), low=-3.0, high=3.0),)),
                         64, seed=1)
    outputs = {}
    for level in ("ORT_ENABLE_BASIC", "ORT_ENABLE_EXTENDED"):
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        options.optimized_model_filepath = str(tmp_path / f"{level}.onnx")
        session = ort.InferenceSession(str(variant.path), options, providers=["CPUExecutionProvider"])
        outputs[level] = run_session(session, inputs)["y"]
        kept = [n.op_type for n in onnx.load(str(tmp_path / f"{level}.onnx")).graph.node]
        assert ("Relu" in kept) == (level == "ORT_ENABLE_BASIC"), level
    np.testing.assert_array_equal(outputs["ORT_ENABLE_BASIC"], _run_basic_reference(variant.path, inputs))
    assert np.abs(outputs["ORT_ENABLE_EXTENDED"] - outputs["ORT_ENABLE_BASIC"]).max() > 1e-3


def _run_basic_reference(path: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    return run_session(reference_session(path), inputs)["y"]


@pytest.mark.parametrize(
    "precision, cc, flavour, has_conv, fragment",
    [
        ("fp8", (9, 0), "tensorrt", True, None),
        ("fp8", (8, 9), "tensorrt", True, None),
        ("fp8", (8, 6), "tensorrt", False, "fp8 needs compute capability 8.9 or newer; this GPU has 8.6"),
        ("bf16", (7, 5), "tensorrt", False, "bf16 needs compute capability 8.0"),
        ("tf32", (7, 0), "tensorrt", False, "tf32 needs compute capability 8.0"),
        ("int8", (9, 0), "tensorrt_rtx", True, "TensorRT-RTX has no int8 convolution"),
        ("int8", (9, 0), "tensorrt_rtx", False, None),
        ("int8", (9, 0), "tensorrt", True, None),
        ("fp16", None, "tensorrt", True, None),
        ("int4", (9, 0), "tensorrt", False, "unknown precision"),
    ],
)
def test_gpu_precision_support_table(precision: str, cc: tuple[int, int] | None, flavour: str, has_conv: bool,
                                     fragment: str | None) -> None:
    from trtperf.precision.support import gpu_precision_unsupported

    reason = gpu_precision_unsupported(precision, cc, flavour, has_conv)
    assert (reason is None) == (fragment is None) and (fragment is None or fragment in (reason or ""))


@pytest.mark.parametrize(("precision", "flavour", "ops", "skipped"), [
    ("int8", "tensorrt_rtx", {"Conv", "Relu"}, True),
    ("int8", "tensorrt_rtx", {"ConvTranspose"}, True),
    ("int8", "tensorrt_rtx", {"MatMul", "Gemm"}, False),  # RTX's int8 is weight-only GEMM: runs
    ("int8", "tensorrt", {"Conv"}, False),  # full TensorRT has int8 convolutions
    ("fp16", "tensorrt_rtx", {"Conv"}, False),
])
def test_flavour_graph_support(precision: str, flavour: str, ops: set[str], skipped: bool) -> None:
    from trtperf.precision.support import flavour_graph_unsupported

    reason = flavour_graph_unsupported(precision, flavour, frozenset(ops))
    assert (reason is not None) == skipped
    if reason:
        assert "int8 convolution" in reason and sorted(ops & {"Conv", "ConvTranspose"})[0] in reason


def test_op_types_are_read_from_the_exported_graph(tiny_onnx: tuple[Any, Any]) -> None:
    from trtperf.precision.support import onnx_op_types

    _, entry = tiny_onnx
    ops = onnx_op_types(entry.path)
    assert "Gemm" in ops or "MatMul" in ops
    assert "Conv" not in ops
