"""Stage: engine outputs vs the reference, per output, as a structured report (not a bool)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from trtperf.spec import Tolerance

UNMEASURED = "unmeasured"
"""Starts an ``own_error_source`` that says why the own error could not be measured (then ": <why>")."""


@dataclass(frozen=True)
class OutputComparison:
    """One output's comparison. Errors are absolute unless named otherwise; indices are into ``shape``.

    ``kind`` is ``"float"`` or ``"exact"`` (integer/boolean reference: ``mismatch_fraction`` is the
    fraction of unequal elements, ``first_mismatches`` their first indices). ``rel_l2`` is
    ``||got - ref|| / ||ref||`` over the elements finite on both sides, ``scale`` the reference's RMS
    over its finite elements. ``reference_nonfinite`` / ``engine_nonfinite`` count NaN/Inf elements
    (the engine's only where the reference is finite), ``first_nonfinite`` the first such index.
    ``precision_error`` is the precision's own relative L2 error on this output (0 when not given),
    ``rel_l2_bound`` the relative L2 bound applied (None: none).
    """

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    mean_abs: float
    mismatch_fraction: float
    worst_index: tuple[int, ...]
    worst_got: float
    worst_expected: float
    cosine: float
    tolerance: Tolerance
    passed: bool
    problem: str = ""
    top_k_agreement: float | None = None
    kind: str = "float"
    rel_l2: float = 0.0
    scale: float = 0.0
    reference_nonfinite: int = 0
    engine_nonfinite: int = 0
    first_nonfinite: tuple[int, ...] = ()
    first_mismatches: tuple[tuple[int, ...], ...] = ()
    nonfinite_message: str = ""
    precision_error: float = 0.0
    rel_l2_bound: float | None = None
    agreement_score: float = 1.0
    """Integer/boolean outputs: the agreement judged (beyond the majority value where the tolerance asks so)."""
    majority_fraction: float = 0.0
    """Integer/boolean outputs: the share of the reference's most common value (0: not computed)."""
    own_error_source: str = ""
    """How ``precision_error`` was measured, where an adaptive bound scales with it (for messages)."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tolerance"] = asdict(self.tolerance)
        data["shape"] = list(self.shape)
        data["worst_index"] = list(self.worst_index)
        data["first_nonfinite"] = list(self.first_nonfinite)
        data["first_mismatches"] = [list(i) for i in self.first_mismatches]
        return data

    def describe(self) -> str:
        """One line on why this output failed (or how it compares), with the numbers."""
        if self.problem:
            return f"output {self.name!r}: {self.problem}"
        t = self.tolerance
        if self.kind == "exact":
            differing = round(self.mismatch_fraction * math.prod(self.shape))
            need = required_agreement(t)
            how = "compared exactly" if need >= 1.0 else "compared element by element"
            if need < 1.0 and t.chance_corrected:
                must = (f"at least {need:.2%} must agree beyond the {self.majority_fraction:.2%} its most common "
                        f"value gives: {self.agreement_score:.2%}")
            else:
                must = f"at least {need:.2%} must agree"
            line = (f"output {self.name!r} {list(self.shape)} (integer/boolean, {how}): {differing} of "
                    f"{math.prod(self.shape)} elements differ ({self.mismatch_fraction:.2%}; {must})")
            if differing:
                line += (f", first at {[list(i) for i in self.first_mismatches]} "
                         f"(got {self.worst_got:.6g}, expected {self.worst_expected:.6g})")
            if not self.passed:  # ids flip at near-ties: the agreement a model accepts is its to declare
                line += (f"; if some disagreement is expected, declare the fraction that must agree: "
                         f"Tolerance(min_agreement=...) for {self.name!r}")
            return line
        rms_atol = element_rms_atol(t, self.precision_error)
        bound = f"atol={t.atol:g} + rtol={t.rtol:g}*|expected|" + (
            f" + {rms_atol:.3g}*rms(expected) [rms {self.scale:.3g}]" if rms_atol else "")
        prefix = f"{self.nonfinite_message}; " if self.nonfinite_message else ""
        return (
            f"output {self.name!r} {list(self.shape)}: {prefix}max abs error {self.max_abs:.3g}, max rel error "
            f"{self.max_rel:.3g}, worst at index {list(self.worst_index)} (got {self.worst_got:.6g}, expected "
            f"{self.worst_expected:.6g}); {self.mismatch_fraction:.2%} of elements outside {bound} "
            f"(allowed {t.max_mismatch:.2%})"
            + (f"; relative L2 error {self.rel_l2:.3g} (max {self.rel_l2_bound:.3g}{self._bound_origin()})"
               if self.rel_l2_bound is not None else "")
            + (f"; cosine {self.cosine:.6f} (min {t.min_cosine})" if t.min_cosine is not None else "")
            + (f"; top-{t.top_k} agreement {self.top_k_agreement:.1%} (min {t.min_top_k_agreement:.1%})"
               if t.top_k is not None and self.top_k_agreement is not None else "")
        )


    def _bound_origin(self) -> str:
        """Where the relative L2 bound came from, when it scales with the precision's own error."""
        t = self.tolerance
        if t.precision_error_factor is None:
            return ""
        if t.rel_l2_floor is not None:
            if not self.precision_error and self.rel_l2_bound == t.max_rel_l2:
                why = self.own_error_source.removeprefix(UNMEASURED)
                return f" (this model's own error was not measured{why if why != self.own_error_source else ''})"
            source = f" ({self.own_error_source})" if self.own_error_source else ""
            return (f" = {t.precision_error_factor:g} x this model's own error {self.precision_error:.3g} on this "
                    f"output{source}, kept within [{t.rel_l2_floor:g}, {t.max_rel_l2:g}]")
        if self.rel_l2_bound != t.max_rel_l2:
            return (f" = {t.precision_error_factor:g} x the precision's own error {self.precision_error:.3g} on this "
                    f"output")
        return ""


@dataclass(frozen=True)
class ParityReport:
    outputs: tuple[OutputComparison, ...]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    @property
    def max_rel(self) -> float:
        return max((o.max_rel for o in self.outputs), default=0.0)

    @property
    def reference_not_finite(self) -> bool:
        """Some output failed because its reference holds NaN/Inf (the model, not the engine)."""
        return any(o.reference_nonfinite and not o.tolerance.allow_nonfinite for o in self.outputs)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "outputs": [o.to_json() for o in self.outputs]}

    def describe_failures(self) -> str:
        return "\n".join(o.describe() for o in self.outputs if not o.passed)


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _is_exact_dtype(dtype: np.dtype[Any]) -> bool:
    return bool(np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_))


