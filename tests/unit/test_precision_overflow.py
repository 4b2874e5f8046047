"""The pre-flight range report finds fp16/bf16 overflow on the CPU, where ONNX Runtime's own fp16 run hides it.

Right values come from numpy on the same inputs (fp16: |x| >= 65520 rounds to inf, non-zero
|x| < 2**-25 rounds to zero; bf16: non-zero |x| < 2**-134 rounds to zero).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

import trtperf
from trtperf import InputSpec, ModelSpec
from trtperf.backends.onnxruntime import reference_session, run_session
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.errors import PrecisionError
from trtperf.export import export_cached
from trtperf.inputs import make_inputs
from trtperf.pipeline import CaseRunner
from trtperf.precision import cast, precision_variant, preflight_range
from trtperf.precision.overflow import FORMATS, OverflowReport, TensorRange, overflow_report
from trtperf.record.results import FAILED, PASSED

pytest.importorskip("onnxconverter_common")


def test_format_thresholds_are_where_numpy_rounds_to_inf_and_to_zero() -> None:
    fp16 = FORMATS["fp16"]
    with np.errstate(over="ignore"):
        assert np.float16(fp16.overflow_at) == np.inf
    assert np.float16(np.nextafter(np.float32(fp16.overflow_at), np.float32(0))) == np.float16(65504)
    assert np.float16(fp16.flush_below) == 0 and np.float16(np.float32(fp16.flush_below) * 1.001) > 0
    import ml_dtypes

    bf16 = FORMATS["bf16"]
    assert np.float32(bf16.max_finite).astype(ml_dtypes.bfloat16) == np.float32(bf16.max_finite)
    assert np.float32(bf16.flush_below).astype(ml_dtypes.bfloat16) == 0
    assert np.float32(bf16.flush_below * 1.001).astype(ml_dtypes.bfloat16) > 0


def _square_scale(scale: float, opset: int = 18) -> onnx.ModelProto:
    """y = (x * x) * scale, named nodes 'sq' and 'scale'."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 64])
    nodes = [helper.make_node("Mul", ["x", "x"], ["sq"], name="sq"),
             helper.make_node("Mul", ["sq", "s"], ["y"], name="scale")]
    scale_init = numpy_helper.from_array(np.array(scale, np.float32), "s")
    return helper.make_model(helper.make_graph(nodes, "g", [x], [y], [scale_init]),
                             opset_imports=[helper.make_opsetid("", opset)])


def _variant(tmp_path: Path, model: onnx.ModelProto, precision: str) -> tuple[Path, Path]:
    fp32, path = tmp_path / "fp32.onnx", tmp_path / f"{precision}.onnx"
    onnx.save(model, str(fp32))
    variant, _ = (cast.to_fp16 if precision == "fp16" else cast.to_bf16)(model)
    onnx.save(variant, str(path))
    return fp32, path


def test_fp16_overflow_count_and_maximum_match_numpy(tmp_path: Path) -> None:
    x = np.random.default_rng(0).uniform(-400, 400, (4, 64)).astype(np.float32)
    fp32, path = _variant(tmp_path, _square_scale(1e-3), "fp16")
    report = overflow_report(path, fp32, "fp16", {"x": x})
    sq = x ** 2  # the probe checks ranges, in fp32 arithmetic: Casts to fp16 are not rounded
    assert not report.passed
    [item] = report.overflows
    assert (item.node, item.op_type, item.tensor) == ("sq", "Mul", "sq")
    assert item.overflow == int(np.sum(sq >= 65520)) > 0
    assert item.max_abs == pytest.approx(float(sq.max()), rel=1e-6)
    assert report.fix() == ["sq"]
    # ONNX Runtime's CPU runs the fp16 variant in fp32 arithmetic: its output shows no inf at all.
    got = run_session(reference_session(path), {"x": x})["y"]
    assert np.isfinite(got).all()


def test_values_that_flush_to_zero_are_counted_but_do_not_fail(tmp_path: Path) -> None:
    x = np.random.default_rng(1).uniform(-1, 1, (4, 64)).astype(np.float32)
    fp32, path = _variant(tmp_path, _square_scale(1e-6), "fp16")
    report = overflow_report(path, fp32, "fp16", {"x": x})
    scale = float(np.float16(1e-6))  # the variant's fp16 constant
    y = x ** 2 * np.float32(scale)
    assert report.passed
    [item] = report.flushes
    assert item.node == "scale" and item.flushed == int(np.sum((y != 0) & (np.abs(y) < 2.0 ** -25)))
    note = report.flush_note()
    assert note is not None and "'scale' (Mul)" in note


def test_bf16_has_fp32_range_but_flushes_below_its_subnormals(tmp_path: Path) -> None:
    x = np.random.default_rng(2).uniform(-400, 400, (4, 64)).astype(np.float32)
    x[0] /= 1000  # a row of small values: their squares times 1e-39 fall below bf16's subnormals
    fp32, path = _variant(tmp_path, _square_scale(1e-39), "bf16")
    report = overflow_report(path, fp32, "bf16", {"x": x})
    assert report.passed, report.describe()  # 400**2 is nothing to bf16
    assert [t.node for t in report.flushes] == ["scale"]


