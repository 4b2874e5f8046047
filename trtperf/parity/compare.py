"""Stage: engine outputs vs the reference, per output, as a structured report (not a bool)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from trtperf.spec import Tolerance


@dataclass(frozen=True)
class OutputComparison:
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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tolerance"] = asdict(self.tolerance)
        data["shape"] = list(self.shape)
        data["worst_index"] = list(self.worst_index)
        return data


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

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "outputs": [o.to_json() for o in self.outputs]}

    def describe_failures(self) -> str:
        lines = []
        for o in self.outputs:
            if o.passed:
                continue
            if o.problem:
                lines.append(f"output {o.name!r}: {o.problem}")
                continue
            t = o.tolerance
            lines.append(
                f"output {o.name!r} {list(o.shape)}: max abs error {o.max_abs:.3g}, max rel error {o.max_rel:.3g}, "
                f"worst at index {list(o.worst_index)} (got {o.worst_got:.6g}, expected {o.worst_expected:.6g}); "
                f"{o.mismatch_fraction:.2%} of elements outside atol={t.atol:g} + rtol={t.rtol:g}*|expected| "
                f"(allowed {t.max_mismatch:.2%})"
                + (f"; cosine {o.cosine:.6f} (min {t.min_cosine})" if t.min_cosine is not None else "")
                + (f"; top-{t.top_k} agreement {o.top_k_agreement:.1%} (min {t.min_top_k_agreement:.1%})"
                   if t.top_k is not None and o.top_k_agreement is not None else "")
            )
        return "\n".join(lines)


def compare_output(name: str, got: np.ndarray, expected: np.ndarray, tolerance: Tolerance) -> OutputComparison:
    def fail(problem: str) -> OutputComparison:
        nan = float("nan")
        return OutputComparison(name, tuple(expected.shape), nan, nan, nan, 1.0, (), nan, nan, nan, tolerance,
                                False, problem)

    if got.shape != expected.shape:
        return fail(f"shape {list(got.shape)} differs from the reference's {list(expected.shape)}")
    g = got.astype(np.float64, copy=False)
    e = expected.astype(np.float64, copy=False)
    if g.size == 0:
        return OutputComparison(name, tuple(e.shape), 0.0, 0.0, 0.0, 0.0, (), 0.0, 0.0, 1.0, tolerance, True)
    with np.errstate(all="ignore"):  # inf - inf, x / tiny: handled below, not warnings
        # The same non-finite value on both sides (NaN and NaN, +inf and +inf) agrees;
        # any other non-finite value on either side is an infinite error.
        same_non_finite = ~np.isfinite(e) & ((np.isnan(g) & np.isnan(e)) | (g == e))
        bad_non_finite = (~np.isfinite(g) | ~np.isfinite(e)) & ~same_non_finite
        diff = np.where(same_non_finite, 0.0, np.where(bad_non_finite, np.inf, np.abs(g - e)))
        magnitude = np.where(np.isfinite(e), np.abs(e), 0.0)
        rel = diff / np.maximum(magnitude, np.finfo(np.float64).tiny)
        bound = tolerance.atol + tolerance.rtol * magnitude
        outside = diff > bound
        mismatch = float(outside.mean())
        worst_flat = int(np.argmax(diff - bound))
        worst = tuple(int(i) for i in np.unravel_index(worst_flat, e.shape))
        both_finite = np.isfinite(g) & np.isfinite(e)
        gf, ef = g[both_finite], e[both_finite]
        norm = float(np.linalg.norm(gf) * np.linalg.norm(ef))
        if bad_non_finite.any():
            cosine = 0.0
        elif norm > 0 and np.isfinite(norm):
            cosine = float(np.dot(gf, ef) / norm)
        else:
            cosine = 1.0 if np.array_equal(gf, ef) else 0.0
    passed = mismatch <= tolerance.max_mismatch and (tolerance.min_cosine is None or cosine >= tolerance.min_cosine)
    agreement = None
    if tolerance.top_k is not None:
        agreement = top_k_agreement(g, e, tolerance.top_k)
        passed = passed and agreement >= tolerance.min_top_k_agreement
    return OutputComparison(
        name=name,
        shape=tuple(e.shape),
        max_abs=float(diff.max()),
        max_rel=float(rel.max()),
        mean_abs=float(diff.mean()),
        mismatch_fraction=mismatch,
        worst_index=worst,
        worst_got=float(g.flat[worst_flat]),
        worst_expected=float(e.flat[worst_flat]),
        cosine=cosine,
        tolerance=tolerance,
        passed=bool(passed),
        top_k_agreement=agreement,
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
) -> ParityReport:
    """Compare every reference output; a missing output is a failure, never skipped."""
    results = []
    for name, ref in expected.items():
        if name not in got:
            nan = float("nan")
            results.append(OutputComparison(name, tuple(np.shape(ref)), nan, nan, nan, 1.0, (), nan, nan, nan,
                                            tolerance_for(name), False, "missing from the engine's outputs"))
            continue
        results.append(compare_output(name, np.asarray(got[name]), np.asarray(ref), tolerance_for(name)))
    return ParityReport(tuple(results))


REFERENCE_ARITHMETIC = {
    "fp16": "its CPU provider runs most fp16 ops in fp32 between Casts",
    "bf16": "its CPU provider has no bf16 kernels",
    "int8": "it dequantizes and computes in fp32 where the engine uses int8 kernels",
    "fp8": "it dequantizes and computes in fp32 where the engine uses fp8 kernels",
}
"""How ONNX Runtime's CPU reference computes each variant (why a faithful failure does not prove an engine fault)."""


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

    def describe_failures(self) -> str:
        sections = []
        if self.same_reference:
            if not self.cost.passed:
                sections.append(self.cost.describe_failures())
            return "\n".join(sections)
        if self.faithful is not None and not self.faithful.passed:
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
) -> TwoWayParity:
    """Compare ``got`` with the fp32 reference (cost) and with the variant's reference (faithful).

    Pass ``variant_reference is fp32_reference`` when the variant is the fp32 ONNX: one comparison.
    """
    cost = compare_outputs(got, fp32_reference, cost_tolerance_for)
    if variant_reference is fp32_reference:
        return TwoWayParity(cost=cost, faithful=cost, precision=precision, same_reference=True)
    faithful = None
    if variant_reference is not None:
        faithful = compare_outputs(got, variant_reference, faithful_tolerance_for)
    return TwoWayParity(cost=cost, faithful=faithful, precision=precision,
                        faithful_unavailable=faithful_unavailable if faithful is None else "")