def required_agreement(tolerance: Tolerance) -> float:
    """``tolerance.min_agreement``, where unset (a Tolerance used directly, not resolved for a precision): exact."""
    return 1.0 if tolerance.min_agreement is None else tolerance.min_agreement


def agreement_score(agreement: float, expected: np.ndarray) -> tuple[float, float]:
    """(agreement beyond the reference's most common value, that value's share m): ``(a - m) / (1 - m)``,
    or ``a`` itself for a constant reference (m = 1), which a constant engine rightly matches."""
    if expected.size == 0:
        return agreement, 0.0
    _, counts = np.unique(expected, return_counts=True)
    majority = float(counts.max()) / expected.size
    return (agreement if majority >= 1.0 else (agreement - majority) / (1.0 - majority)), majority


def _compare_exact(name: str, got: np.ndarray, expected: np.ndarray, tolerance: Tolerance) -> OutputComparison:
    """Integer/boolean outputs: equal or not, elementwise (class ids, top-k indices, masks)."""
    with np.errstate(all="ignore"):
        g = got.astype(np.float64) if not _is_exact_dtype(got.dtype) else got.astype(np.int64)
        e = expected.astype(np.int64)
        differs = g != e
        diff = np.abs(g.astype(np.float64) - e.astype(np.float64))
    mismatch = float(differs.mean()) if differs.size else 0.0
    score, majority = 1.0 - mismatch, 0.0
    if tolerance.chance_corrected and required_agreement(tolerance) < 1.0:
        score, majority = agreement_score(1.0 - mismatch, e)
    flat = np.flatnonzero(differs)
    first = tuple(_index(int(i), e.shape) for i in flat[:5])
    worst_flat = int(flat[0]) if flat.size else 0
    return OutputComparison(
        name=name, shape=tuple(e.shape), max_abs=float(np.nanmax(diff, initial=0.0)) if diff.size else 0.0,
        max_rel=float("nan"), mean_abs=float(np.nanmean(diff)) if diff.size else 0.0, mismatch_fraction=mismatch,
        worst_index=first[0] if first else (), worst_got=float(g.flat[worst_flat]) if g.size else 0.0,
        worst_expected=float(e.flat[worst_flat]) if e.size else 0.0, cosine=float("nan"), tolerance=tolerance,
        passed=bool(score >= required_agreement(tolerance) - 1e-12), kind="exact", first_mismatches=first,
        agreement_score=score, majority_fraction=majority,
    )


