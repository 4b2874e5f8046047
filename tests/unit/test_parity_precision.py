"""Parity beyond elementwise error: top-k agreement, two-way (faithful and cost) reports, tolerances."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from trtperf import ModelSpec, Tolerance, TrtperfUsageError
from trtperf.parity.compare import compare_output, top_k_agreement, two_way_parity
from trtperf.parity.tolerance import (
    COST_TOLERANCES,
    FAITHFUL_TOLERANCES,
    classifier_tolerance,
    cost_tolerance_for,
    faithful_tolerance_for,
)
from trtperf.precisions import PRECISIONS

REF = np.array([[0.1, 0.9, 0.5, 0.3], [2.0, 1.0, 0.0, -1.0]], np.float32)


@pytest.mark.parametrize(
    "got, k, expected",
    [
        (REF, 1, 1.0),
        (REF[:, ::-1], 1, 0.0),  # every row's winner moves
        (np.array([[0.1, 0.5, 0.9, 0.3], [2.0, 1.0, 0.0, -1.0]]), 1, 0.5),  # first row's top-1 swaps
        (np.array([[0.1, 0.5, 0.9, 0.3], [2.0, 1.0, 0.0, -1.0]]), 2, 1.0),  # same top-2 set, other order
        (np.array([[0.9, 0.1, 0.5, 0.3], [2.0, 1.0, 0.0, -1.0]]), 2, 0.75),  # one of row 1's top-2 replaced
        (REF, 10, 1.0),  # k capped at the class count
        (np.where(np.eye(2, 4, dtype=bool), np.nan, REF), 1, 0.0),  # NaN rows never agree
    ],
)
def test_top_k_agreement_table(got: np.ndarray, k: int, expected: float) -> None:
    assert top_k_agreement(np.asarray(got, np.float64), REF.astype(np.float64), k) == pytest.approx(expected)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
                  elements=st.floats(-1e3, 1e3)), st.integers(1, 8))
def test_top_k_agreement_of_a_tensor_with_itself_is_one(scores: np.ndarray, k: int) -> None:
    assert top_k_agreement(scores, scores, k) == 1.0


def test_top_k_decides_where_elementwise_cannot() -> None:
    """Scaled logits: large elementwise error, same ranking -> a classifier tolerance passes it."""
    expected = REF.astype(np.float64)
    got = expected * 1.5
    tol = classifier_tolerance("int8", top_k=1)
    assert compare_output("logits", got, expected, tol).passed
    swapped = compare_output("logits", np.array([[0.1, 0.5, 0.9, 0.3], [2.0, 1.0, 0.0, -1.0]]), expected, tol)
    assert not swapped.passed and swapped.top_k_agreement == 0.5
    assert "top-1 agreement 50.0% (min 100.0%)" in _report_text(swapped)


def _report_text(comparison: object) -> str:
    from trtperf.parity.compare import ParityReport

    return ParityReport((comparison,)).describe_failures()  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"top_k": 0}, {"top_k": True}, {"min_top_k_agreement": 1.5},
                                    {"max_mismatch": -0.1}])
def test_tolerance_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(TrtperfUsageError, match="Tolerance"):
        Tolerance(**kwargs)  # type: ignore[arg-type]


def test_every_precision_has_both_default_tolerances_and_low_precisions_judge_by_scale() -> None:
    assert set(COST_TOLERANCES) == set(FAITHFUL_TOLERANCES) == set(PRECISIONS)
    for precision in ("bf16", "int8", "fp8"):
        assert COST_TOLERANCES[precision].min_cosine is not None
    for precision in ("fp16", "bf16", "int8", "fp8"):
        # Faithful bounds scale with the precision's own error on the model (issue 11).
        assert FAITHFUL_TOLERANCES[precision].precision_error_factor is not None
        assert FAITHFUL_TOLERANCES[precision].max_rel_l2 is not None
    for precision in ("int8", "fp8"):
        # The faithful check compares the same graph: its floor is stricter than the cost check's cosine
        # (relative L2 r is cosine 1 - r**2/2).
        faithful, cost = FAITHFUL_TOLERANCES[precision], COST_TOLERANCES[precision]
        assert faithful.max_rel_l2 is not None and cost.min_cosine is not None
        assert 1 - faithful.max_rel_l2**2 / 2 > cost.min_cosine and faithful.atol < cost.atol


def test_tolerance_keys_for_the_two_checks(tiny_spec: ModelSpec) -> None:
    declared = {"int8:y": Tolerance(atol=1.0), "faithful:int8:y": Tolerance(atol=2.0),
                "faithful:fp16:": Tolerance(atol=3.0)}
    spec = dataclasses.replace(tiny_spec, tolerances=declared)
    assert cost_tolerance_for(spec, "int8", "y").atol == 1.0
    assert faithful_tolerance_for(spec, "int8", "y").atol == 2.0
    assert faithful_tolerance_for(spec, "fp16", "y").atol == 3.0
    assert faithful_tolerance_for(spec, "fp8", "y") == FAITHFUL_TOLERANCES["fp8"]
    assert cost_tolerance_for(spec, "fp8", "y") == COST_TOLERANCES["fp8"]


# ---- two-way reports -------------------------------------------------------------------------

FP32 = {"y": np.linspace(-1, 1, 64).reshape(8, 8)}
VARIANT = {"y": FP32["y"] + 0.02}  # what int8 "costs": a small shift


def test_faithful_engine_with_an_affordable_cost_passes_both() -> None:
    report = two_way_parity(VARIANT, FP32, lambda n: COST_TOLERANCES["int8"], VARIANT,
                            lambda n: FAITHFUL_TOLERANCES["int8"], "int8")
    assert report.passed and report.faithful is not None and report.faithful.max_abs == 0.0
    data = json.loads(json.dumps(report.to_json()))
    assert data["gates"] == ["faithful", "cost"]
    assert data["outputs"][0]["max_abs"] == pytest.approx(0.02), "outputs = the cost comparison, as before"
    assert data["faithful"]["passed"] and data["cost"]["passed"]


def test_an_unfaithful_engine_fails_the_faithful_check_even_within_the_cost_budget() -> None:
    # Wrong by 0.07 against its own model (relative L2 0.12, beyond 3x the int8 variant's own error 0.034), but a
    # reader looking only at the fp32 cost would accept it.
    got = {"y": VARIANT["y"] + 0.07 * np.sign(VARIANT["y"])}
    report = two_way_parity(got, FP32, lambda n: COST_TOLERANCES["int8"], VARIANT,
                            lambda n: FAITHFUL_TOLERANCES["int8"], "int8")
    assert report.cost.passed and report.faithful is not None and not report.faithful.passed
    assert not report.passed
    text = report.describe_failures()
    assert "faithful check failed" in text and "same int8 ONNX" in text and "faithful:int8:<output>" in text
    assert "cost check failed" not in text
    # The reference is not computed in int8 arithmetic: the verdict names both explanations, not "the engine".
    assert "dequantizes and computes in fp32" in text and "either the engine computes another model" in text
    assert "does not compute its model" not in text


def test_a_costly_precision_fails_the_cost_check_while_faithful() -> None:
    broken = {"y": np.zeros_like(FP32["y"]) + 0.3}  # e.g. calibration clipped everything
    report = two_way_parity(broken, FP32, lambda n: COST_TOLERANCES["int8"], broken,
                            lambda n: FAITHFUL_TOLERANCES["int8"], "int8")
    assert report.faithful is not None and report.faithful.passed and not report.cost.passed
    assert "cost check failed" in report.describe_failures() and "'int8:<output>'" in report.describe_failures()


def test_without_a_variant_reference_only_the_cost_check_gates() -> None:
    report = two_way_parity(VARIANT, FP32, lambda n: COST_TOLERANCES["bf16"], None,
                            lambda n: FAITHFUL_TOLERANCES["bf16"], "bf16", "ORT cannot run bf16")
    data = report.to_json()
    assert report.faithful is None and data["faithful"] is None and data["gates"] == ["cost"]
    assert data["faithful_unavailable"] == "ORT cannot run bf16"


def test_same_reference_is_one_comparison() -> None:
    report = two_way_parity(FP32, FP32, lambda n: COST_TOLERANCES["fp32"], FP32,
                            lambda n: FAITHFUL_TOLERANCES["fp32"], "fp32")
    assert report.same_reference and report.faithful is report.cost and report.to_json()["gates"] == ["cost"]
    bad = two_way_parity({"y": FP32["y"] + 1}, FP32, lambda n: COST_TOLERANCES["fp32"], FP32,
                         lambda n: FAITHFUL_TOLERANCES["fp32"], "fp32")
    assert not bad.passed and "faithful check" not in bad.describe_failures()
    assert "output 'y' [8, 8]: max abs error 1" in bad.describe_failures()


@pytest.mark.parametrize("key, ok", [("faithful:int8:y", True), ("faithful:int8:", True), ("faithful:y", False),
                                     ("faithful:int9:", False), ("faithful:int8:nope", False)])
def test_faithful_tolerance_keys_are_validated_at_declaration(key: str, ok: bool) -> None:
    import trtperf
    from trtperf import InputSpec

    declare = trtperf.model(inputs=[InputSpec("x", ("batch", 2))], outputs=["y"], tolerances={key: Tolerance()},
                            name="m")
    if ok:
        declare(lambda: None)  # type: ignore[arg-type, return-value]
    else:
        with pytest.raises(TrtperfUsageError, match=r"faithful:precision:\[output\]"):
            declare(lambda: None)  # type: ignore[arg-type, return-value]
