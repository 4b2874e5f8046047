"""Parity core: compare_output / compare_outputs, structured results and the failure message."""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import asdict

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from trtperf.parity.compare import ParityReport, compare_output, compare_outputs
from trtperf.parity.tolerance import DEFAULT_TOLERANCES
from trtperf.spec import Tolerance

FP32 = Tolerance(atol=1e-4, rtol=1e-3)


def _ref(shape: tuple[int, ...] = (4, 5)) -> np.ndarray:
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def test_identical_outputs_pass() -> None:
    ref = _ref()
    result = compare_output("y", ref.copy(), ref, FP32)
    assert result.passed
    assert (result.max_abs, result.max_rel, result.mismatch_fraction) == (0.0, 0.0, 0.0)
    assert result.cosine == pytest.approx(1.0)
    assert result.problem == ""


def test_a_perturbed_element_fails_with_the_numbers() -> None:
    ref = _ref()
    got = ref.copy()
    got[2, 3] += 0.5
    report = compare_outputs({"y": got}, {"y": ref}, lambda name: FP32)
    assert not report.passed
    (result,) = report.outputs
    assert result.max_abs == pytest.approx(0.5, rel=1e-6)
    assert result.max_rel == pytest.approx(0.5 / abs(float(ref[2, 3])), rel=1e-5)
    assert result.worst_index == (2, 3)
    assert result.worst_got == pytest.approx(float(got[2, 3]))
    assert result.worst_expected == pytest.approx(float(ref[2, 3]))
    assert result.mismatch_fraction == pytest.approx(1 / 20)
    message = report.describe_failures()
    assert message.startswith("output 'y' [4, 5]: max abs error 0.5, max rel error ")
    assert "worst at index [2, 3]" in message
    assert f"(got {float(got[2, 3]):.6g}, expected {float(ref[2, 3]):.6g})" in message
    assert "5.00% of elements outside atol=0.0001 + rtol=0.001*|expected| (allowed 0.00%)" in message
    assert "cosine" not in message  # no cosine requirement in this tolerance


def test_the_message_lists_only_failing_outputs_and_shows_cosine_when_required() -> None:
    ref = _ref()
    tol = Tolerance(atol=1e-3, rtol=0.0, min_cosine=0.9999)
    report = compare_outputs({"a": ref, "b": -ref}, {"a": ref, "b": ref}, lambda name: tol)
    assert [o.passed for o in report.outputs] == [True, False]
    message = report.describe_failures()
    assert "output 'a'" not in message
    assert "output 'b'" in message and "cosine -1.000000 (min 0.9999)" in message


def test_within_tolerance_passes() -> None:
    ref = _ref()
    got = ref + np.float32(5e-5)  # below atol alone
    assert compare_output("y", got, ref, FP32).passed


@pytest.mark.parametrize(("wrong", "max_mismatch", "passed"), [(1, 1e-3, True), (2, 1e-3, False), (0, 0.0, True),
                                                                 (1, 0.0, False)])
def test_mismatch_fraction_allowance(wrong: int, max_mismatch: float, passed: bool) -> None:
    ref = np.linspace(-1, 1, 1000, dtype=np.float32)
    got = ref.copy()
    got[:wrong] += 1.0
    result = compare_output("y", got, ref, Tolerance(atol=1e-4, rtol=0.0, max_mismatch=max_mismatch))
    assert result.mismatch_fraction == pytest.approx(wrong / 1000)
    assert result.passed is passed


def test_relative_tolerance_scales_with_the_reference() -> None:
    ref = np.array([1000.0, 1e-3], dtype=np.float32)
    got = ref * np.float32(1.0005)
    assert compare_output("y", got, ref, Tolerance(atol=0.0, rtol=1e-3)).passed
    assert not compare_output("y", got, ref, Tolerance(atol=0.0, rtol=1e-4)).passed


