"""Stage: the verdict of a candidate measurement against this device's baseline.

:class:`StatisticalGate` judges run medians (reference/regression-statistics.md, section 3.3):

* REGRESSED  when r >= 1 + threshold, the CI's low end > 1 + floor, and the exact one-sided
  Mann-Whitney U p-value <= alpha (magnitude *and* significance, as asv/Perfherder/Pinpoint do);
* IMPROVED   when the CI's high end < 1 - threshold and the "faster" p-value <= alpha;
* PASS       when the CI's high end < 1 + threshold (no regression of the minimum effect);
* INCONCLUSIVE otherwise. REGRESSED and IMPROVED need ``min_runs`` runs on each side.

For a same-job A/B (interleaved runs, :meth:`StatisticalGate.judge_pairs`) the same rule is
applied to the per-pair analysis: median per-pair ratio, bootstrap over pairs, exact Wilcoxon
signed-rank test; a load burst that hits both runs of a pair then cancels.

alpha = (1 - confidence) / (looks * cases): Bonferroni over the planned looks of one case and over
the cases of the session (many cases must not multiply false alarms).

The design is sequential (issue 14, item 5): a short first look of ``step`` runs, then ``step`` more
runs per look while the verdict is undecided, up to ``looks`` looks (``step * looks`` runs per side).
Stopping early is safe because every look is judged at the Bonferroni share alpha / looks, with the
bootstrap CI at the matching level 1 - alpha / looks: by the union bound the chance that *any* look of
the case gives a false REGRESSED (or a CI that misses the true ratio, i.e. a false PASS) is at most
``1 - confidence`` (per case, before the split over cases), whatever rule decides when to stop. Most
cases pass at the first look; only undecided ones pay for more runs.

:func:`judge_adaptively` re-measures an undecided case that way, prefers a same-job interleaved A/B
against the baseline's own artifact when one is available (its looks counted in the same budget), and
confirms a stored-baseline regression with fresh runs before reporting it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from typing import Any, Protocol

from trtperf.config import Settings
from trtperf.timing.mode import normalize_timing_mode
from trtperf.verdict.statistics import (
    RatioEstimate,
    estimate,
    estimate_paired,
    min_attainable_p,
    min_attainable_p_paired,
    min_pairs,
    run_cv,
)


class Status(str, Enum):
    """A verdict's status; its value is what results JSON and the summary show."""

    PASS = "pass"
    REGRESSED = "regressed"
    IMPROVED = "improved"
    INCONCLUSIVE = "inconclusive"
    NO_BASELINE = "no baseline"
    MISMATCH = "mode mismatch"

    def __str__(self) -> str:
        return self.value


FAILING = frozenset({Status.REGRESSED, Status.MISMATCH})

# Better verdicts first: a slower candidate never moves down this order (property-tested).
VERDICT_ORDER = (Status.IMPROVED, Status.PASS, Status.INCONCLUSIVE, Status.REGRESSED)


@dataclass(frozen=True)
class Verdict:
    status: Status
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    test: str = ""
    note: str = ""
    paired: bool = False
    """True when baseline and candidate were measured interleaved in this job (same-job A/B)."""
    p_value: float | None = None
    alpha: float | None = None
    confidence: float | None = None
    runs_baseline: int = 0
    runs_candidate: int = 0
    looks: int = 0
    seconds: float = 0.0
    """Wall time spent deciding, re-measurements included."""

    @property
    def failed(self) -> bool:
        return self.status in FAILING

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = Status(values["status"])
        return cls(**values)

    def with_note(self, note: str) -> Verdict:
        return replace(self, note="; ".join(n for n in (self.note, note) if n))


@dataclass(frozen=True)
class GateParams:
    """The gate's settings; see :func:`params_from_settings` for where they come from.

    Defaults: threshold 5 % (minimum effect), floor 1 %, confidence 0.99 per case, 6 looks
    (first look + 5 re-measurements: :class:`Settings`), 1 case in the family, at least 5 runs per side
    before a regressed/improved verdict.
    """

    threshold: float = Settings.threshold
    floor: float = Settings.effect_floor
    confidence: float = Settings.confidence
    looks: int = 1 + Settings.remeasure
    family_size: int = 1
    min_runs: int = 5
    confirm: bool = True

    @property
    def alpha(self) -> float:
        """Per-look, per-case significance level after the Bonferroni splits."""
        return (1 - self.confidence) / (max(1, self.looks) * max(1, self.family_size))


