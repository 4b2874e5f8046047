"""The statistical gate: pure statistics, the decision rule, and re-measurement (issue 6)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from trtperf.verdict.gate import (
    GateParams,
    StatisticalGate,
    Status,
    Verdict,
    classify,
    judge_adaptively,
    judge_paired,
)
from trtperf.verdict.statistics import (
    RatioEstimate,
    bootstrap_resamples,
    environment_differences,
    estimate,
    min_attainable_p,
    min_balanced_runs,
    run_cv,
)

GATE = StatisticalGate()


def _runs(center: float, spread: float, n: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(center * (1 + spread * rng.standard_normal(n)))


@pytest.mark.parametrize(("n_a", "n_b", "p"), [(5, 5, 1 / 252), (3, 3, 1 / 20), (10, 3, 1 / 286), (1, 1, 1 / 2)])
def test_min_attainable_p(n_a: int, n_b: int, p: float) -> None:
    assert min_attainable_p(n_a, n_b) == pytest.approx(p)


@pytest.mark.parametrize(("alpha", "n"), [(0.01, 5), (0.05, 3), (0.01 / 3, 6), (0.01 / 36, 8), (0.5, 2)])
def test_min_balanced_runs(alpha: float, n: int) -> None:
    assert min_balanced_runs(alpha) == n
    assert min_attainable_p(n, n) <= alpha < min_attainable_p(n - 1, n - 1) or n == 2


def test_bootstrap_resamples_cover_the_tail() -> None:
    assert bootstrap_resamples(0.01) == 10_000
    assert bootstrap_resamples(0.5) == 2_000
    assert bootstrap_resamples(1e-9) == 200_000


def test_estimate_of_a_clear_shift() -> None:
    a = _runs(1.0, 0.005, 10, 1)
    b = [v * 1.2 for v in _runs(1.0, 0.005, 10, 2)]
    est = estimate(a, b, 0.99)
    assert est.ratio == pytest.approx(np.median(b) / np.median(a))
    assert 1.15 < est.low < est.ratio < est.high < 1.25
    assert est.p_slower == pytest.approx(1 / math.comb(20, 10))  # complete separation
    assert est.p_faster > 0.99
    assert (est.n_baseline, est.n_candidate) == (10, 10)


def test_estimate_is_deterministic() -> None:
    a, b = _runs(1.0, 0.05, 7, 3), _runs(1.0, 0.05, 9, 4)
    assert estimate(a, b, 0.99) == estimate(a, b, 0.99)


def test_single_runs_carry_no_information() -> None:
    est = estimate([1.0], [2.0], 0.99)
    assert (est.low, est.high, est.p_slower) == (0.0, math.inf, 1.0)


@pytest.mark.parametrize("bad", [[], [1.0, 0.0], [1.0, -2.0], [float("nan"), 1.0], [float("inf")]])
def test_estimate_rejects_bad_run_medians(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="baseline"):
        estimate(bad, [1.0, 1.0], 0.99)


def test_run_cv() -> None:
    assert run_cv([1.0]) == 0.0
    assert run_cv([1.0, 1.0, 1.0]) == 0.0
    assert run_cv([1.0, 3.0]) == pytest.approx(math.sqrt(2) / 2)


def _est(ratio: float, low: float, high: float, p_slower: float = 1.0, p_faster: float = 1.0, n: int = 10
         ) -> RatioEstimate:
    return RatioEstimate(ratio, low, high, 0.99, p_slower, p_faster, n, n)


P = GateParams(threshold=0.05, floor=0.01, confidence=0.99, looks=1, family_size=1)  # alpha 0.01


@pytest.mark.parametrize(
    ("est", "status"),
    [
        (_est(1.10, 1.05, 1.15, p_slower=0.001), Status.REGRESSED),
        (_est(1.10, 1.05, 1.15, p_slower=0.02), Status.INCONCLUSIVE),  # large but not significant
        (_est(1.10, 1.005, 1.15, p_slower=0.001), Status.INCONCLUSIVE),  # CI reaches below the floor
        (_est(1.04, 1.02, 1.06, p_slower=0.001), Status.INCONCLUSIVE),  # significant but below the threshold
        (_est(1.04, 1.02, 1.049, p_slower=0.001), Status.PASS),  # a real 4 % slowdown is under the 5 % minimum effect
        (_est(1.00, 0.98, 1.02), Status.PASS),
        (_est(0.90, 0.85, 0.94, p_faster=0.001), Status.IMPROVED),
        (_est(0.90, 0.85, 0.96, p_faster=0.001), Status.PASS),  # CI high end not below 1 - threshold
        (_est(0.90, 0.85, 0.94, p_faster=0.5), Status.PASS),
        (_est(1.10, 1.05, 1.15, p_slower=0.001, n=4), Status.INCONCLUSIVE),  # fewer than min_runs
        (_est(1.00, 0.99, 1.01, n=3), Status.PASS),  # a pass needs no min_runs
    ],
)
def test_classify_table(est: RatioEstimate, status: str) -> None:
    assert classify(est, P)[0] == status


def test_alpha_is_split_over_looks_and_cases() -> None:
    params = GateParams(confidence=0.99, looks=3, family_size=12)
    assert params.alpha == pytest.approx(0.01 / 36)
    assert GateParams(confidence=0.95, looks=1, family_size=1).alpha == pytest.approx(0.05)


def test_unreachable_alpha_says_more_runs_are_needed() -> None:
    params = GateParams(looks=3, family_size=12)  # alpha 2.8e-4: 5 vs 5 can reach only 1/252
    status, why = classify(_est(1.2, 1.1, 1.3, p_slower=1 / 252, n=5), params)
    assert status == Status.INCONCLUSIVE and "cannot reach alpha" in why


def test_gate_verdict_names_its_test_and_levels() -> None:
    v = GATE.judge(_runs(1.0, 0.003, 10, 5), [x * 1.3 for x in _runs(1.0, 0.003, 10, 6)], GateParams())
    assert v.status == Status.REGRESSED and v.failed
    assert "Mann-Whitney" in v.test and "bootstrap" in v.test and "6 looks x 1 cases" in v.test
    assert v.alpha == pytest.approx(0.01 / 6) and v.confidence == pytest.approx(1 - 0.01 / 6)
    assert v.p_value is not None and v.alpha is not None and v.p_value <= v.alpha
    assert v.ratio is not None and v.ratio_low is not None and v.ratio_high is not None
    assert v.ratio_low < v.ratio < v.ratio_high


def test_verdict_json_round_trip_ignores_unknown_keys() -> None:
    v = Verdict(Status.PASS, ratio=1.0, ratio_low=0.9, ratio_high=1.1, test="t", paired=True, looks=2)
    assert Verdict.from_json(v.to_json()) == v
    assert Verdict.from_json({**v.to_json(), "added_later": 1}) == v
    assert Verdict.from_json({"status": "pass"}) == Verdict(Status.PASS)  # a results file of the first schema


class Source:
    """Deterministic fake measurements: run medians around ``center``, counting calls."""

    def __init__(self, center: float, seed: int, spread: float = 0.01) -> None:
        self.center, self.spread = center, spread
        self.rng = np.random.default_rng(seed)
        self.calls: list[int] = []

    def __call__(self, n: int) -> list[float]:
        self.calls.append(n)
        return list(self.center * (1 + self.spread * self.rng.standard_normal(n)))


def test_inconclusive_is_remeasured_until_decided() -> None:
    params = GateParams(looks=3)  # alpha 0.0033: 5 vs 5 cannot reach it, 5 vs 10 can
    more = Source(1.3, 7)
    out = judge_adaptively(GATE, params, _runs(1.0, 0.01, 5, 8), more(5), step=5, more=more)
    assert out.verdict.status == Status.REGRESSED
    assert out.verdict.looks == 2
    assert more.calls == [5, 5, 10]  # first look, one re-measurement, then the confirmation on 10 fresh runs
    assert len(out.candidate) == 20
    assert "confirmed on 10 fresh runs" in out.verdict.note


class UndecidedGate:
    """Test double: every look inconclusive, with no CI (so never futile): only the look limit stops it."""

    def judge(self, baseline: Sequence[float], candidate: Sequence[float], params: GateParams) -> Verdict:
        return Verdict(Status.INCONCLUSIVE, runs_baseline=len(baseline), runs_candidate=len(candidate))

    judge_pairs = judge


def test_remeasurement_stops_at_the_look_limit() -> None:
    params = GateParams(looks=3)
    more = Source(1.0, 9)
    out = judge_adaptively(UndecidedGate(), params, _runs(1.0, 0.03, 10, 10), more(10), step=10, more=more)
    assert out.verdict.status == Status.INCONCLUSIVE
    assert out.verdict.looks == 3 and more.calls == [10, 10, 10]


def test_a_regression_that_is_not_confirmed_is_inconclusive() -> None:
    params = GateParams(looks=1)
    baseline = _runs(1.0, 0.005, 10, 11)
    slow_once = iter([[1.3 * v for v in _runs(1.0, 0.005, 10, 12)], _runs(1.0, 0.005, 10, 13)])
    out = judge_adaptively(GATE, params, baseline, next(slow_once), step=10, more=lambda n: next(slow_once))
    assert out.verdict.status == Status.INCONCLUSIVE
    assert "not confirmed" in out.verdict.note


def test_a_pass_is_not_remeasured() -> None:
    more = Source(1.0, 14)
    out = judge_adaptively(GATE, GateParams(), _runs(1.0, 0.005, 10, 15), more(10), step=10, more=more)
    assert out.verdict.status == Status.PASS and more.calls == [10]


class PairedSource:
    def __init__(self, ratio: float, seed: int) -> None:
        self.a, self.b = Source(1.0, seed), Source(ratio, seed + 1)
        self.calls: list[int] = []

    def __call__(self, n: int) -> tuple[Sequence[float], Sequence[float]]:
        self.calls.append(n)
        return self.a(n), self.b(n)


def test_paired_ab_replaces_a_doubtful_stored_verdict() -> None:
    # The stored baseline is from a slower machine state: against it the candidate looks fine...
    # ...but the suspicious stored verdict (here: regressed) is re-judged by a same-job A/B.
    paired = PairedSource(1.0, 20)
    more = Source(1.0, 22)
    out = judge_adaptively(GATE, GateParams(), _runs(0.8, 0.005, 10, 23), more(10), step=10, more=more,
                           paired=paired)
    assert out.verdict.paired and out.verdict.status == Status.PASS
    assert paired.calls == [10] and more.calls == [10]
    assert len(out.paired_baseline) == 10 and len(out.candidate) == 20


def test_paired_looks_are_sequential_and_the_last_can_reach_alpha() -> None:
    params = GateParams(looks=3, family_size=12)  # alpha 2.8e-4 needs 12 pairs (1/4096)
    paired = PairedSource(1.3, 30)
    out = judge_paired(GATE, params, paired, step=3)
    # 3 and 6 pairs cannot reach alpha (1/8, 1/64): the last look is topped up to 12 pairs
    assert paired.calls == [3, 3, 6] and out.verdict.status == Status.REGRESSED and out.verdict.looks == 3


def test_paired_ab_stops_at_its_first_decided_look() -> None:
    paired = PairedSource(1.0, 31)
    out = judge_paired(GATE, GateParams(looks=6, family_size=30), paired, step=5)
    assert paired.calls == [5] and out.verdict.status == Status.PASS and out.verdict.looks == 1


def test_a_passing_stored_verdict_skips_the_paired_ab() -> None:
    paired = PairedSource(1.0, 40)
    out = judge_adaptively(GATE, GateParams(), _runs(1.0, 0.005, 10, 41), _runs(1.0, 0.005, 10, 42), step=10,
                           paired=paired)
    assert not out.verdict.paired and paired.calls == []


@pytest.mark.parametrize(
    ("baseline", "candidate", "expected"),
    [
        ({}, {}, []),
        ({"gpu_clocks": {"sm_mhz_max": 1980}}, {"gpu_clocks": {"sm_mhz_max": 1980}}, []),
        ({"gpu_clocks": {"sm_mhz_max": 1980}}, {"gpu_clocks": {"sm_mhz_max": 1755}}, ["SM clock differs"]),
        ({}, {"gpu_clocks": {"throttled": True, "throttle_reasons": ["sw_power_cap"]}},
         ["GPU throttled while timing this run (sw_power_cap)"]),
        ({"gpu_clocks": {"throttled": True, "throttle_reasons": ["hw_slowdown"]}}, {"gpu_clocks": {}},
         ["the baseline was throttled"]),
        ({}, {"gpu_clocks": {"clocks_changed": True, "sm_mhz_min": 1400, "sm_mhz_max": 1980}},
         ["SM clock moved 1400-1980 MHz"]),
        ({"driver": "550.1"}, {"driver": "560.2"}, ["driver differs"]),
        ({"driver": "550.1"}, {}, []),
    ],
)
def test_environment_differences(baseline: dict[str, object], candidate: dict[str, object],
                                 expected: list[str]) -> None:
    notes = environment_differences(baseline, candidate)
    assert len(notes) == len(expected)
    for note, start in zip(notes, expected, strict=True):
        assert note.startswith(start)


def test_min_pairs() -> None:
    from trtperf.verdict.statistics import min_pairs

    assert min_pairs(0.01) == 7  # 1/128
    assert min_pairs(0.01 / 3) == 9  # 1/512
    assert min_pairs(0.01 / 36) == 12  # 1/4096


def test_paired_estimate_cancels_load_bursts_that_hit_both_sides() -> None:
    from trtperf.verdict.statistics import estimate_paired

    # Half of the pairs ran during a burst that doubled both sides: unpaired, the medians of
    # either side jump between modes; per pair, the 10 % slowdown is plain.
    burst = np.array([1.0, 2.0] * 6) * (1 + 0.002 * np.random.default_rng(50).standard_normal(12))
    a = list(burst)
    b = list(burst * 1.10 * (1 + 0.002 * np.random.default_rng(51).standard_normal(12)))
    params = GateParams()
    paired = estimate_paired(a, b, 1 - params.alpha)
    assert paired.paired and 1.09 < paired.low < paired.ratio < paired.high < 1.11
    assert paired.p_slower == pytest.approx(0.5 ** 12)
    assert classify(paired, params)[0] == Status.REGRESSED
    assert GATE.judge(a, b, params).status == Status.INCONCLUSIVE  # the unpaired analysis cannot see it
    v = GATE.judge_pairs(a, b, params)
    assert v.status == Status.REGRESSED and v.paired and "Wilcoxon" in v.test


def test_paired_estimate_needs_equal_counts() -> None:
    from trtperf.verdict.statistics import estimate_paired

    with pytest.raises(ValueError, match="equal counts"):
        estimate_paired([1.0, 1.0], [1.0], 0.99)
