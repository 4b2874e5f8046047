"""Real TensorRT-RTX builds on the CPU: parser failures, profiles, builder settings, progress.

Tiny ONNX graphs are generated here; builds use optimization level 0 (fastest). What the real
parser rejects (malformed files, unknown operators, int32 quantized bias) is asserted by message.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import trtperf
from trtperf import InputSpec, ModelSpec
from trtperf.errors import BuildError
from trtperf.trt.build import (
    BuildOptions,
    ParserIssue,
    ProfileShapes,
    build_plan,
    describe_parse_failure,
    profile_shapes,
)
from trtperf.trt.flavour import Flavour, describe_module

pytest.importorskip("tensorrt_rtx_bindings")

PROFILE: ProfileShapes = {"x": ((1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8))}


@pytest.fixture(scope="module")
def flavour() -> Flavour:
    from trtperf.trt.api import activate

    found = activate("auto")
    assert not isinstance(found, str), found
    return found


def _model(nodes: list[onnx.NodeProto], initializers: list[onnx.TensorProto], opsets: dict[str, int] | None = None,
           check: bool = True) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 8, 8])], initializers,
    )
    imports = [helper.make_opsetid(domain, version) for domain, version in (opsets or {"": 18}).items()]
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 9
    if check:
        onnx.checker.check_model(model)
    return model


def conv_relu(path: Path) -> Path:
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    onnx.save(_model(nodes, [w]), str(path))
    return path


def qdq_conv(path: Path, int32_bias: bool) -> Path:
    """Conv on Q/DQ int8 input and weights; the bias either float or quantized to int32."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    ws, xs = np.float32(np.abs(w).max() / 127), np.float32(1 / 127)
    arr = numpy_helper.from_array
    inits = [arr(np.clip(np.round(w / ws), -127, 127).astype(np.int8), "wq"), arr(np.array(ws), "ws"),
             arr(np.array(0, np.int8), "z8"), arr(np.array(xs), "xs")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "z8"], ["xq"], name="q_x"),
             helper.make_node("DequantizeLinear", ["xq", "xs", "z8"], ["xd"], name="dq_x"),
             helper.make_node("DequantizeLinear", ["wq", "ws", "z8"], ["wd"], name="dq_w")]
    bias = rng.standard_normal(4).astype(np.float32)
    if int32_bias:
        scale = np.float32(xs * ws)
        inits += [arr(np.round(bias / scale).astype(np.int32), "bq"), arr(np.array(scale), "bs"),
                  arr(np.array(0, np.int32), "z32")]
        nodes.append(helper.make_node("DequantizeLinear", ["bq", "bs", "z32"], ["b"], name="dq_bias"))
    else:
        inits.append(arr(bias, "b"))
    nodes.append(helper.make_node("Conv", ["xd", "wd", "b"], ["y"], name="conv", pads=[1, 1, 1, 1]))
    onnx.save(_model(nodes, inits), str(path))
    return path


def build_error(flavour: Flavour, path: Path) -> str:
    with pytest.raises(BuildError) as info:
        build_plan(flavour, path, BuildOptions(profile=PROFILE, opt_level=0))
    return str(info.value)


def test_builds_a_plan_and_lists_the_network_layers(flavour: Flavour, tmp_path: Path) -> None:
    progress: list[str] = []
    out = build_plan(flavour, conv_relu(tmp_path / "m.onnx"), BuildOptions(profile=PROFILE, opt_level=0),
                     progress=progress.append)
    assert len(out.plan) > 1000 and out.seconds > 0
    assert [(layer.type, layer.onnx_node) for layer in out.network_layers] == [
        ("CONVOLUTION", "conv"), ("ACTIVATION", "relu")]
    assert any(line.startswith("Building engine") for line in progress), progress
    assert out.timing_cache is None  # TensorRT-RTX: no timing cache