class Gate(Protocol):
    def judge(self, baseline: Sequence[float], candidate: Sequence[float], params: GateParams) -> Verdict:
        """Judge candidate run medians against baseline run medians (same time unit)."""
        ...

    def judge_pairs(self, baseline: Sequence[float], candidate: Sequence[float], params: GateParams) -> Verdict:
        """Judge interleaved runs: ``baseline[i]`` and ``candidate[i]`` were measured back to back."""
        ...


def classify(est: RatioEstimate, params: GateParams) -> tuple[Status, str]:
    """The verdict status for an estimate, and why (pure; property-tested for monotonicity)."""
    alpha = params.alpha
    # A decision that can fail a build needs min_runs per side (5 vs 5 is the smallest balanced
    # exact MWU reaching p < 0.01); Status.PASS only says "no regression of the minimum effect".
    enough = min(est.n_baseline, est.n_candidate) >= params.min_runs
    if enough and est.ratio >= 1 + params.threshold and est.low > 1 + params.floor and est.p_slower <= alpha:
        return Status.REGRESSED, ""
    if enough and est.high < 1 - params.threshold and est.p_faster <= alpha:
        return Status.IMPROVED, "faster beyond the threshold; consider recording a new baseline"
    if est.high < 1 + params.threshold:
        return Status.PASS, ""
    if not enough:
        return Status.INCONCLUSIVE, (f"too few runs to decide a regression ({est.n_baseline} baseline, "
                              f"{est.n_candidate} candidate; at least {params.min_runs} each)")
    floor_p = (min_attainable_p_paired(est.n_candidate) if est.paired
               else min_attainable_p(est.n_baseline, est.n_candidate))
    if est.ratio >= 1 + params.threshold and floor_p > alpha:
        return Status.INCONCLUSIVE, (f"{est.n_baseline} vs {est.n_candidate} runs cannot reach alpha {alpha:.2g}; "
                              f"more runs needed")
    return Status.INCONCLUSIVE, ""


class StatisticalGate:
    """Bootstrap CI of the ratio of run medians + exact one-sided MWU on run medians."""

    def __init__(self, resamples: int | None = None) -> None:
        self.resamples = resamples

    def judge(self, baseline: Sequence[float], candidate: Sequence[float], params: GateParams) -> Verdict:
        est = estimate(baseline, candidate, 1 - params.alpha, self.resamples)
        return self._verdict(est, params, "bootstrap {level} CI of the ratio of run medians + one-sided exact "
                                          "Mann-Whitney U on run medians")

    def judge_pairs(self, baseline: Sequence[float], candidate: Sequence[float], params: GateParams) -> Verdict:
        est = estimate_paired(baseline, candidate, 1 - params.alpha, self.resamples)
        return self._verdict(est, params, "paired runs (ABBA): bootstrap {level} CI of the median per-pair ratio + "
                                          "one-sided exact Wilcoxon signed-rank on per-pair log ratios")

    def _verdict(self, est: RatioEstimate, params: GateParams, what: str) -> Verdict:
        status, why = classify(est, params)
        p = est.p_faster if status == Status.IMPROVED else est.p_slower
        test = (f"{what.format(level=f'{est.confidence:.4%}')}; alpha {params.alpha:.2g} = "
                f"(1 - {params.confidence:g}) / ({params.looks} looks x {params.family_size} cases); "
                f"threshold {params.threshold:.1%}, floor {params.floor:.1%}")
        return Verdict(status, ratio=est.ratio, ratio_low=est.low, ratio_high=est.high, test=test, note=why,
                       p_value=p, alpha=params.alpha, confidence=est.confidence, runs_baseline=est.n_baseline,
                       runs_candidate=est.n_candidate, paired=est.paired)


MeasureMore = Callable[[int], Sequence[float]]
"""Measure n more candidate runs; return their run medians."""
MeasurePaired = Callable[[int], tuple[Sequence[float], Sequence[float]]]
"""Measure n runs of each side interleaved (baseline artifact, candidate); return both sides' medians."""


@dataclass
class Adaptive:
    """What :func:`judge_adaptively` decided, and every candidate run median it measured."""

    verdict: Verdict
    candidate: list[float] = field(default_factory=list)
    paired_baseline: list[float] = field(default_factory=list)


