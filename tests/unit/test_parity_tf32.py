"""The adaptive TF32 bound (issue 11): fp32 on tensorrt (and tf32) allows relative L2 up to
clamp(5 x the model's own TF32 error, 1e-4, 0.1), the own error being ONNX Runtime's run of the model with
every MatMul/Gemm/Conv input rounded to TF32 in the graph. On an H100 the fixed 0.1 let a BERT-base engine
with one GELU replaced by the identity pass (relative L2 2.4e-2, 38x its TF32 error); here the same fault
in a small real BERT fails, and a TF32-rounded run of the correct model passes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import trtperf
from trtperf import InputSpec, ModelSpec
from trtperf.backends.onnxruntime import reference_session, run_session
from trtperf.cache import ArtifactCache
from trtperf.export import export_cached
from trtperf.inputs import make_inputs
from trtperf.parity.compare import compare_output, relative_l2
from trtperf.parity.reference import TF32_RUN, ReferenceRunner, tf32_emulated
from trtperf.parity.tf32 import round_to_tf32, tf32_emulation
from trtperf.parity.tolerance import COST_TOLERANCES, TF32_OWN_ERROR_FACTOR, TF32_REL_L2_FLOOR, cost_tolerance_for
from trtperf.prepare import prepare_model

TF32 = COST_TOLERANCES["tf32"]


@given(st.floats(allow_nan=False, allow_infinity=False, width=32).filter(lambda v: 1e-30 < abs(v) < 1e30))
def test_rounding_keeps_tf32s_eleven_significant_bits_to_nearest(value: float) -> None:
    x = np.array([value], dtype=np.float32)
    rounded = round_to_tf32(x)
    assert int(rounded.view(np.uint32)[0]) & 0x1FFF == 0  # the 13 mantissa bits TF32 drops are zero
    assert abs(float(rounded[0]) - float(x[0])) <= 2.0**-11 * abs(float(x[0]))  # half an 11-bit ulp


def test_the_emulated_graph_rounds_both_operands_of_a_matmul_and_nothing_else() -> None:
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((16, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"]), helper.make_node("Add", ["y", "x8"], ["z"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16]),
         helper.make_tensor_value_info("x8", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 8])],
        [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    emulated = tf32_emulation(model)
    onnx.checker.check_model(emulated, full_check=True)
    x, x8 = rng.standard_normal((4, 16)).astype(np.float32), rng.standard_normal((4, 8)).astype(np.float32)
    import onnxruntime

    session = onnxruntime.InferenceSession(emulated.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x, "x8": x8})
    expected = round_to_tf32(x).astype(np.float64) @ round_to_tf32(weight).astype(np.float64) + x8  # Add: not rounded
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert relative_l2(got, x.astype(np.float64) @ weight + x8) > 1e-5  # and it did round
    assert [n.op_type for n in model.graph.node] == ["MatMul", "Add"]  # the input model is untouched


def _small_bert() -> Any:
    import torch

    transformers: Any = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.BertConfig(hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                                     intermediate_size=512, attn_implementation="eager")

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = transformers.BertModel(config).eval()

        def forward(self, input_ids: Any) -> Any:
            return self.bert(input_ids=input_ids).last_hidden_state

    return Hidden()


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelSpec, Any, ArtifactCache]:
    pytest.importorskip("transformers")
    spec = trtperf.model(inputs=[InputSpec("input_ids", ("batch", 32), dtype="int64", low=0, high=30522)],
                         outputs=["hidden"], batches=[2], name="small_bert")(_small_bert)
    cache = ArtifactCache(tmp_path_factory.mktemp("tf32"))
    return spec, export_cached(spec, cache), cache


def test_a_gelu_replaced_by_identity_fails_fp32_on_tensorrt_and_a_tf32_engine_passes(
        bert: tuple[ModelSpec, Any, ArtifactCache], tmp_path: Path) -> None:
    spec, fp32, cache = bert
    runner = ReferenceRunner(spec, fp32, fp32, "fp32", cache, "tensorrt")
    assert cost_tolerance_for(spec, "fp32", "hidden", "tensorrt") == TF32
    own = runner.fp32_own_errors(2, 0)
    assert own is not None and 1e-5 < own["hidden"] < 1e-2  # TF32's 10-bit mantissa through 4 layers
    reference = runner.fp32_outputs(2, 0)
    inputs = make_inputs(spec, 2, 0)

    # A correct TF32 engine: the model with TF32-rounded matrix products (what RTX's fp32 engines compute).
    tf32_engine = run_session(reference_session(tf32_emulated(spec, fp32, cache).path), inputs)
    assert runner.check(tf32_engine, 2, 0).passed

    graph = onnx.load(str(fp32.path))
    erfs = [node for node in graph.graph.node if node.op_type == "Erf"]
    assert len(erfs) == 4  # one GELU per layer
    erfs[len(erfs) // 2].op_type = "Identity"  # the fault seen on the H100: one layer's GELU is wrong
    faulty_path = tmp_path / "faulty.onnx"
    onnx.save(graph, str(faulty_path))
    got = run_session(reference_session(faulty_path), inputs)
    effect = relative_l2(got["hidden"], reference["hidden"])
    assert TF32_OWN_ERROR_FACTOR * own["hidden"] < effect < 0.1  # above 5 e, below the old fixed bound

    report = runner.check(got, 2, 0)
    assert not report.passed
    (output,) = report.cost.outputs
    assert output.rel_l2_bound == pytest.approx(max(TF32_REL_L2_FLOOR, TF32_OWN_ERROR_FACTOR * own["hidden"]))
    assert TF32_RUN in output.describe()
    fixed = dataclasses.replace(TF32, precision_error_factor=None, rel_l2_floor=None)  # the bound before
    assert compare_output("hidden", got["hidden"], reference["hidden"], fixed).passed


def test_onnxruntime_fp32_keeps_the_optimized_run_as_its_own_error(bert: tuple[ModelSpec, Any, ArtifactCache]) -> None:
    spec, fp32, cache = bert
    ieee = ReferenceRunner(spec, fp32, fp32, "fp32", cache, "onnxruntime")
    tf32 = ReferenceRunner(spec, fp32, fp32, "fp32", cache, "tensorrt")
    assert not ieee.tf32_may_be_on and tf32.tf32_may_be_on
    ieee_error, tf32_error = ieee.fp32_own_errors(2, 0), tf32.fp32_own_errors(2, 0)
    assert ieee_error is not None and tf32_error is not None
    assert ieee_error["hidden"] * 10 < tf32_error["hidden"]  # reordering fp32 costs far less than TF32


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(session.run(None, feeds))


def test_names_the_graph_already_uses_shared_weights_and_huge_values_are_handled() -> None:
    # A review's cases: values named like the emulation's own, an input named like its constant, a weight that
    # also feeds an Add (only the MatMul may see it rounded), and activations whose split overflows.
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((4, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["x__tf32"]),
         helper.make_node("MatMul", ["x", "w"], ["y"]),
         helper.make_node("Add", ["x__tf32", "w"], ["plain"]),
         helper.make_node("Add", ["y", "trtperf_tf32_splitter"], ["z"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4]),
         helper.make_tensor_value_info("trtperf_tf32_splitter", TensorProto.FLOAT, [4, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 4]),
         helper.make_tensor_value_info("plain", TensorProto.FLOAT, [4, 4])],
        [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    emulated = tf32_emulation(model)
    onnx.checker.check_model(emulated, full_check=True)
    x = rng.standard_normal((4, 4)).astype(np.float32)
    x[0, 0] = 1e35  # x * 8193 overflows fp32: the value keeps its fp32 self, as in TF32
    zero = np.zeros((4, 4), np.float32)
    z, plain = _run(emulated, {"x": x, "trtperf_tf32_splitter": zero})
    np.testing.assert_array_equal(plain, x + weight)  # the Add reads the weight unrounded
    expected = round_to_tf32(x).astype(np.float64) @ round_to_tf32(weight).astype(np.float64)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z, expected, rtol=1e-5)


def _matmul_in_if() -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.random.default_rng(2).standard_normal((8, 8)).astype(np.float32), "w")
    branch = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["b_out"])], "branch", [],
                               [helper.make_tensor_value_info("b_out", TensorProto.FLOAT, [2, 8])])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["cond"], value=numpy_helper.from_array(np.array(True), "c")),
         helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_matrix_products_the_emulation_cannot_reach_leave_the_bound_at_its_cap(tmp_path: Path) -> None:
    # A review: a MatMul inside an If branch was not emulated, so e was 0, the bound its 1e-4 floor, and a correct
    # TF32 engine (error 2.8e-4) failed. Now the own error counts as not measured: the cap, 0.1, judges.
    from trtperf.parity.tf32 import TF32EmulationIncomplete

    model = _matmul_in_if()
    with pytest.raises(TF32EmulationIncomplete, match="MatMul inside subgraphs"):
        tf32_emulation(model)
    path = tmp_path / "if.onnx"
    onnx.save(model, str(path))
    cache = ArtifactCache(tmp_path / "cache")
    spec, fp32 = prepare_model(trtperf.model(onnx=path, name="if_model"), cache, batch=2)
    runner = ReferenceRunner(spec, fp32, fp32, "fp32", cache, "tensorrt")
    assert runner.fp32_own_errors(2, 0) is None
    reference = runner.fp32_outputs(2, 0)
    x = make_inputs(spec, 2, 0)["x"]
    weight = numpy_helper.to_array(model.graph.initializer[0])
    tf32_engine = {"y": (round_to_tf32(x).astype(np.float64) @ round_to_tf32(weight)).astype(np.float32)}
    assert relative_l2(tf32_engine["y"], reference["y"]) > TF32_REL_L2_FLOOR  # the floor would fail it
    report = runner.check(tf32_engine, 2, 0)
    assert report.passed
    (output,) = report.cost.outputs
    assert output.rel_l2_bound == 0.1 and "not measured: TF32 emulation not possible" in output.describe()