def test_min_cosine_alone_can_fail() -> None:
    ref = _ref((100,))
    got = ref + np.random.default_rng(1).standard_normal(100).astype(np.float32)
    loose = Tolerance(atol=100.0, rtol=0.0)
    assert compare_output("y", got, ref, loose).passed
    result = compare_output("y", got, ref, Tolerance(atol=100.0, rtol=0.0, min_cosine=0.99))
    assert not result.passed and result.cosine < 0.99 and result.mismatch_fraction == 0.0


FP32_NONFINITE = Tolerance(atol=1e-4, rtol=1e-3, allow_nonfinite=True)


def test_nan_where_the_reference_has_nan_matches_when_declared() -> None:
    ref = np.array([1.0, np.nan, 2.0], dtype=np.float32)
    result = compare_output("y", ref.copy(), ref, FP32_NONFINITE)
    assert result.passed and result.max_abs == 0.0 and result.mismatch_fraction == 0.0
    assert result.reference_nonfinite == 1 and result.first_nonfinite == (1,)


def test_inf_where_the_reference_has_the_same_inf_matches_when_declared() -> None:
    ref = np.array([1.0, np.inf, -np.inf], dtype=np.float32)
    with np.errstate(all="ignore"):  # see test_comparison_emits_no_numpy_warnings
        result = compare_output("y", ref.copy(), ref, FP32_NONFINITE)
    assert result.passed and result.max_abs == 0.0


@pytest.mark.parametrize("got_value", [np.nan, np.inf, -np.inf])
def test_non_finite_output_against_a_finite_reference_fails(got_value: float) -> None:
    ref = np.array([0.5, 1.0, 0.25], dtype=np.float32)
    got = np.array([0.5, got_value, 0.25], dtype=np.float32)
    result = compare_output("y", got, ref, FP32)
    assert not result.passed
    assert result.max_abs == math.inf
    assert result.worst_index == (1,)
    assert result.mismatch_fraction == pytest.approx(1 / 3)



@pytest.mark.parametrize(("got_value", "ref_value"), [
    (1.0, np.nan), (1.0, np.inf), (1.0, -np.inf), (np.nan, np.inf), (np.inf, -np.inf), (-np.inf, np.nan),
])
def test_anything_but_the_same_non_finite_value_fails(got_value: float, ref_value: float) -> None:
    ref = np.array([0.5, ref_value], dtype=np.float32)
    got = np.array([0.5, got_value], dtype=np.float32)
    with np.errstate(all="ignore"):
        result = compare_output("y", got, ref, FP32)
    assert not result.passed