def undecidable(verdict: Verdict, params: GateParams, runs_now: int, runs_max: int) -> bool:
    """Futility: True when even ``runs_max`` runs are unlikely to decide this case, so more looks
    would only burn time (the reference's "mark the case noisy instead of burning runs", section 3.3).

    From half of ``runs_max`` on, the CI's log half-widths are narrowed as 1/sqrt(n) from ``runs_now``
    to ``runs_max`` around the current ratio; the case is undecidable when that projected CI could
    neither pass (high end below 1 + threshold) nor regress (ratio >= 1 + threshold and low end above
    1 + floor). Not earlier: a percentile-bootstrap CI at an extreme level over 5-10 runs is close to
    their range, which one run hit by a load burst blows up; projecting such a range stopped 8 of 15
    true 10 % slowdowns on the loaded 2-core CPU (bench/results/gate_power-cpu-*-seq-futility-any-look).
    Stopping here only ever ends in INCONCLUSIVE, so it cannot add a false REGRESSED nor a false PASS:
    the error rates stay bounded by the looks' alpha shares."""
    r, low, high = verdict.ratio, verdict.ratio_low, verdict.ratio_high
    if (verdict.status != Status.INCONCLUSIVE or r is None or low is None or high is None or runs_now >= runs_max
            or 2 * runs_now < runs_max or not (0 < low <= r <= high < math.inf)):
        return False
    shrink = math.sqrt(runs_now / runs_max)
    projected_high = r * math.exp(math.log(high / r) * shrink)
    projected_low = r * math.exp(-math.log(r / low) * shrink)
    could_pass = projected_high < 1 + params.threshold
    could_regress = r >= 1 + params.threshold and projected_low > 1 + params.floor
    return not (could_pass or could_regress)


def improvement_pending(verdict: Verdict, params: GateParams) -> bool:
    """True for a pass whose CI lies wholly below ``1 - threshold`` but whose rank test has not reached
    alpha yet: an improvement that more runs can confirm. At the first look of a stored verdict it cannot:
    10 baseline vs 5 candidate runs give an exact MWU p of at least 1/3003 = 3.3e-4, above the alpha of
    a family of 40 cases over 6 looks (0.01 / 240 = 4.2e-5), so without more looks a suite run could
    never call a case improved (found by a new-user run of the example suites: x0.57 read "pass")."""
    return (verdict.status == Status.PASS and verdict.ratio_high is not None
            and verdict.ratio_high < 1 - params.threshold)


def _pending_note(verdict: Verdict, params: GateParams, runs: int) -> str:
    return (f"faster beyond the threshold by its CI (x{verdict.ratio_high:.3f} at most), "
            f"not significant at alpha {params.alpha:.2g} after {runs} runs")


def _futile_note(runs_now: int, runs_max: int) -> str:
    return (f"undecidable at this noise (stopped after {runs_now} of at most {runs_max} runs): even {runs_max} "
            f"would not decide (projected CI straddles both the pass and the regression bounds)")


def planned_runs(params: GateParams, step: int) -> int:
    """The most candidate runs the sequential design measures for one verdict: ``step`` per look,
    ``params.looks`` looks (a confirmation of a stored-baseline regression adds as many fresh runs)."""
    return max(1, step) * max(1, params.looks)


def judge_adaptively(
    gate: Gate,
    params: GateParams,
    baseline: Sequence[float],
    candidate: Sequence[float],
    step: int,
    more: MeasureMore | None = None,
    paired: MeasurePaired | None = None,
    clock: Callable[[], float] = time.perf_counter,
    first: Verdict | None = None,
) -> Adaptive:
    """The verdict of the sequential design (section 3.4/3.5 of the reference; issue 14, item 5).

    1. Look 1: judge ``candidate`` (the first ``step`` runs) against the stored ``baseline``
       (``first``: that verdict when the caller already has it, so it is not computed twice).
    2. Not a clear pass/improvement, and ``paired`` is available: judge a fresh interleaved
       A/B instead (:func:`judge_paired`, ``step`` pairs per look), with the looks left in the
       budget (``params.looks - 1``, at least 1); the verdict is marked ``paired``.
    3. Otherwise, while inconclusive (or an improvement is pending: :func:`improvement_pending`):
       ``step`` more candidate runs per look, up to ``params.looks`` looks; it stops at the first
       decided look (every look is judged at alpha = the Bonferroni share, so stopping early keeps
       the error rates: see the module docstring), or, still inconclusive, as
       soon as even the maximum of runs would not decide (:func:`undecidable`: a noisy machine).
    4. A stored-baseline Status.REGRESSED is confirmed on as many fresh candidate runs (both must say
       Status.REGRESSED; the false-alarm rate is then about the product of both).
    """
    started = clock()
    cand = list(candidate)
    verdict = first if first is not None else gate.judge(baseline, cand, params)
    looks = 1
    if verdict.status in (Status.REGRESSED, Status.INCONCLUSIVE) and paired is not None:
        result = judge_paired(gate, params, paired, step, clock, looks=max(1, params.looks - 1))
        result.candidate[:0] = cand
        result.verdict = replace(result.verdict, looks=result.verdict.looks + 1, seconds=clock() - started)
        return result
    most = planned_runs(params, step)
    while ((verdict.status == Status.INCONCLUSIVE or improvement_pending(verdict, params))
           and more is not None and looks < params.looks):
        if verdict.status == Status.INCONCLUSIVE and undecidable(verdict, params, len(cand), most):
            verdict = verdict.with_note(_futile_note(len(cand), most))
            break
        cand.extend(more(step))
        looks += 1
        verdict = gate.judge(baseline, cand, params)
    if verdict.status == Status.REGRESSED and more is not None and params.confirm:
        fresh = list(more(len(cand)))
        check = gate.judge(baseline, fresh, params)
        cand.extend(fresh)
        if check.status == Status.REGRESSED:
            verdict = verdict.with_note(f"confirmed on {len(fresh)} fresh runs (x{check.ratio:.3f})")
        else:
            verdict = replace(verdict, status=Status.INCONCLUSIVE).with_note(
                f"not confirmed: {len(fresh)} fresh runs gave {check.status} (x{check.ratio:.3f})")
    if improvement_pending(verdict, params):
        verdict = verdict.with_note(_pending_note(verdict, params, len(cand)))
    verdict = replace(verdict, looks=looks, seconds=clock() - started)
    return Adaptive(verdict.with_note(_noise_note(baseline, cand, params)), cand)


