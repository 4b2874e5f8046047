"""The layer/fusion report, on real engine inspector JSON from an H100 (TensorRT-RTX 1.7.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trtperf.trt.report import LayerReport, onnx_nodes_in_metadata, parse_inspector_json

DATA = Path(__file__).parent.parent / "data" / "trt_inspector"

# The cnn's ONNX nodes (torch.onnx dynamo export; BatchNorm already folded into the convolutions).
CNN_OPS = {
    "node_Conv_54": "Conv", "node_relu": "Relu", "node_conv2d_1": "Conv", "node_relu_1": "Relu",
    "node_max_pool2d": "MaxPool", "node_Conv_56": "Conv", "node_relu_2": "Relu", "node_Conv_58": "Conv",
    "node_add_55": "Add", "node_relu_3": "Relu", "node_mean": "ReduceMean", "node_Reshape_61": "Reshape",
    "node_linear": "Gemm",
}


def cnn_report() -> LayerReport:
    return parse_inspector_json((DATA / "cnn-fp32-h100-rtx-1.7.1.json").read_text(), CNN_OPS)


def test_conv_relu_and_residual_add_are_fused_into_single_layers() -> None:
    report = cnn_report()
    fused = {layer.onnx_nodes: report.ops(layer) for layer in report.fused()}
    assert fused == {
        ("node_Conv_54", "node_relu"): "Conv+Relu",
        ("node_conv2d_1", "node_relu_1"): "Conv+Relu",
        ("node_Conv_56", "node_relu_2"): "Conv+Relu",
        ("node_Conv_58", "node_relu_3", "node_add_55"): "Conv+Relu+Add",
    }
    assert len(report.layers) == 10
    assert report.unmapped_nodes() == ["node_Reshape_61"]


def test_report_json_and_text_name_every_fusion() -> None:
    report = cnn_report()
    data = report.to_json()
    assert data["engine_layers"] == 10 and data["onnx_nodes"] == 13
    assert [f["ops"] for f in data["fused_layers"]] == ["Conv+Relu"] * 3 + ["Conv+Relu+Add"]
    text = report.render()
    assert text.startswith("10 engine layers from 13 ONNX nodes (4 fused layers)")
    assert "* node_Conv_58_myl0_6" in text and "Conv+Relu+Add" in text
    assert "node_Reshape_61" in text.splitlines()[-1]


def test_transformer_fuses_gelu_into_the_feed_forward_matmul() -> None:
    text = (DATA / "transformer-fp32-h100-rtx-1.7.1.json").read_text()
    nodes = {node for record in json.loads(text)["Layers"] for node in onnx_nodes_in_metadata(record["Metadata"])}
    report = parse_inspector_json(text, {node: "?" for node in nodes})
    gelu = [layer for layer in report.fused() if "node_Erf_25" in layer.onnx_nodes]
    assert len(gelu) == 1 and "node_MatMul_22" in gelu[0].onnx_nodes


@pytest.mark.parametrize(
    ("metadata", "nodes"),
    [
        ("[ONNX Layer: node_Conv_0]", ["node_Conv_0"]),
        ("[ONNX Layer: a]\x1f[ONNX Layer: b]\x1f[ONNX Layer: a]", ["a", "b"]),
        ("", []),
        ("no onnx here", []),
    ],
)
def test_onnx_nodes_in_metadata(metadata: str, nodes: list[str]) -> None:
    assert onnx_nodes_in_metadata(metadata) == nodes


def test_names_only_verbosity_recovers_nodes_from_layer_names() -> None:
    text = json.dumps({"Layers": ["conv1 + relu1", "PWN(add1, relu2)", "Reformatting CopyNode for Input 0"]})
    report = parse_inspector_json(text, {"conv1": "Conv", "relu1": "Relu", "add1": "Add", "relu2": "Relu"})
    assert [report.ops(layer) for layer in report.fused()] == ["Conv+Relu", "Add+Relu"]
    assert report.layers[2].onnx_nodes == ()


def test_not_inspector_json_is_rejected() -> None:
    with pytest.raises(ValueError, match="Layers"):
        parse_inspector_json(json.dumps({"Bindings": []}), {})