def test_report_round_trips_through_json() -> None:
    item = TensorRange("t", "n", "Mul", 1e5, 1e-3, 3, 0, 0, 9, ("reader",))
    report = OverflowReport("fp16", 7, [item], [dataclasses.replace(item, overflow=0, flushed=2)])
    assert OverflowReport.from_json(report.to_json()) == report


# ---- the hand-written LayerNorm of shared/cases/fp16_layernorm_overflow.py ----------------------------


class _HandLayerNorm(nn.Module):
    def __init__(self, use_pow: bool, dim: int = 64) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, 16)
        self.use_pow = use_pow

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = hidden + self.proj(hidden)
        centred = x - x.mean(-1, keepdim=True)
        sq = centred.pow(2) if self.use_pow else centred * centred
        out: torch.Tensor = self.head(centred / torch.sqrt(sq.mean(-1, keepdim=True) + 1e-5))
        return out


def _ln_spec(use_pow: bool, high: float) -> ModelSpec:
    return trtperf.model(
        inputs=[InputSpec("hidden", ("batch", 32, 64), low=-high, high=high)], outputs=["out"], batches=(2,),
        precisions=("fp32", "fp16"), name=f"hand_ln_{'pow' if use_pow else 'mul'}_{int(high)}",
    )(lambda: _HandLayerNorm(use_pow))


def _check(spec: ModelSpec, cache: ArtifactCache, fp32: CacheEntry, precision: str = "fp16") -> str | None:
    variant = precision_variant(spec, fp32, precision, cache)
    return preflight_range(spec, fp32, variant, precision, make_inputs(spec, 2, 0), {"batch": 2, "seed": 0}, cache)


@pytest.fixture(scope="module")
def hand_ln(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelSpec, ArtifactCache, CacheEntry]:
    cache = ArtifactCache(tmp_path_factory.mktemp("ln") / "cache")
    spec = _ln_spec(False, 600.0)
    return spec, cache, export_cached(spec, cache)


def test_hand_layernorm_overflow_is_found_naming_node_output_and_range(
        hand_ln: tuple[ModelSpec, ArtifactCache, CacheEntry]) -> None:
    spec, cache, fp32 = hand_ln
    with pytest.raises(PrecisionError) as info:
        _check(spec, cache, fp32)
    message = str(info.value)
    source = onnx.load(str(fp32.path))
    square = next(n for n in source.graph.node if n.op_type == "Mul" and n.input[0] == n.input[1])
    assert f"node {square.name!r} (Mul) output {square.output[0]!r}" in message
    # The right maximum: torch's fp32 (x - mean)**2 on the same inputs (the probe uses fp16 weights: 1e-2).
    module = spec.build_module()
    assert isinstance(module, _HandLayerNorm)
    hidden = torch.from_numpy(make_inputs(spec, 2, 0)["hidden"])
    with torch.no_grad():
        x = hidden + module.proj(hidden)
        want = float(((x - x.mean(-1, keepdim=True)) ** 2).max())
    shown = float(message.split(f"output {square.output[0]!r}: max |x| = ")[1].split(" ")[0])
    assert want > 65520 and shown == pytest.approx(want, rel=1e-2)
    assert "keep_fp32=[" in message and "with them the variant stays in range" in message


def test_the_suggested_keep_fp32_brings_the_variant_into_range(
        hand_ln: tuple[ModelSpec, ArtifactCache, CacheEntry]) -> None:
    spec, cache, fp32 = hand_ln
    with pytest.raises(PrecisionError) as info:
        _check(spec, cache, fp32)
    keep = eval(str(info.value).split("keep_fp32=")[1].split(")")[0])  # a list literal of names
    assert _check(dataclasses.replace(spec, keep_fp32=tuple(keep)), cache, fp32) is None


def test_the_same_model_on_small_activations_passes(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    spec = _ln_spec(False, 1.0)
    assert _check(spec, cache, export_cached(spec, cache)) is None  # no overflow, and nothing notable flushes


def test_a_variance_of_pow_is_narrowed_to_fp16_and_overflows_too(tmp_path: Path) -> None:
    """Pow and ReduceMean stay fp32, but the variance (about 600**2 / 3 = 1.2e5) is cast to fp16 for the
    next Add: a GPU engine gets inf there as well, so the report names that cast."""
    cache = ArtifactCache(tmp_path / "cache")
    spec = _ln_spec(True, 600.0)
    with pytest.raises(PrecisionError, match=r"\(ReduceMean\), narrowed to fp16 for \['node_add_\d+'\]"):
        _check(spec, cache, export_cached(spec, cache))


def test_the_fp16_case_fails_at_the_precision_stage(hand_ln: tuple[ModelSpec, ArtifactCache, CacheEntry],
                                                    tmp_path: Path) -> None:
    spec, cache, _ = hand_ln
    settings = Settings(no_timing=True, cache_dir=cache.root)
    runner = CaseRunner(settings, tmp_path / "baselines")
    failed = runner.run(spec, Case(spec.name, "onnxruntime", "fp16", 2, 1))
    assert failed.outcome == FAILED and "leave fp16's range" in failed.message
    assert failed.parity is None or not failed.parity, "it must fail before parity, not at it"
    assert runner.run(spec, Case(spec.name, "onnxruntime", "fp32", 2, 1)).outcome == PASSED