def judge_paired(
    gate: Gate, params: GateParams, paired: MeasurePaired, step: int, clock: Callable[[], float] = time.perf_counter,
    looks: int | None = None,
) -> Adaptive:
    """Same-job A/B, sequential: ``step`` interleaved pairs per look, up to ``looks`` looks (default
    ``params.looks``), judged pair by pair (``Gate.judge_pairs``) at ``params.alpha``; it stops at the
    first decided look. The last look is topped up to the pairs at which a decision at alpha is
    attainable (exact signed-rank: 1/2^n) when the schedule would end below it, so a true regression
    can always be found."""
    started = clock()
    step = max(1, step)
    looks = max(1, params.looks if looks is None else looks)
    attainable = min_pairs(params.alpha)
    pa: list[float] = []
    pb: list[float] = []
    verdict = Verdict(Status.INCONCLUSIVE)
    for look in range(looks):
        n = step if look < looks - 1 else max(step, attainable - len(pa))
        new_a, new_b = paired(n)
        pa.extend(new_a)
        pb.extend(new_b)
        verdict = replace(gate.judge_pairs(pa, pb, params), paired=True, looks=look + 1)
        if verdict.status != Status.INCONCLUSIVE and not improvement_pending(verdict, params):
            break
        most = max(step * looks, attainable)
        if look < looks - 1 and undecidable(verdict, params, len(pb), most):
            verdict = verdict.with_note(_futile_note(len(pb), most))
            break
    if improvement_pending(verdict, params):
        verdict = verdict.with_note(_pending_note(verdict, params, len(pb)))
    verdict = replace(verdict, seconds=clock() - started)
    return Adaptive(verdict.with_note(_noise_note(pa, pb, params)), pb, pa)


def _noise_note(baseline: Sequence[float], candidate: Sequence[float], params: GateParams) -> str:
    """Section 3.3: run-to-run CV above threshold/2 makes a case noisy; say so."""
    worst = max(run_cv(baseline), run_cv(candidate))
    if worst > params.threshold / 2:
        return (f"noisy: run-to-run CV of run medians {worst:.1%} > half the threshold "
                f"({params.threshold / 2:.1%}); expect inconclusive verdicts or raise the threshold")
    return ""


def timing_mode_difference(baseline_mode: Mapping[str, Any], candidate_mode: Mapping[str, Any]) -> str:
    """'' when the two timing modes measure the same thing, else what differs (", "-joined).

    Both are normalized first (:func:`trtperf.timing.mode.normalize_timing_mode`): a baseline recorded
    before a field existed measured in that field's default.
    """
    baseline_mode, candidate_mode = normalize_timing_mode(baseline_mode), normalize_timing_mode(candidate_mode)
    keys = sorted(set(baseline_mode) | set(candidate_mode))
    diffs = [
        f"{k}: baseline {baseline_mode.get(k)!r}, this run {candidate_mode.get(k)!r}"
        for k in keys
        if baseline_mode.get(k) != candidate_mode.get(k)
    ]
    return ", ".join(diffs)
