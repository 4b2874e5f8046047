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
    finite_mismatch = np.isfinite(g) != np.isfinite(e)
    diff = np.abs(g - e)
    diff = np.where(np.isnan(diff) & ~finite_mismatch, 0.0, diff)  # NaN == NaN, inf == inf
    diff = np.where(finite_mismatch, np.inf, diff)
    rel = diff / np.maximum(np.abs(e), np.finfo(np.float64).tiny)
    bound = tolerance.atol + tolerance.rtol * np.abs(e)
    outside = diff > bound
    mismatch = float(outside.mean())
    worst_flat = int(np.argmax(diff - bound))
    worst = tuple(int(i) for i in np.unravel_index(worst_flat, e.shape))
    norm = float(np.linalg.norm(g) * np.linalg.norm(e))
    if norm > 0 and np.isfinite(norm):
        cosine = float(np.dot(g.ravel(), e.ravel()) / norm)
    else:
        cosine = 1.0 if np.array_equal(g, e) else 0.0
    passed = mismatch <= tolerance.max_mismatch and (tolerance.min_cosine is None or cosine >= tolerance.min_cosine)
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
    )


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