def _count_nonfinite(values: np.ndarray) -> str:
    nan = int(np.isnan(values).sum())
    inf = int(np.isinf(values).sum())
    return " and ".join(part for part in (f"{nan} NaN" if nan else "", f"{inf} Inf" if inf else "") if part)


PEAK_TO_RMS = 5.0
"""The largest of N rounding errors is about 4-5 times their RMS (Gaussian tail for N up to 1e6;
measured 3.6-4.6 on the zoo, bench/parity_power.py): the elementwise bound allowed per unit of
relative L2 error when the bound scales with the precision's own error."""


def element_rms_atol(tolerance: Tolerance, precision_error: float) -> float:
    """The elementwise bound's multiple of rms(expected): ``rms_atol``, raised to
    ``PEAK_TO_RMS * precision_error_factor * precision_error`` when the tolerance scales with the precision
    (not in the adaptive mode of ``rel_l2_floor``, which scales only the relative L2 bound)."""
    if (tolerance.precision_error_factor is None or tolerance.rel_l2_floor is not None
            or not math.isfinite(precision_error)):
        return tolerance.rms_atol
    return max(tolerance.rms_atol, PEAK_TO_RMS * tolerance.precision_error_factor * precision_error)


def rel_l2_bound(tolerance: Tolerance, precision_error: float) -> float | None:
    """The relative L2 bound of ``tolerance`` given the precision's own error on the output (None: none).

    Adaptive mode (``rel_l2_floor`` set): ``clamp(precision_error_factor * precision_error, rel_l2_floor,
    max_rel_l2)``, and ``max_rel_l2`` when ``precision_error`` is unknown (NaN). Otherwise the factor only
    raises ``max_rel_l2``: ``max(max_rel_l2, precision_error_factor * precision_error)``.
    """
    if tolerance.rel_l2_floor is not None and tolerance.max_rel_l2 is not None:
        if tolerance.precision_error_factor is None or not math.isfinite(precision_error):
            return tolerance.max_rel_l2
        scaled = tolerance.precision_error_factor * precision_error
        return min(tolerance.max_rel_l2, max(tolerance.rel_l2_floor, scaled))
    bounds = [b for b in (tolerance.max_rel_l2,
                          None if tolerance.precision_error_factor is None or not math.isfinite(precision_error)
                          else tolerance.precision_error_factor * precision_error) if b is not None]
    return max(bounds) if bounds else None


