"""int8/fp8 cases of models trtperf's quantization does not reach (found by an attack run on held-out
models: an LSTM model's "int8" case timed and passed the fp32 model, its variant without one Q/DQ node)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

import trtperf
from trtperf import InputSpec
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.pipeline import CaseRunner
from trtperf.precision.support import QUANTIZED_OPS, main_graph_op_types, quantization_coverage
from trtperf.record.results import PASSED, SKIPPED


def test_coverage_is_decided_from_the_graphs_op_types() -> None:
    lstm = frozenset({"LSTM", "Slice", "Squeeze", "Transpose"})
    reason, note = quantization_coverage("int8", lstm)
    assert reason is not None and note is None
    assert "nothing in this model would be quantized" in reason and "its compute is LSTM" in reason
    assert "declare precisions= without int8" in reason
    reason, note = quantization_coverage("fp8", lstm | {"Gemm"})
    assert reason is None and note is not None and "its LSTM stay in float" in note
    assert quantization_coverage("int8", frozenset({"Conv", "Relu"})) == (None, None)
    # A Q/DQ file is its own variant; fp16 and fp32 are not quantized at all.
    assert quantization_coverage("int8", lstm | {"QuantizeLinear", "DequantizeLinear"}) == (None, None)
    assert quantization_coverage("fp16", lstm) == (None, None) == quantization_coverage("fp32", lstm)
    assert set(QUANTIZED_OPS) == {"Conv", "ConvTranspose", "Gemm", "MatMul"}


class _LastStep(nn.Module):
    def __init__(self, head: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 4) if head else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0][:, -1])  # type: ignore[no-any-return]


def _lstm_only() -> nn.Module:
    return _LastStep(head=False)


def _lstm_with_head() -> nn.Module:
    return _LastStep(head=True)


def test_an_lstm_only_int8_case_is_skipped_and_a_partly_quantized_one_says_what_stays_float(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path / "cache", no_timing=True)
    runner = CaseRunner(settings, tmp_path / "baselines")
    inputs = [InputSpec("x", ("batch", 6, 8), low=-1, high=1)]
    only = trtperf.model(inputs=inputs, outputs=["h"], precisions=("int8",), name="lstm_only")(_lstm_only)
    result = runner.run(only, Case("lstm_only", "onnxruntime", "int8", 2, 1))
    assert result.outcome == SKIPPED, result.message
    assert "lstm_only[onnxruntime-int8-b2-s1]: int8: nothing in this model would be quantized" in result.message
    headed = trtperf.model(inputs=inputs, outputs=["y"], precisions=("int8",), name="lstm_head")(_lstm_with_head)
    result = runner.run(headed, Case("lstm_head", "onnxruntime", "int8", 2, 1))
    assert result.outcome == PASSED, result.message
    assert any("int8 covers part of the model" in n and "LSTM stay in float" in n for n in result.notes)


def test_ops_the_quantizer_never_reaches_do_not_count_and_dynamic_quantization_is_quantized(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    # A MatMul inside an If branch only: ONNX Runtime's quantize_static leaves subgraphs alone.
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 2], [1.0, 0.0, 0.0, 1.0])
    branch = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y1"])], "then", [],
                               [helper.make_tensor_value_info("y1", TensorProto.FLOAT, [1, 2])], [w])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["y2"])], "else", [],
                              [helper.make_tensor_value_info("y2", TensorProto.FLOAT, [1, 2])])
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=other)], "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])])
    path = tmp_path / "if.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert main_graph_op_types(path) == {"If"}
    assert quantization_coverage("int8", main_graph_op_types(path))[0] is not None
    dynamic = frozenset({"DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul"})  # quantize_dynamic's output
    assert quantization_coverage("int8", dynamic) == (None, None)
