"""Scale-aware default tolerances (issue 11, item 2): errors judged against each output's scale.

Right values: the issue's GPU measurements of correct engines (TensorRT-RTX 1.7.1, H200) must pass,
injected faults must fail.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from trtperf.parity.compare import PEAK_TO_RMS, compare_output, relative_l2, two_way_parity
from trtperf.parity.tolerance import (
    COST_TOLERANCES,
    FAITHFUL_TOLERANCES,
    cost_tolerance_for,
    default_precision,
    default_tolerance,
    faithful_tolerance,
)
from trtperf.spec import Tolerance


def _logits(shape: tuple[int, ...], seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _noise(shape: tuple[int, ...], peak: float, seed: int = 1) -> np.ndarray:
    """Gaussian noise scaled so that its largest magnitude is exactly ``peak``."""
    noise = np.random.default_rng(seed).standard_normal(shape)
    scaled: np.ndarray = (noise * (peak / np.abs(noise).max())).astype(np.float32)
    return scaled


def test_the_elementwise_bound_scales_with_the_output_rms() -> None:
    tolerance = Tolerance(atol=0.0, rtol=0.0, rms_atol=1e-2)
    for scale in (1e-3, 1.0, 1e3):
        ref = _logits((64, 64), scale=scale)
        assert compare_output("y", ref + _noise(ref.shape, 5e-3 * scale), ref, tolerance).passed
        assert not compare_output("y", ref + _noise(ref.shape, 2e-2 * scale), ref, tolerance).passed
    result = compare_output("y", ref, ref, tolerance)
    assert result.scale == pytest.approx(float(np.sqrt(np.mean(ref.astype(np.float64) ** 2))))


def test_relative_l2_catches_a_small_error_spread_over_every_element() -> None:
    ref = _logits((1000,))
    got = ref * np.float32(1.02)  # every element 2 % off: no single element is far off
    assert relative_l2(got, ref) == pytest.approx(0.02, rel=1e-4)
    assert compare_output("y", got, ref, Tolerance(atol=1.0, max_rel_l2=0.03)).passed
    failed = compare_output("y", got, ref, Tolerance(atol=1.0, max_rel_l2=0.01))
    assert not failed.passed and failed.rel_l2 == pytest.approx(0.02, rel=1e-4)
    assert "relative L2 error 0.02 (max 0.01)" in failed.describe()


# ---- the measurements of correct engines pass -------------------------------------------

def test_resnet50_fp32_on_tensorrt_with_tf32_sized_errors_passes() -> None:
    """H200, TensorRT-RTX, ResNet-50 fp32 b32: max abs error 0.0237 on logits of magnitude ~1, 34 % of
    elements outside the old atol=1e-4 + rtol=1e-3."""
    ref = _logits((32, 1000))
    got = ref + _noise(ref.shape, 0.0237)
    old = compare_output("logits", got, ref, Tolerance(atol=1e-4, rtol=1e-3))
    assert not old.passed and old.mismatch_fraction > 0.3
    assert default_precision("fp32", "tensorrt") == "tf32"
    assert compare_output("logits", got, ref, default_tolerance("fp32", "tensorrt")).passed


def test_bert_base_fp32_hidden_states_on_tensorrt_pass() -> None:
    """H200, TensorRT-RTX, BERT-base fp32 b1: max abs error 2.5e-3 on (layer-normed) hidden states."""
    ref = _logits((1, 128, 768))
    got = ref + _noise(ref.shape, 2.5e-3)
    assert compare_output("last_hidden_state", got, ref, default_tolerance("fp32", "tensorrt")).passed


def test_resnet50_fp16_with_one_percent_of_elements_off_by_a_hundredth_passes() -> None:
    """H200, TensorRT-RTX, ResNet-50 fp16 b1: 1.2 % of elements outside atol=rtol=0.01."""
    ref = _logits((1, 1000))
    got = ref + (np.random.default_rng(1).standard_normal(ref.shape) * 0.005).astype(np.float32)
    old = compare_output("logits", got, ref, Tolerance(atol=1e-2, rtol=1e-2, max_mismatch=1e-3))
    assert not old.passed and old.mismatch_fraction == pytest.approx(0.01)
    assert compare_output("logits", got, ref, COST_TOLERANCES["fp16"]).passed
    report = two_way_parity({"logits": got}, {"logits": ref + _noise(ref.shape, 0.01, seed=2)},
                            lambda n: COST_TOLERANCES["fp16"], {"logits": ref},
                            lambda n: FAITHFUL_TOLERANCES["fp16"], "fp16")
    assert report.passed, report.describe_failures()


# ---- faults fail ------------------------------------------------------------------------------

def test_exact_fp32_engines_keep_a_tight_default() -> None:
    ref = _logits((8, 1000))
    assert default_precision("fp32", "onnxruntime") == "fp32" and default_precision("fp32", None) == "fp32"
    assert compare_output("y", ref + _noise(ref.shape, 1e-4), ref, default_tolerance("fp32", "onnxruntime")).passed
    # A weight scaled by 1.01 in the last layer: outputs 1 % off.
    assert not compare_output("y", ref * np.float32(1.01), ref, default_tolerance("fp32", "onnxruntime")).passed


def test_the_faithful_fp16_bound_follows_the_precisions_own_error_on_the_model() -> None:
    fp32 = {"y": _logits((16, 512))}
    for eps in (1e-3, 4e-2):  # SegFormer-B0's and ResNet-50's fp16 error on the zoo
        variant = {"y": fp32["y"] + _noise((16, 512), 0.0, seed=3) + (
            np.random.default_rng(4).standard_normal((16, 512)) * eps).astype(np.float32)}
        precision_error = relative_l2(variant["y"], fp32["y"])
        assert precision_error == pytest.approx(eps, rel=0.05)
        faithful = faithful_tolerance("fp16")

        def engine(deviation: float, seed: int, base: np.ndarray = variant["y"]) -> dict[str, np.ndarray]:
            noise = np.random.default_rng(seed).standard_normal((16, 512)) * deviation
            return {"y": base + noise.astype(np.float32)}

        # A correct engine deviating from the variant by up to 2 eps passes; a fault of 4 eps fails.
        for deviation, passes in ((0.1 * eps, True), (2 * eps, True), (4 * eps, False)):
            report = two_way_parity(engine(deviation, 5), fp32, lambda n: COST_TOLERANCES["fp16"], variant,
                                    lambda n, f=faithful: f, "fp16")  # type: ignore[misc]
            assert report.faithful is not None
            assert report.faithful.passed is passes, (eps, deviation, report.describe_failures())
            comparison = report.faithful.outputs[0]
            assert comparison.precision_error == pytest.approx(precision_error)
            assert comparison.rel_l2_bound == pytest.approx(max(1e-3, 3 * precision_error))
    assert "= 3 x the precision's own error" in report.describe_failures()


def test_a_local_fault_fails_the_elementwise_check_though_the_l2_error_is_small() -> None:
    fp32 = {"y": _logits((64, 1000))}
    variant = {"y": fp32["y"] * np.float32(1.001)}
    got = {"y": variant["y"].copy()}
    got["y"][:2, :100] += 0.05  # 200 elements (0.3 %) of two rows wrong by 0.05 (rms 1)
    report = two_way_parity(got, fp32, lambda n: COST_TOLERANCES["fp16"], variant,
                            lambda n: FAITHFUL_TOLERANCES["fp16"], "fp16")
    assert report.faithful is not None and not report.faithful.passed
    comparison = report.faithful.outputs[0]
    assert comparison.rel_l2_bound is not None and comparison.rel_l2 < comparison.rel_l2_bound  # L2 alone: pass
    assert comparison.mismatch_fraction == pytest.approx(200 / 64000)
    assert PEAK_TO_RMS * 3 * comparison.precision_error < 0.05


def test_declared_tolerances_still_win_over_the_scaled_defaults(tiny_spec: object) -> None:
    from trtperf.spec import ModelSpec

    assert isinstance(tiny_spec, ModelSpec)
    spec = dataclasses.replace(tiny_spec, tolerances={"fp32:y": Tolerance(atol=0.5)})
    # the float bounds as declared; integer outputs keep the precision's default agreement (TF32 here)
    assert cost_tolerance_for(spec, "fp32", "y", "tensorrt") == Tolerance(atol=0.5, min_agreement=0.8,
                                                                          chance_corrected=True)
    assert cost_tolerance_for(tiny_spec, "fp32", "y", "tensorrt") == COST_TOLERANCES["tf32"]