def compare_output(name: str, got: np.ndarray, expected: np.ndarray, tolerance: Tolerance,
                   precision_error: float = math.nan) -> OutputComparison:
    """Compare one engine output with its reference under ``tolerance`` (see :class:`Tolerance`).

    ``precision_error``: the precision's own relative L2 error on this output (see
    ``Tolerance.precision_error_factor``); NaN: not measured (a scaled bound then falls back to
    ``max_rel_l2``). Reported as 0 when not measured.

    Shapes must match. Integer/boolean references are compared exactly, float ones in float64.
    A reference NaN/Inf fails unless ``tolerance.allow_nonfinite``; an engine NaN/Inf where the
    reference is finite always fails. Both failures give the count and the first index.
    """
    def fail(problem: str) -> OutputComparison:
        nan = float("nan")
        return OutputComparison(name, tuple(expected.shape), nan, nan, nan, 1.0, (), nan, nan, nan, tolerance,
                                False, problem)

    if got.shape != expected.shape:
        return fail(f"shape {list(got.shape)} differs from the reference's {list(expected.shape)}")
    if _is_exact_dtype(expected.dtype):
        return _compare_exact(name, got, expected, tolerance)
    g = got.astype(np.float64, copy=False)
    e = expected.astype(np.float64, copy=False)
    if g.size == 0:
        return OutputComparison(name, tuple(e.shape), 0.0, 0.0, 0.0, 0.0, (), 0.0, 0.0, 1.0, tolerance, True)
    with np.errstate(all="ignore"):  # inf - inf, x / tiny: handled below, not warnings
        ref_finite = np.isfinite(e)
        # The same non-finite value on both sides (NaN and NaN, +inf and +inf) agrees;
        # any other non-finite value on either side is an infinite error.
        same_non_finite = ~ref_finite & ((np.isnan(g) & np.isnan(e)) | (g == e))
        bad_non_finite = (~np.isfinite(g) | ~ref_finite) & ~same_non_finite
        diff = np.where(same_non_finite, 0.0, np.where(bad_non_finite, np.inf, np.abs(g - e)))
        magnitude = np.where(ref_finite, np.abs(e), 0.0)
        finite_ref = e[ref_finite]
        scale = float(np.sqrt(np.mean(np.square(finite_ref)))) if finite_ref.size else 0.0
        rel = diff / np.maximum(magnitude, np.finfo(np.float64).tiny)
        bound = tolerance.atol + tolerance.rtol * magnitude + element_rms_atol(tolerance, precision_error) * scale
        outside = diff > bound
        mismatch = float(outside.mean())
        worst_flat = int(np.argmax(diff - bound))
        both_finite = np.isfinite(g) & ref_finite
        gf, ef = g[both_finite], e[both_finite]
        norm = float(np.linalg.norm(gf) * np.linalg.norm(ef))
        if bad_non_finite.any():
            cosine = 0.0
        elif norm > 0 and np.isfinite(norm):
            cosine = float(np.dot(gf, ef) / norm)
        else:
            cosine = 1.0 if np.array_equal(gf, ef) else 0.0
        ref_norm = float(np.linalg.norm(ef))
        err_norm = float(np.linalg.norm(gf - ef))
        rel_l2 = err_norm / ref_norm if ref_norm > 0 else (0.0 if err_norm == 0 else math.inf)
        if bad_non_finite.any():
            rel_l2 = math.inf
    l2_bound = rel_l2_bound(tolerance, precision_error)
    passed = (mismatch <= tolerance.max_mismatch
              and (tolerance.min_cosine is None or cosine >= tolerance.min_cosine)
              and (l2_bound is None or rel_l2 <= l2_bound))
    agreement = None
    if tolerance.top_k is not None:
        agreement = top_k_agreement(g, e, tolerance.top_k)
        passed = passed and agreement >= tolerance.min_top_k_agreement
    reference_nonfinite = int((~ref_finite).sum())
    engine_bad = ~np.isfinite(g) & ref_finite
    engine_nonfinite = int(engine_bad.sum())
    first_nonfinite: tuple[int, ...] = ()
    problem = nonfinite_message = ""
    if reference_nonfinite:
        first_nonfinite = _index(int(np.argmax(~ref_finite)), e.shape)
        if not tolerance.allow_nonfinite:
            passed = False
            problem = (f"the reference is not finite: {_count_nonfinite(e)} of {e.size} elements (first at index "
                       f"{list(first_nonfinite)}), so no engine output can be judged against it")
    if engine_nonfinite:
        flat = int(np.argmax(engine_bad))
        first_nonfinite = first_nonfinite or _index(flat, e.shape)
        nonfinite_message = (
            f"the engine output has {_count_nonfinite(g[engine_bad])} where the reference is finite "
            f"({engine_nonfinite} of {e.size} elements, first at index {list(_index(flat, e.shape))})"
        )
        passed = False
    return OutputComparison(
        name=name,
        shape=tuple(e.shape),
        max_abs=float(diff.max()),
        max_rel=float(rel.max()),
        mean_abs=float(diff.mean()),
        mismatch_fraction=mismatch,
        worst_index=_index(worst_flat, e.shape),
        worst_got=float(g.flat[worst_flat]),
        worst_expected=float(e.flat[worst_flat]),
        cosine=cosine,
        tolerance=tolerance,
        passed=bool(passed),
        problem=problem,
        top_k_agreement=agreement,
        rel_l2=rel_l2,
        scale=scale,
        reference_nonfinite=reference_nonfinite,
        engine_nonfinite=engine_nonfinite,
        first_nonfinite=first_nonfinite,
        nonfinite_message=nonfinite_message,
        precision_error=precision_error if math.isfinite(precision_error) else 0.0,
        rel_l2_bound=l2_bound,
    )


def top_k_agreement(got: np.ndarray, expected: np.ndarray, k: int) -> float:
    """Mean over rows (all axes but the last) of |top-k(got) & top-k(expected)| / k.

    The last axis holds class scores. k is capped at the number of classes. A row with a
    non-finite score in ``got`` counts as no agreement.
    """
    if expected.ndim == 0 or expected.shape[-1] == 0:
        return 1.0
    classes = expected.shape[-1]
    k = min(k, classes)
    g = got.reshape(-1, classes)
    e = expected.reshape(-1, classes)
    if g.shape[0] == 0:
        return 1.0
    # Stable descending order: ties resolve to the lower class index on both sides.
    top_g = np.argsort(-g, axis=1, kind="stable")[:, :k]
    top_e = np.argsort(-e, axis=1, kind="stable")[:, :k]
    finite = np.isfinite(g).all(axis=1)
    overlap = [len(set(a.tolist()) & set(b.tolist())) / k if ok else 0.0
               for a, b, ok in zip(top_g, top_e, finite, strict=True)]
    return float(np.mean(overlap))