def test_timing_cache_round_trip_through_the_real_api(flavour: Flavour, tmp_path: Path) -> None:
    # TensorRT-RTX binds the timing-cache calls as deprecated no-ops; forcing the full-TensorRT path
    # here checks that the calls and their serialization exist and run.
    forced = dataclasses.replace(flavour, timing_cache=True)
    path = conv_relu(tmp_path / "m.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        first = build_plan(forced, path, BuildOptions(profile=PROFILE, opt_level=0))
        assert first.timing_cache
        second = build_plan(forced, path, BuildOptions(profile=PROFILE, opt_level=0), timing_cache=first.timing_cache)
    assert second.timing_cache


def test_malformed_onnx_fails_with_the_parser_error(flavour: Flavour, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not an ONNX model at all")
    message = build_error(flavour, garbage)
    assert "could not parse" in message and "MODEL_DESERIALIZE_FAILED" in message
    assert "not a readable ONNX model" in message


def test_truncated_onnx_fails_with_the_parser_error(flavour: Flavour, tmp_path: Path) -> None:
    whole = conv_relu(tmp_path / "whole.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(whole[: len(whole) // 2])
    assert "MODEL_DESERIALIZE_FAILED" in build_error(flavour, cut)


def test_unsupported_operator_names_node_and_operator(flavour: Flavour, tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("FancyOp", ["r"], ["y"], name="fancy", domain="com.example")]
    path = tmp_path / "custom.onnx"
    onnx.save(_model(nodes, [], {"": 18, "com.example": 1}, check=False), str(path))
    message = build_error(flavour, path)
    assert "node 1 'fancy' (FancyOp)" in message
    # TensorRT-RTX reports an unknown operator as INVALID_NODE "Plugin not found"; TensorRT as UNSUPPORTED_NODE.
    assert "Plugin not found" in message or "UNSUPPORTED_NODE" in message
    assert "not supported by this TensorRT" in message


def test_int32_quantized_bias_is_rejected_with_a_fix(flavour: Flavour, tmp_path: Path) -> None:
    message = build_error(flavour, qdq_conv(tmp_path / "bias32.onnx", int32_bias=True))
    assert "node 3 'dq_bias' (DequantizeLinear)" in message
    assert "Int32" in message and "QuantizeBias=False" in message
    # The same model with its bias in float builds (TensorRT-RTX builds int8 Q/DQ; it cannot run int8 convs).
    out = build_plan(flavour, qdq_conv(tmp_path / "biasf.onnx", int32_bias=False),
                     BuildOptions(profile=PROFILE, opt_level=0))
    assert out.plan


def test_undeclared_network_input_is_named(flavour: Flavour, tmp_path: Path) -> None:
    path = conv_relu(tmp_path / "m.onnx")
    with pytest.raises(BuildError, match=r"network inputs \['x'\] are not declared"):
        build_plan(flavour, path, BuildOptions(profile={"image": PROFILE["x"]}, opt_level=0))


def spec(max_batch: int = 16) -> ModelSpec:
    return ModelSpec(name="m", factory=lambda: None, inputs=(InputSpec("x", ("batch", 3, 8, 8)),),  # type: ignore[arg-type, return-value]
                     outputs=("y",), max_batch=max_batch)


def test_profile_opt_is_the_case_batch_and_range_is_configurable() -> None:
    assert profile_shapes(spec(), 8, None) == {"x": ((1, 3, 8, 8), (8, 3, 8, 8), (16, 3, 8, 8))}
    assert profile_shapes(spec(), 8, (4, 8)) == {"x": ((4, 3, 8, 8), (8, 3, 8, 8), (8, 3, 8, 8))}
    widen = r"batch 32 lies outside .* 4\.\.8; widen --trtperf-trt-batch-range \(e\.g\. '4:32'\)"
    with pytest.raises(BuildError, match=widen):
        profile_shapes(spec(), 32, (4, 8))


def test_profile_covers_the_declared_range_of_named_axes() -> None:
    ids = InputSpec("ids", ("batch", "seq"), dtype="int64", low=0, high=100)
    declared = trtperf.model(inputs=[ids], outputs=["y"], name="bert", dims={"seq": (128, 512, 256)},
                             max_batch=16)(nn.Identity)
    assert profile_shapes(declared, 8, None, {"seq": 256}) == {"ids": ((1, 128), (8, 256), (16, 512))}
    with pytest.raises(BuildError, match=r"seq=1024 lies outside the declared range 128\.\.512"):
        profile_shapes(declared, 8, None, {"seq": 1024})
    with pytest.raises(BuildError, match=r"no value for named axes \['seq'\]"):
        profile_shapes(declared, 8, None)


def test_every_build_setting_is_in_the_key() -> None:
    base = BuildOptions(profile=profile_shapes(spec(), 8, None))
    variants = [dataclasses.replace(base, opt_level=0), dataclasses.replace(base, workspace_bytes=1 << 30),
                dataclasses.replace(base, tf32=True), dataclasses.replace(base, detailed_profiling=False),
                dataclasses.replace(base, profile=profile_shapes(spec(), 4, None))]
    keys = [repr(sorted(v.key_parts().items())) for v in [base, *variants]]
    assert len(set(keys)) == len(keys)


def test_parse_failure_message_lists_every_error() -> None:
    issues = [ParserIssue("UNSUPPORTED_NODE", "No importer registered for op: A", 2, "a", "A"),
              ParserIssue("INVALID_NODE", "bad attribute", 5, "b", "B")]
    module = ModuleType("trt")
    module.__version__ = "11.4.0.106"  # type: ignore[attr-defined]
    text = describe_parse_failure(Path("m.onnx"), issues, describe_module(module, "tensorrt"), ["extra detail"])
    assert "(2 parser error(s))" in text
    assert "node 2 'a' (A): UNSUPPORTED_NODE: No importer registered for op: A" in text
    assert "node 5 'b' (B): INVALID_NODE: bad attribute" in text
    assert "TensorRT logged:\n  extra detail" in text


def test_precision_builder_flags_are_refused_where_they_do_not_exist(flavour: Flavour, tmp_path: Path) -> None:
    path = conv_relu(tmp_path / "m.onnx")
    # TensorRT-RTX (and 11.x) have no BuilderFlag.FP16: the TensorRT 10 opt-in says so instead of ignoring it.
    with pytest.raises(BuildError, match=r"has no BuilderFlag\.FP16 .* only in TensorRT 10"):
        build_plan(flavour, path, BuildOptions(profile=PROFILE, opt_level=0, precision_flag="fp16"))
    with pytest.raises(BuildError, match="int8 builder flags need a calibrator"):
        build_plan(flavour, path, BuildOptions(profile=PROFILE, opt_level=0, precision_flag="int8"))
    flagged = BuildOptions(profile=PROFILE, precision_flag="fp16").key_parts()
    assert flagged != BuildOptions(profile=PROFILE).key_parts() and flagged["precision_flag"] == "fp16"
