"""Hypothesis properties of the gate (issue 6, item 6).

* invariance to the time unit: seconds, milliseconds or microseconds give the same verdict;
* monotonicity: a slower candidate never gets a better verdict;
* identical distributions are rarely flagged (A/A), for several noise shapes.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trtperf.verdict.gate import (
    VERDICT_ORDER,
    GateParams,
    StatisticalGate,
    Status,
    Verdict,
    classify,
)
from trtperf.verdict.statistics import estimate

# Fewer resamples keep the properties fast; each property holds for any resample count, because
# the same seeded index draws are used for both sides of every comparison.
GATE = StatisticalGate(resamples=2_000)
PARAMS = GateParams(threshold=0.05, floor=0.01, confidence=0.99, looks=3, family_size=1)

run_medians = st.lists(st.floats(min_value=0.5, max_value=2.0, allow_nan=False, allow_infinity=False),
                       min_size=2, max_size=12)
thresholds = st.sampled_from([0.01, 0.03, 0.05, 0.10])


def _rank(verdict: Verdict) -> int:
    return VERDICT_ORDER.index(verdict.status)


def _near_a_boundary(v: Verdict, params: GateParams) -> bool:
    """True when rounding in another unit could move a quantity across a decision boundary."""
    assert v.ratio is not None and v.ratio_low is not None and v.ratio_high is not None and v.p_value is not None
    edges = [(v.ratio, 1 + params.threshold), (v.ratio_low, 1 + params.floor), (v.ratio_high, 1 + params.threshold),
             (v.ratio_high, 1 - params.threshold), (v.p_value, params.alpha)]
    return any(math.isclose(x, edge, rel_tol=1e-9) for x, edge in edges)


@settings(max_examples=60, deadline=None)
@given(a=run_medians, b=run_medians, scale=st.sampled_from([1e-3, 1e3, 1e-6, 0.37, 4096.0]),
       threshold=thresholds)
@example(a=[1.0, 1.0, 1.0, 1.0, 1.0], b=[1.2, 1.2, 1.2, 1.2, 1.2], scale=1e-3, threshold=0.05)
def test_verdict_does_not_depend_on_the_time_unit(a: list[float], b: list[float], scale: float,
                                                  threshold: float) -> None:
    params = GateParams(threshold=threshold, floor=min(0.01, threshold / 2), looks=3)
    v1 = GATE.judge(a, b, params)
    v2 = GATE.judge([x * scale for x in a], [x * scale for x in b], params)
    assert v1.ratio is not None and v2.ratio is not None
    assert math.isclose(v1.ratio, v2.ratio, rel_tol=1e-9)
    assert v1.status == v2.status or _near_a_boundary(v1, params)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=run_medians, b=run_medians, data=st.data(), threshold=thresholds)
@example(a=[1.0] * 5, b=[1.0] * 5, data=None, threshold=0.05)
def test_a_slower_candidate_never_gets_a_better_verdict(a: list[float], b: list[float], data: st.DataObject | None,
                                                        threshold: float) -> None:
    # Each candidate run gets slower by its own non-negative amount (a uniform scale is a special case).
    if data is None:
        slower = [x * 1.3 for x in b]
    else:
        bumps = data.draw(st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=len(b), max_size=len(b)))
        slower = [x * (1 + d) for x, d in zip(b, bumps, strict=True)]
    params = GateParams(threshold=threshold, floor=min(0.01, threshold / 2), looks=3)
    before, after = GATE.judge(a, b, params), GATE.judge(a, slower, params)
    assert _rank(after) >= _rank(before), (before, after)


@settings(max_examples=60, deadline=None)
@given(a=run_medians, seed=st.integers(0, 2**32 - 1))
def test_the_same_runs_in_another_order_are_never_flagged(a: list[float], seed: int) -> None:
    b = list(np.random.default_rng(seed).permutation(a))
    assert GATE.judge(a, b, PARAMS).status not in (Status.REGRESSED, Status.IMPROVED)


@settings(max_examples=40, deadline=None)
@given(est_ratio=st.floats(0.5, 2.0), width=st.floats(0.0, 0.5), p=st.floats(0.0, 1.0), n=st.integers(1, 30),
       bump=st.floats(0.0, 0.5))
def test_classify_is_monotone_in_the_estimate(est_ratio: float, width: float, p: float, n: int, bump: float) -> None:
    from trtperf.verdict.statistics import RatioEstimate

    lo, hi = est_ratio * (1 - width), est_ratio * (1 + width)
    e1 = RatioEstimate(est_ratio, lo, hi, 0.99, p, 1 - p, n, n)
    # Slower: ratio and both CI ends move up, the 'slower' p-value down, the 'faster' one up.
    e2 = RatioEstimate(est_ratio * (1 + bump), lo * (1 + bump), hi * (1 + bump), 0.99, p * (1 - bump),
                       min(1.0, (1 - p) * (1 + bump)), n, n)
    assert VERDICT_ORDER.index(classify(e2, PARAMS)[0]) >= VERDICT_ORDER.index(classify(e1, PARAMS)[0])


def _draw(family: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """Run medians of one side under the null: same distribution for both sides."""
    if family == "normal-2%":
        return 1.0 + 0.02 * rng.standard_normal(n)
    if family == "lognormal-10%":
        return np.exp(0.10 * rng.standard_normal(n))
    if family == "bimodal":  # e.g. two CPU placements: most runs fast, some 8 % slower
        return np.where(rng.random(n) < 0.3, 1.08, 1.0) * (1 + 0.005 * rng.standard_normal(n))
    if family == "spiky":  # rare runs hit by a neighbour: +20..50 %
        return (1 + 0.01 * rng.standard_normal(n)) * np.where(rng.random(n) < 0.1, rng.uniform(1.2, 1.5, n), 1.0)
    raise AssertionError(family)


@settings(max_examples=8, deadline=None)
@given(family=st.sampled_from(["normal-2%", "lognormal-10%", "bimodal", "spiky"]), seed=st.integers(0, 2**16),
       n=st.sampled_from([5, 10, 15]))
def test_identical_distributions_are_rarely_flagged(family: str, seed: int, n: int) -> None:
    # No magnitude floor here (threshold = floor = 0), so only the statistics stand between noise
    # and a false alarm: at alpha 0.1 the Status.REGRESSED rate must stay near its bound (one-sided CI
    # tail alpha/2 = 5 %). Binomial(200, 0.05) exceeds 20 with probability < 0.001.
    rng = np.random.default_rng(seed)
    params = GateParams(threshold=0.0, floor=0.0, confidence=0.9, looks=1)
    flagged = 0
    for _ in range(200):
        est = estimate(_draw(family, rng, n), _draw(family, rng, n), 1 - params.alpha, resamples=500)
        flagged += classify(est, params)[0] == Status.REGRESSED
    assert flagged <= 20, f"{flagged}/200 A/A comparisons flagged for {family}, n={n}"


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_a_real_shift_of_twice_the_threshold_is_detected(seed: int) -> None:
    # The other half of the A/A property: a gate that never flags would pass it. 10 vs 10 runs with
    # 2 % run-to-run noise and a 10 % slowdown, default settings (threshold 5 %, 3 looks).
    rng = np.random.default_rng(seed)
    detected = sum(
        classify(estimate(_draw("normal-2%", rng, 10), 1.10 * _draw("normal-2%", rng, 10),
                          1 - PARAMS.alpha, resamples=2_000), PARAMS)[0] == Status.REGRESSED
        for _ in range(50)
    )
    assert detected >= 45


pairs = st.lists(st.tuples(st.floats(min_value=0.5, max_value=2.0), st.floats(min_value=0.5, max_value=2.0)),
                 min_size=2, max_size=14)


@settings(max_examples=60, deadline=None)
@given(runs=pairs, scale=st.sampled_from([1e-3, 1e3, 1e-6, 0.37]), threshold=thresholds)
def test_paired_verdict_does_not_depend_on_the_time_unit(runs: list[tuple[float, float]], scale: float,
                                                         threshold: float) -> None:
    params = GateParams(threshold=threshold, floor=min(0.01, threshold / 2), looks=3)
    a, b = [x for x, _ in runs], [y for _, y in runs]
    v1 = GATE.judge_pairs(a, b, params)
    v2 = GATE.judge_pairs([x * scale for x in a], [y * scale for y in b], params)
    assert v1.ratio is not None and v2.ratio is not None and math.isclose(v1.ratio, v2.ratio, rel_tol=1e-9)
    assert v1.status == v2.status or _near_a_boundary(v1, params)


@settings(max_examples=80, deadline=None)
@given(runs=pairs, data=st.data(), threshold=thresholds)
def test_a_slower_paired_candidate_never_gets_a_better_verdict(runs: list[tuple[float, float]], data: st.DataObject,
                                                               threshold: float) -> None:
    a, b = [x for x, _ in runs], [y for _, y in runs]
    bumps = data.draw(st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=len(b), max_size=len(b)))
    params = GateParams(threshold=threshold, floor=min(0.01, threshold / 2), looks=3)
    before = GATE.judge_pairs(a, b, params)
    after = GATE.judge_pairs(a, [y * (1 + d) for y, d in zip(b, bumps, strict=True)], params)
    assert _rank(after) >= _rank(before), (before, after)


@settings(max_examples=6, deadline=None)
@given(family=st.sampled_from(["normal-2%", "lognormal-10%", "bimodal", "spiky"]), seed=st.integers(0, 2**16),
       n=st.sampled_from([6, 10, 15]))
def test_identical_paired_distributions_are_rarely_flagged(family: str, seed: int, n: int) -> None:
    from trtperf.verdict.statistics import estimate_paired

    # As the unpaired A/A property, with a shared per-pair load factor that both sides see. The
    # exact signed-rank test bounds the Status.REGRESSED rate by alpha = 10 % here (the bootstrap CI of a
    # median of few pairs adds little): P[Binom(200, 0.1) > 34] < 0.001.
    rng = np.random.default_rng(seed)
    params = GateParams(threshold=0.0, floor=0.0, confidence=0.9, looks=1)
    flagged = 0
    for _ in range(200):
        load = np.where(rng.random(n) < 0.3, 2.0, 1.0)
        est = estimate_paired(load * _draw(family, rng, n), load * _draw(family, rng, n), 1 - params.alpha,
                              resamples=500)
        flagged += classify(est, params)[0] == Status.REGRESSED
    assert flagged <= 34, f"{flagged}/200 paired A/A comparisons flagged for {family}, n={n}"


# --- the exact bootstrap distribution of the median (issue 14, item 5) -------------------------------

@settings(max_examples=25, deadline=None)
@given(x=st.lists(st.floats(min_value=0.5, max_value=2.0), min_size=1, max_size=9))
def test_exact_median_distribution_matches_drawn_resamples(x: list[float]) -> None:
    from trtperf.verdict.statistics import median_bootstrap_distribution

    values, probs = median_bootstrap_distribution(np.asarray(x))
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-9) and np.all(probs >= 0)
    arr = np.asarray(x)
    drawn = np.median(arr[np.random.default_rng(0).integers(0, arr.size, (20_000, arr.size))], axis=1)
    for v in np.unique(values):
        exact_cdf = float(probs[values <= v + 1e-12].sum())
        assert abs(exact_cdf - float(np.mean(drawn <= v + 1e-12))) < 0.02


@settings(max_examples=60, deadline=None)
@given(a=run_medians, b=run_medians, scale=st.sampled_from([1e-3, 1e3, 0.37]),
       bumps=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=12, max_size=12))
def test_exact_ci_is_unit_free_and_moves_with_the_candidate(a: list[float], b: list[float], scale: float,
                                                             bumps: list[float]) -> None:
    est = estimate(a, b, 0.99)
    scaled = estimate([x * scale for x in a], [y * scale for y in b], 0.99)
    assert math.isclose(est.low, scaled.low, rel_tol=1e-9) and math.isclose(est.high, scaled.high, rel_tol=1e-9)
    slower = estimate(a, [y * (1 + d) for y, d in zip(b, bumps, strict=False)], 0.99)
    assert slower.low >= est.low * (1 - 1e-12) and slower.high >= est.high * (1 - 1e-12)
    assert est.low <= est.ratio <= est.high


def test_exact_ci_agrees_with_many_drawn_resamples() -> None:
    rng = np.random.default_rng(11)
    for na, nb in ((10, 5), (10, 10), (10, 30), (15, 15)):
        a, b = rng.lognormal(0, 0.03, na), rng.lognormal(0.02, 0.03, nb)
        for confidence in (0.9, 0.99):
            exact, drawn = estimate(a, b, confidence), estimate(a, b, confidence, resamples=100_000)
            assert abs(math.log(exact.low / drawn.low)) < 0.004 and abs(math.log(exact.high / drawn.high)) < 0.004