def compare_outputs(
    got: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    tolerance_for: Callable[[str], Tolerance],
    precision_errors: Mapping[str, float] | None = None,
    own_error_source: str = "",
) -> ParityReport:
    """Compare every reference output; a missing output is a failure, never skipped.

    ``precision_errors``: per output, the precision's own relative L2 error (see :func:`precision_errors`);
    ``own_error_source``: how it was measured, for the messages of adaptive bounds.
    """
    results = []
    for name, ref in expected.items():
        if name not in got:
            nan = float("nan")
            results.append(OutputComparison(name, tuple(np.shape(ref)), nan, nan, nan, 1.0, (), nan, nan, nan,
                                            tolerance_for(name), False, "missing from the engine's outputs"))
            continue
        result = compare_output(name, np.asarray(got[name]), np.asarray(ref), tolerance_for(name),
                                (precision_errors or {}).get(name, math.nan))
        results.append(replace(result, own_error_source=own_error_source) if own_error_source else result)
    return ParityReport(tuple(results))


REFERENCE_ARITHMETIC = {
    "fp16": "its CPU provider runs most fp16 ops in fp32 between Casts",
    "bf16": "its CPU provider has no bf16 kernels",
    "int8": "it dequantizes and computes in fp32 where the engine uses int8 kernels",
    "fp8": "it dequantizes and computes in fp32 where the engine uses fp8 kernels",
}
"""How ONNX Runtime's CPU reference computes each variant (why a faithful failure does not prove an engine fault)."""