@pytest.mark.parametrize(("got", "ref"), [
    ([5.0, 1.0], [0.0, 1.0]),  # a ReLU output that is exactly 0 in the reference, off by 5
    ([np.inf, 1.0], [np.inf, 1.0]),
])
def test_comparison_emits_no_numpy_warnings(got: list[float], ref: list[float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare_output("y", np.array(got, dtype=np.float32), np.array(ref, dtype=np.float32), FP32)



def test_identical_outputs_with_declared_nan_pass_a_cosine_tolerance() -> None:
    ref = np.array([1.0, np.nan, 2.0], dtype=np.float32)
    tolerance = dataclasses.replace(DEFAULT_TOLERANCES["bf16"], allow_nonfinite=True)
    assert compare_output("y", ref.copy(), ref, tolerance).passed


def test_shape_mismatch_fails_with_both_shapes() -> None:
    ref = _ref((4, 5))
    report = compare_outputs({"y": ref.reshape(5, 4)}, {"y": ref}, lambda name: FP32)
    assert not report.passed
    assert report.describe_failures() == "output 'y': shape [5, 4] differs from the reference's [4, 5]"
    assert math.isnan(report.outputs[0].max_abs)
    assert report.outputs[0].to_json()["shape"] == [4, 5]


def test_missing_output_fails_and_extra_outputs_are_ignored() -> None:
    ref = _ref()
    seen: list[str] = []

    def tolerance_for(name: str) -> Tolerance:
        seen.append(name)
        return FP32

    report = compare_outputs({"a": ref, "extra": ref}, {"a": ref, "b": ref}, tolerance_for)
    assert [(o.name, o.passed) for o in report.outputs] == [("a", True), ("b", False)]
    assert report.describe_failures() == "output 'b': missing from the engine's outputs"
    assert seen == ["a", "b"]


def test_per_output_tolerances_are_used() -> None:
    ref = _ref()
    got = ref + np.float32(0.01)
    tolerances = {"loose": Tolerance(atol=0.1), "tight": FP32}
    report = compare_outputs({"loose": got, "tight": got}, {"loose": ref, "tight": ref}, tolerances.__getitem__)
    assert [(o.name, o.passed) for o in report.outputs] == [("loose", True), ("tight", False)]
    assert report.outputs[1].tolerance == FP32


def test_empty_output_passes() -> None:
    empty = np.zeros((0, 3), dtype=np.float32)
    assert compare_output("y", empty, empty, FP32).passed


def test_lower_precision_engine_output_is_compared_in_float64() -> None:
    ref = _ref()
    result = compare_output("y", ref.astype(np.float16), ref, DEFAULT_TOLERANCES["fp16"])
    assert result.passed
    assert 0 < result.max_abs < 1e-2


def test_report_json_and_aggregates() -> None:
    ref = _ref()
    got = ref.copy()
    got[0, 0] += 1.0
    report = compare_outputs({"a": ref, "b": got}, {"a": ref, "b": ref}, lambda name: FP32)
    data = report.to_json()
    assert data["passed"] is False
    assert [o["name"] for o in data["outputs"]] == ["a", "b"]
    assert data["outputs"][1]["worst_index"] == [0, 0]
    assert data["outputs"][1]["tolerance"] == asdict(FP32)
    assert report.max_abs == pytest.approx(1.0)
    assert ParityReport(()).passed and ParityReport(()).max_abs == 0.0


outputs_any = hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, max_side=6),
                         elements=st.floats(width=32, allow_nan=True, allow_infinity=True))
outputs_finite = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                            elements=st.floats(-1e6, 1e6, width=32))


@given(outputs_any, st.sampled_from(sorted(DEFAULT_TOLERANCES)))
def test_an_output_always_matches_itself_elementwise(x: np.ndarray, precision: str) -> None:
    tolerance = DEFAULT_TOLERANCES[precision]
    with np.errstate(all="ignore"):  # see test_comparison_emits_no_numpy_warnings
        result = compare_output("y", x.copy(), x, Tolerance(tolerance.atol, tolerance.rtol, tolerance.max_mismatch,
                                                            allow_nonfinite=True))
    assert result.passed
    assert result.mismatch_fraction == 0.0


@given(outputs_finite, st.sampled_from(sorted(DEFAULT_TOLERANCES)))
def test_a_finite_output_always_matches_itself(x: np.ndarray, precision: str) -> None:
    assume(float(np.abs(x).max()) > 1e-6)  # cosine of all-but-zero vectors is not meaningful
    assert compare_output("y", x.copy(), x, DEFAULT_TOLERANCES[precision]).passed


@given(
    outputs_finite,
    st.floats(-1.0, 1.0),
    st.floats(0.0, 100.0),
    st.floats(0.0, 100.0),
    st.sampled_from(sorted(DEFAULT_TOLERANCES)),
)
def test_larger_errors_never_compare_better(x: np.ndarray, direction: float, k1: float, k2: float,
                                            precision: str) -> None:
    small, large = sorted((k1, k2))
    noise = np.random.default_rng(0).standard_normal(x.shape) * direction
    tolerance = DEFAULT_TOLERANCES[precision]
    with np.errstate(all="ignore"):  # see test_comparison_emits_no_numpy_warnings
        a = compare_output("y", x + small * noise, x, tolerance)
        b = compare_output("y", x + large * noise, x, tolerance)
    assert b.max_abs >= a.max_abs
    assert b.mismatch_fraction >= a.mismatch_fraction
    if tolerance.min_cosine is None:
        assert a.passed or not b.passed  # once it fails, more error never passes
