"""The sequential design of the gate (issue 14, item 5): short looks, more runs only while undecided.

Simulated run medians (test doubles of measurements, named ``Sim*``), judged by the real gate:

* A/A with early stopping: the false-REGRESSED rate over all looks stays within alpha, the error
  level per case that the Bonferroni split over the planned looks promises under optional stopping;
* never more candidate runs than planned (``runs x looks``), the paired A/B included;
* stops at the first decided look (no look after a pass, no re-measurement of a clear case);
* a real slowdown is still found.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from trtperf.config import BASELINE_MIN_RUNS, OLD_DESIGN, Settings
from trtperf.verdict.gate import (
    GateParams,
    StatisticalGate,
    Status,
    Verdict,
    improvement_pending,
    judge_adaptively,
    judge_paired,
    planned_runs,
    undecidable,
)
from trtperf.verdict.statistics import min_pairs

GATE = StatisticalGate(resamples=2_000)
FAST = StatisticalGate(resamples=400)  # the A/A rates rest on the exact rank tests, not the CI's resolution


class SimRuns:
    """Simulated run medians: lognormal run-to-run noise around ``center``; records each request."""

    def __init__(self, center: float, sigma: float, rng: np.random.Generator) -> None:
        self.center, self.sigma, self.rng = center, sigma, rng
        self.calls: list[int] = []

    def __call__(self, n: int) -> list[float]:
        self.calls.append(n)
        return list(self.center * np.exp(self.sigma * self.rng.standard_normal(n)))


class SimPairs:
    """Simulated interleaved pairs: a load factor shared by both runs of a pair, plus own noise."""

    def __init__(self, ratio: float, sigma: float, rng: np.random.Generator) -> None:
        self.ratio, self.sigma, self.rng = ratio, sigma, rng
        self.calls: list[int] = []

    def __call__(self, n: int) -> tuple[Sequence[float], Sequence[float]]:
        self.calls.append(n)
        load = np.exp(0.05 * self.rng.standard_normal(n))
        a = load * np.exp(self.sigma * self.rng.standard_normal(n))
        b = self.ratio * load * np.exp(self.sigma * self.rng.standard_normal(n))
        return list(a), list(b)


def _aa_false_alarms(params: GateParams, trials: int, seed: int, step: int = 5) -> int:
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(trials):
        more = SimRuns(1.0, 0.02, rng)
        baseline = SimRuns(1.0, 0.02, rng)(BASELINE_MIN_RUNS)
        out = judge_adaptively(FAST, params, baseline, more(step), step, more=more)
        flagged += out.verdict.status == Status.REGRESSED
    return flagged


def test_aa_false_alarms_with_early_stopping_stay_within_alpha() -> None:
    # No magnitude rule (threshold and floor 0) and no confirmation: only the significance of each look
    # guards against a false alarm. confidence 0.8: alpha 0.2 per case, 0.2/6 per look over 6 looks.
    params = GateParams(threshold=0.0, floor=0.0, confidence=0.8, looks=6, confirm=False)
    trials = 60
    flagged = _aa_false_alarms(params, trials, seed=1)
    bound = int(stats.binom.ppf(0.999, trials, 0.2))  # P[Binom(60, 0.2) > bound] <= 0.001
    assert flagged <= bound, f"{flagged}/{trials} A/A cases flagged over 6 looks at alpha 0.2"


def test_paired_aa_false_alarms_with_early_stopping_stay_within_alpha() -> None:
    params = GateParams(threshold=0.0, floor=0.0, confidence=0.8, looks=6, confirm=False)
    rng = np.random.default_rng(3)
    trials, flagged = 60, 0
    for _ in range(trials):
        out = judge_paired(FAST, params, SimPairs(1.0, 0.01, rng), step=5)
        flagged += out.verdict.status == Status.REGRESSED
    assert flagged <= int(stats.binom.ppf(0.999, trials, 0.2))


@settings(max_examples=25, deadline=None)
@given(step=st.integers(1, 8), looks=st.integers(1, 7), ratio=st.sampled_from([0.9, 1.0, 1.03, 1.05, 1.2]),
       sigma=st.sampled_from([0.002, 0.02, 0.1]), seed=st.integers(0, 2**16))
def test_never_more_runs_than_planned_and_stops_at_the_first_decided_look(
        step: int, looks: int, ratio: float, sigma: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    params = GateParams(looks=looks, confirm=False)
    baseline = SimRuns(1.0, sigma, rng)(BASELINE_MIN_RUNS)
    more = SimRuns(ratio, sigma, rng)
    out = judge_adaptively(GATE, params, baseline, more(step), step, more=more)
    assert sum(more.calls) <= planned_runs(params, step) == step * looks
    assert len(out.candidate) == sum(more.calls) and out.verdict.looks == len(more.calls)
    # every look before the last was undecided (or a pending improvement); the last is decided unless the looks ran out
    for k in range(1, len(more.calls)):
        earlier = GATE.judge(baseline, out.candidate[: step * k], params)
        assert earlier.status == Status.INCONCLUSIVE or improvement_pending(earlier, params)
    v = out.verdict
    assert v.status != Status.INCONCLUSIVE or v.looks == looks or "stopped after" in v.note


@settings(max_examples=25, deadline=None)
@given(step=st.integers(1, 8), looks=st.integers(1, 7), ratio=st.sampled_from([0.9, 1.0, 1.05, 1.3]),
       family=st.sampled_from([1, 30]), seed=st.integers(0, 2**16))
def test_paired_never_more_pairs_than_planned_and_stops_when_decided(
        step: int, looks: int, ratio: float, family: int, seed: int) -> None:
    params = GateParams(looks=looks, family_size=family)
    pairs = SimPairs(ratio, 0.01, np.random.default_rng(seed))
    out = judge_paired(GATE, params, pairs, step)
    # step per look; the last look tops up to the pairs that can reach alpha at all
    assert sum(pairs.calls) <= max(step * looks, min_pairs(params.alpha))
    assert all(n == step for n in pairs.calls[:-1]) and out.verdict.looks == len(pairs.calls)
    v = out.verdict
    assert v.status != Status.INCONCLUSIVE or v.looks == looks or "stopped after" in v.note


def test_a_clear_pass_takes_one_short_look() -> None:
    rng = np.random.default_rng(4)
    more = SimRuns(1.0, 0.003, rng)
    params = GateParams(looks=6, family_size=32)
    out = judge_adaptively(GATE, params, SimRuns(1.0, 0.003, rng)(10), more(5), 5, more=more)
    assert out.verdict.status == Status.PASS and more.calls == [5] and out.verdict.looks == 1


def test_a_clear_improvement_is_called_improved_in_a_suite_sized_family() -> None:
    # The new-user run: 40 cases, 10 baseline runs vs 5 candidate runs, a case x0.57 faster. The first
    # look's exact MWU cannot go below 1/3003 > alpha 0.01/240, so it must look again, not stop at "pass".
    rng = np.random.default_rng(9)
    params = GateParams(looks=6, family_size=40)
    baseline = SimRuns(1.0, 0.03, rng)(10)
    more = SimRuns(0.57, 0.03, rng)
    candidate = more(5)
    first = GATE.judge(baseline, candidate, params)
    assert first.status == Status.PASS and improvement_pending(first, params)
    out = judge_adaptively(GATE, params, baseline, candidate, 5, more=more, first=first)
    assert out.verdict.status == Status.IMPROVED and 1 < out.verdict.looks <= 6


def test_a_clear_improvement_is_followed_on_the_paired_path_too() -> None:
    # 5 pairs give a smallest signed-rank p of 1/32: a paired A/B must look on, as the stored path does.
    params = GateParams(looks=6, family_size=40)
    pairs = SimPairs(0.57, 0.02, np.random.default_rng(11))
    out = judge_paired(GATE, params, pairs, step=5)
    assert out.verdict.status == Status.IMPROVED and len(pairs.calls) > 1


def test_a_faster_case_the_runs_cannot_confirm_passes_with_a_note() -> None:
    rng = np.random.default_rng(10)
    params = GateParams(looks=1, family_size=40)  # no second look allowed
    baseline = SimRuns(1.0, 0.03, rng)(10)
    more = SimRuns(0.57, 0.03, rng)
    out = judge_adaptively(GATE, params, baseline, more(5), 5, more=more)
    assert out.verdict.status == Status.PASS and "faster beyond the threshold by its CI" in out.verdict.note


def test_a_paired_ab_counts_the_stored_look_in_the_budget() -> None:
    # stored look 1 (undecided against a slower stored baseline) + at most looks - 1 paired looks
    rng = np.random.default_rng(5)
    params = GateParams(looks=3, confirm=False)
    pairs = SimPairs(1.05, 0.05, rng)  # noisy, at the threshold: stays undecided
    out = judge_adaptively(GATE, params, SimRuns(0.8, 0.05, rng)(10), SimRuns(1.0, 0.05, rng)(5), 5,
                           paired=pairs)
    assert out.verdict.paired and len(pairs.calls) <= 2 and out.verdict.looks == 1 + len(pairs.calls)


def test_a_real_slowdown_is_found_within_the_looks() -> None:
    # 2 % run-to-run noise, a 10 % slowdown, today's defaults (threshold 5 %, 6 looks of 5 runs) over 30 cases
    s = Settings()
    params = GateParams(threshold=s.threshold, floor=s.effect_floor, confidence=s.confidence,
                        looks=1 + s.remeasure, family_size=30)
    rng = np.random.default_rng(6)
    found = 0
    for _ in range(20):
        more = SimRuns(1.10, 0.02, rng)
        out = judge_adaptively(GATE, params, SimRuns(1.0, 0.02, rng)(s.record_runs), more(s.runs), s.runs, more=more)
        found += out.verdict.status == Status.REGRESSED
    assert found >= 18


def test_defaults_keep_the_old_maximum_and_reproduce_the_old_design() -> None:
    s = Settings()
    assert s.runs * (1 + s.remeasure) == OLD_DESIGN["runs"] * (1 + OLD_DESIGN["remeasure"]) == 30
    assert s.record_runs == BASELINE_MIN_RUNS and Settings(runs=12).record_runs == 12
    assert s.runs * (s.warmup + s.min_time) < OLD_DESIGN["runs"] * (OLD_DESIGN["warmup"] + OLD_DESIGN["min_time"]) / 5


def test_a_hopelessly_noisy_case_stops_early_as_inconclusive() -> None:
    # 20 % run-to-run noise against a 5 % threshold: 30 runs could not decide; stop after the first look
    rng = np.random.default_rng(7)
    more = SimRuns(1.0, 0.2, rng)
    params = GateParams(looks=6, family_size=24)
    out = judge_adaptively(GATE, params, SimRuns(1.0, 0.2, rng)(10), more(5), 5, more=more)
    assert out.verdict.status == Status.INCONCLUSIVE and len(more.calls) < 6 and "stopped after" in out.verdict.note


def test_a_large_slowdown_on_a_noisy_machine_is_still_measured_on_and_found() -> None:
    rng = np.random.default_rng(8)
    found = 0
    for _ in range(10):
        more = SimRuns(2.0, 0.1, rng)
        out = judge_adaptively(GATE, GateParams(looks=6, family_size=24), SimRuns(1.0, 0.1, rng)(10), more(5), 5,
                               more=more)
        found += out.verdict.status == Status.REGRESSED
    assert found >= 9


@settings(max_examples=100, deadline=None)
@given(ratio=st.floats(0.5, 2.0), low=st.floats(0.01, 1.0), high=st.floats(1.0, 100.0),
       status=st.sampled_from([Status.PASS, Status.REGRESSED, Status.IMPROVED, Status.INCONCLUSIVE]),
       now=st.integers(1, 40), most=st.integers(1, 40), threshold=st.sampled_from([0.01, 0.05]))
def test_futility_only_stops_undecided_cases_and_never_at_the_maximum(
        ratio: float, low: float, high: float, status: Status, now: int, most: int, threshold: float) -> None:
    v = Verdict(status, ratio=ratio, ratio_low=ratio * low, ratio_high=ratio * high)
    params = GateParams(threshold=threshold, floor=threshold / 2)
    stop = undecidable(v, params, now, most)
    if stop:  # only undecided cases, only from half of the planned runs on, never at the last look
        assert status == Status.INCONCLUSIVE and most <= 2 * now < 2 * most
    # a narrower CI around the same ratio is never more hopeless
    narrower = Verdict(status, ratio=ratio, ratio_low=ratio * low ** 0.5, ratio_high=ratio * high ** 0.5)
    assert not undecidable(narrower, params, now, most) or stop