def relative_l2(got: np.ndarray, expected: np.ndarray) -> float:
    """``||got - expected|| / ||expected||`` over the elements finite on both sides (float64); inf for a
    non-finite element in ``got`` where ``expected`` is finite, 0 for two zero tensors."""
    g = np.asarray(got, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if g.shape != e.shape:
        return math.inf
    ref_finite = np.isfinite(e)
    if (~np.isfinite(g) & ref_finite).any():
        return math.inf
    both = np.isfinite(g) & ref_finite
    err = float(np.linalg.norm(g[both] - e[both]))
    norm = float(np.linalg.norm(e[both]))
    return err / norm if norm > 0 else (0.0 if err == 0 else math.inf)


def precision_errors(variant_reference: Mapping[str, np.ndarray],
                     fp32_reference: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per float output: the relative L2 distance of the variant's reference from the fp32 reference,
    i.e. what the precision itself costs on this model and input (both computed by ONNX Runtime)."""
    errors = {}
    for name, ref in fp32_reference.items():
        if name in variant_reference and np.issubdtype(np.asarray(ref).dtype, np.floating):
            errors[name] = relative_l2(variant_reference[name], ref)
    return errors


@dataclass(frozen=True)
class TwoWayParity:
    """Parity both ways (see :mod:`trtperf.parity.tolerance`): both checks gate when both exist.

    ``faithful``: engine vs ONNX Runtime on the same variant ONNX (None when ONNX Runtime cannot
    run it: ``faithful_unavailable`` says why). ``cost``: engine vs the fp32 reference. When the
    variant is the fp32 ONNX itself, the two are one comparison (``same_reference``).
    """

    cost: ParityReport
    faithful: ParityReport | None
    precision: str
    faithful_unavailable: str = ""
    same_reference: bool = False

    @property
    def passed(self) -> bool:
        return self.cost.passed and (self.faithful is None or self.faithful.passed)

    def to_json(self) -> dict[str, Any]:
        faithful = self.faithful.to_json() if self.faithful is not None else None
        return {
            "passed": self.passed,
            # As in the one-way format: the comparison with the fp32 reference (the summary's "parity err").
            "outputs": self.cost.to_json()["outputs"],
            "precision": self.precision,
            "faithful": faithful,
            "faithful_unavailable": self.faithful_unavailable,
            "cost": self.cost.to_json(),
            "same_reference": self.same_reference,
            "gates": ["cost"] if self.faithful is None or self.same_reference else ["faithful", "cost"],
        }

    def headline(self) -> str:
        """What failed, in a few words, for the first line of the case's message."""
        if self.cost.reference_not_finite:
            return "the fp32 reference is not finite (NaN/Inf in the model's own outputs)"
        if self.faithful is not None and self.faithful.reference_not_finite:
            return f"the {self.precision} variant computes NaN/Inf under ONNX Runtime where the fp32 model does not"
        if self.same_reference:
            return "outputs differ from the ONNX Runtime fp32 reference"
        return f"{self.precision} parity failed"

    def describe_failures(self) -> str:
        if self.cost.reference_not_finite:
            # The root cause is the model itself; every other comparison inherits it.
            return (
                f"{self.cost.describe_failures()}\nThe fp32 model computes NaN/Inf on its declared inputs (ONNX "
                f"Runtime, fp32 ONNX): fix the model, or narrow the declared input ranges (InputSpec low/high) to "
                f"values it accepts. If NaN/Inf are expected there, declare allow_nonfinite=True (or the output "
                f"names) in @trtperf.model, or Tolerance(allow_nonfinite=True) for those outputs."
            )
        sections = []
        if self.same_reference:
            if not self.cost.passed:
                sections.append(self.cost.describe_failures())
            return "\n".join(sections)
        if self.faithful is not None and self.faithful.reference_not_finite:
            sections.append(
                f"the {self.precision} variant itself computes NaN/Inf (ONNX Runtime running the {self.precision} "
                f"ONNX), while the fp32 reference is finite: a value leaves the {self.precision} range (overflow), "
                f"which the engine cannot be blamed for. Keep the overflowing nodes in fp32, or declare precisions= "
                f"without {self.precision} for this model:\n{self.faithful.describe_failures()}"
            )
        elif self.faithful is not None and not self.faithful.passed:
            sections.append(
                f"faithful check failed: outputs differ from ONNX Runtime running the same {self.precision} ONNX "
                f"(tolerance key 'faithful:{self.precision}:<output>'). ONNX Runtime's CPU does not compute "
                f"{self.precision} arithmetic as the engine does ({REFERENCE_ARITHMETIC.get(self.precision, 'fp32')}), "
                f"so either the engine computes another model or {self.precision} arithmetic itself differs this much "
                f"(overflow was ruled out by the range pre-flight for fp16/bf16):\n"
                f"{self.faithful.describe_failures()}"
            )
        if not self.cost.passed:
            sections.append(
                f"cost check failed: {self.precision} outputs differ from the ONNX Runtime fp32 reference more than "
                f"the {self.precision} tolerance allows (tolerance key '{self.precision}:<output>'):\n"
                f"{self.cost.describe_failures()}"
            )
        return "\n".join(sections)


def two_way_parity(
    got: Mapping[str, np.ndarray],
    fp32_reference: Mapping[str, np.ndarray],
    cost_tolerance_for: Callable[[str], Tolerance],
    variant_reference: Mapping[str, np.ndarray] | None,
    faithful_tolerance_for: Callable[[str], Tolerance],
    precision: str,
    faithful_unavailable: str = "",
    fp32_errors: Mapping[str, float] | None = None,
    own_error_source: str = "",
) -> TwoWayParity:
    """Compare ``got`` with the fp32 reference (cost) and with the variant's reference (faithful).

    Pass ``variant_reference is fp32_reference`` when the variant is the fp32 ONNX: one comparison.
    ``fp32_errors``: per output, fp32's own relative L2 error on this model and input (ONNX Runtime's
    optimized run vs the reference, or TF32's where fp32 may run in TF32:
    :meth:`trtperf.parity.reference.ReferenceRunner.fp32_own_errors`),
    for the cost tolerances that scale with it (``Tolerance.rel_l2_floor``); None: not measured, such
    a tolerance applies its ``max_rel_l2``. ``own_error_source``: how ``fp32_errors`` were measured.
    """
    cost = compare_outputs(got, fp32_reference, cost_tolerance_for, fp32_errors, own_error_source)
    if variant_reference is fp32_reference:
        return TwoWayParity(cost=cost, faithful=cost, precision=precision, same_reference=True)
    faithful = None
    if variant_reference is not None:
        faithful = compare_outputs(got, variant_reference, faithful_tolerance_for,
                                   precision_errors(variant_reference, fp32_reference))
    return TwoWayParity(cost=cost, faithful=faithful, precision=precision,
                        faithful_unavailable=faithful_unavailable if faithful is None else "")
