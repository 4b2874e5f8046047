"""Pure statistics of the regression gate (reference/regression-statistics.md, section 3.3).

The unit of replication is the *run* (fresh workers, own warm-up): ``a`` and ``b`` are run
summaries (medians) of the baseline and the candidate, in any one time unit. Iterations of one
run are correlated, so testing pooled iterations gives false alarms (section 3.7).

* Effect size: r = median(b) / median(a), with a percentile-bootstrap CI computed on the log
  scale (so it does not depend on the time unit). The bootstrap distribution of a sample median is
  computed exactly (:func:`median_bootstrap_distribution`: order statistics of a multinomial
  resample), so the CI is the limit of infinitely many resamples, deterministic, and costs
  milliseconds instead of the 0.1-0.5 s that 200,000 drawn resamples took per look at the small
  alphas of a many-case session (issue 14, item 5). Drawn resamples remain available (``resamples=``).
* Significance: the exact one-sided Mann-Whitney U test on the run medians. It is
  distribution-free and exact at the small run counts used here, where the percentile
  bootstrap is known to be too narrow; it bounds the false-alarm rate by alpha whenever the
  runs of both sides are exchangeable (same engine, same machine state).
* Same-job A/B (:func:`estimate_paired`): run i of the baseline and run i of the candidate were
  measured back to back, so a burst of machine load hits both. The pair is the unit: the ratio
  is exp(median of per-pair log ratios), its CI a bootstrap over pairs, and the test the exact
  one-sided Wilcoxon signed-rank test on the per-pair log ratios.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BOOTSTRAP_SEED = 0
Values = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class RatioEstimate:
    """Candidate / baseline ratio of run medians, its CI, and one-sided MWU p-values."""

    ratio: float
    low: float
    high: float
    confidence: float
    p_slower: float
    """P-value of 'the candidate's runs are slower' (MWU, alternative greater)."""
    p_faster: float
    n_baseline: int
    n_candidate: int
    paired: bool = False


def _as_positive(values: Values, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what}: expected a non-empty list of run medians")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{what}: run medians must be finite and positive, got {arr.tolist()}")
    return arr


EXACT_SUPPORT_LIMIT = 4_000_000
"""Above this many (baseline median, candidate median) support pairs, fall back to drawn resamples."""


def median_bootstrap_distribution(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact distribution of the median of a bootstrap resample of ``x`` (n values, any unit).

    Returns (values, probabilities), probabilities summing to 1. With x sorted and N_i the number of
    the n draws among the i smallest (Binomial(n, i/n)): for odd n the median is X_(m), m = (n+1)/2,
    and P(X_(m) <= x_i) = P(N_i >= m). For even n it is (X_(m) + X_(m+1))/2, m = n/2, and for i <= j
    P(X_(m) <= x_i, X_(m+1) > x_j) = P(N_i = N_j = m) = C(n, m) (i/n)^m ((n-j)/n)^(n-m), so the joint
    CDF H(i, j) is P(N_i >= m) minus that (i <= j), or P(N_j >= m+1) (i > j); the pmf is its double
    difference. Ties need no care: equal values are distinct positions.
    """
    from scipy.stats import binom

    xs = np.sort(np.asarray(x, dtype=np.float64))
    n = xs.size
    pos = np.arange(n + 1) / n
    if n % 2 == 1:
        m = (n + 1) // 2
        cdf = binom.sf(m - 1, n, pos)  # P(N_i >= m), i = 0..n
        return xs, np.clip(np.diff(cdf), 0.0, None)
    m = n // 2
    at_least_m = binom.sf(m - 1, n, pos)
    above_m = binom.sf(m, n, pos)
    i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    both_m = math.comb(n, m) * (i / n) ** m * ((n - j) / n) ** (n - m)
    joint = np.where(i <= j, at_least_m[i] - both_m, above_m[j])
    pmf = joint[1:, 1:] - joint[:-1, 1:] - joint[1:, :-1] + joint[:-1, :-1]
    lo, hi = np.triu_indices(n)  # X_(m) <= X_(m+1): only i <= j carries mass
    probs = np.clip(pmf[lo, hi], 0.0, None)
    return (xs[lo] + xs[hi]) / 2, probs


def _tail_quantiles(values: np.ndarray, probs: np.ndarray, tail: float) -> tuple[float, float]:
    """(lowest v with P(V <= v) >= tail, highest v with P(V >= v) >= tail) of a discrete distribution."""
    order = np.argsort(values, kind="stable")
    v, p = values[order], probs[order] / probs.sum()
    below = np.cumsum(p)
    above = np.cumsum(p[::-1])[::-1]
    eps = 1e-12  # rounding in the sums must not skip an atom that holds the tail exactly
    low = v[int(np.searchsorted(below, tail - eps, side="left"))]
    high = v[int(np.nonzero(above >= tail - eps)[0][-1])]
    return float(low), float(high)


def exact_log_ratio_ci(a: np.ndarray, b: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """The percentile-bootstrap CI of median(log b) - median(log a) with infinitely many resamples,
    as exp() of the bounds; None when the support is too large to enumerate (EXACT_SUPPORT_LIMIT)."""
    va, pa = median_bootstrap_distribution(np.log(a))
    vb, pb = median_bootstrap_distribution(np.log(b))
    keep_a, keep_b = pa > 0, pb > 0
    va, pa, vb, pb = va[keep_a], pa[keep_a], vb[keep_b], pb[keep_b]
    if va.size * vb.size > EXACT_SUPPORT_LIMIT:
        return None
    diff = (vb[:, None] - va[None, :]).ravel()
    prob = (pb[:, None] * pa[None, :]).ravel()
    low, high = _tail_quantiles(diff, prob, (1 - confidence) / 2)
    return math.exp(low), math.exp(high)


def bootstrap_resamples(alpha: float) -> int:
    """Enough resamples that the alpha/2 tail holds ~50 points; bounded for speed."""
    return int(min(200_000, max(2_000, math.ceil(100 / alpha))))


def log_ratio_ci(
    a: np.ndarray, b: np.ndarray, confidence: float, resamples: int, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """Percentile-bootstrap CI of median(log b) - median(log a), as exp() of the bounds."""
    la, lb = np.log(a), np.log(b)
    rng = np.random.default_rng(seed)
    # The same index draws for any values of the same sizes: the CI moves monotonically with
    # the data and only shifts when the time unit changes.
    ia = rng.integers(0, la.size, size=(resamples, la.size), dtype=np.int32)
    ib = rng.integers(0, lb.size, size=(resamples, lb.size), dtype=np.int32)
    diff = np.median(lb[ib], axis=1) - np.median(la[ia], axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(diff, [tail, 1 - tail], method="linear")
    return math.exp(float(low)), math.exp(float(high))


def mwu_pvalues(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Exact one-sided Mann-Whitney U p-values: (candidate slower, candidate faster)."""
    from scipy import stats

    slower = stats.mannwhitneyu(b, a, alternative="greater", method="exact").pvalue
    faster = stats.mannwhitneyu(b, a, alternative="less", method="exact").pvalue
    return float(slower), float(faster)


def min_attainable_p(n_a: int, n_b: int) -> float:
    """The smallest one-sided exact MWU p-value for these sample sizes: 1 / C(n_a + n_b, n_a)."""
    return 1.0 / math.comb(n_a + n_b, n_a)


def min_balanced_runs(alpha: float, at_least: int = 2) -> int:
    """Smallest n such that n vs n runs can reach a one-sided p <= alpha (5 vs 5: 1/252)."""
    n = max(1, at_least)
    while min_attainable_p(n, n) > alpha:
        n += 1
    return n


def estimate(
    baseline: Values, candidate: Values, confidence: float, resamples: int | None = None
) -> RatioEstimate:
    """Ratio of run medians with its bootstrap CI at ``confidence``, plus the MWU p-values."""
    a = _as_positive(baseline, "baseline")
    b = _as_positive(candidate, "candidate")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    ratio = float(np.median(b) / np.median(a))
    if a.size < 2 or b.size < 2:
        low, high = 0.0, math.inf  # no spread to resample: no information
        p_slower = p_faster = 1.0
    else:
        exact = None if resamples else exact_log_ratio_ci(a, b, confidence)
        low, high = exact or log_ratio_ci(a, b, confidence, resamples or bootstrap_resamples(1 - confidence))
        p_slower, p_faster = mwu_pvalues(a, b)
    return RatioEstimate(
        ratio=ratio, low=low, high=high, confidence=confidence, p_slower=p_slower, p_faster=p_faster,
        n_baseline=int(a.size), n_candidate=int(b.size),
    )


def min_attainable_p_paired(n: int) -> float:
    """The smallest one-sided exact signed-rank p-value for n pairs: 1 / 2^n."""
    return 0.5 ** n


def min_pairs(alpha: float, at_least: int = 2) -> int:
    """Smallest number of pairs whose exact signed-rank test can reach p <= alpha (10 pairs: 1/1024)."""
    n = max(1, at_least)
    while min_attainable_p_paired(n) > alpha:
        n += 1
    return n


def estimate_paired(
    baseline: Values, candidate: Values, confidence: float, resamples: int | None = None,
    seed: int = BOOTSTRAP_SEED,
) -> RatioEstimate:
    """Per-pair analysis of interleaved runs: ``baseline[i]`` and ``candidate[i]`` ran back to back."""
    from scipy import stats

    a = _as_positive(baseline, "baseline")
    b = _as_positive(candidate, "candidate")
    if a.size != b.size:
        raise ValueError(f"paired runs need equal counts, got {a.size} baseline and {b.size} candidate")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    d = np.log(b) - np.log(a)
    ratio = math.exp(float(np.median(d)))
    if d.size < 2:
        return RatioEstimate(ratio, 0.0, math.inf, confidence, 1.0, 1.0, 1, 1, paired=True)
    tail = (1 - confidence) / 2
    if resamples:
        rng = np.random.default_rng(seed)
        index = rng.integers(0, d.size, size=(resamples, d.size), dtype=np.int32)
        low, high = np.quantile(np.median(d[index], axis=1), [tail, 1 - tail], method="linear")
    else:  # exact: the bootstrap distribution of the median of the per-pair log ratios
        low, high = _tail_quantiles(*median_bootstrap_distribution(d), tail)
    p_slower = float(stats.wilcoxon(d, alternative="greater", method="exact").pvalue)
    p_faster = float(stats.wilcoxon(d, alternative="less", method="exact").pvalue)
    return RatioEstimate(ratio, math.exp(float(low)), math.exp(float(high)), confidence, p_slower, p_faster,
                         int(a.size), int(b.size), paired=True)


def run_cv(medians: Sequence[float]) -> float:
    """Run-to-run coefficient of variation of run medians (0 for fewer than 2 runs)."""
    arr = np.asarray(medians, dtype=np.float64)
    if arr.size < 2 or float(arr.mean()) <= 0:
        return 0.0
    return float(arr.std(ddof=1) / arr.mean())


# Clock facts compared between baseline and candidate: GPU backends record a ClockReport
# (trtperf/timing/gpu.py) as environment["gpu_clocks"]; CPU results have none, so nothing is compared.
GPU_CLOCKS_KEY = "gpu_clocks"
SM_CLOCK_TOLERANCE = 0.03  # section 3.1: a side whose SM clock is < 97 % of the other's is suspect
DRIVER_KEYS = ("driver", "driver_version")
# Recorded, not keyed (an upgrade is compared with the old numbers: that is how its regression is
# caught), but said: a TensorRT-RTX baseline judged on full TensorRT is a different product.
VERSION_KEYS = ("backend_version", "trt_flavour", "trt_version")


def _busy_clock(report: Mapping[str, Any]) -> float | None:
    value = report.get("sm_mhz_max")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _reasons(report: Mapping[str, Any]) -> str:
    reasons = report.get("throttle_reasons")
    return ", ".join(map(str, reasons)) if isinstance(reasons, list) else str(reasons or "")


def environment_differences(baseline: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[str]:
    """Notes when GPU clocks, throttle state, driver or backend versions differ between baseline and this run."""
    notes: list[str] = []
    b_rep, c_rep = baseline.get(GPU_CLOCKS_KEY), candidate.get(GPU_CLOCKS_KEY)
    if isinstance(c_rep, Mapping):
        if c_rep.get("throttled"):
            notes.append(f"GPU throttled while timing this run ({_reasons(c_rep)})")
        if c_rep.get("clocks_changed"):
            notes.append(f"SM clock moved {c_rep.get('sm_mhz_min')}-{c_rep.get('sm_mhz_max')} MHz in this run")
    if isinstance(b_rep, Mapping):  # read from a file a person may have edited: any value is possible
        if b_rep.get("throttled"):
            notes.append(f"the baseline was throttled ({_reasons(b_rep)})")
        if isinstance(c_rep, Mapping):
            b_clock, c_clock = _busy_clock(b_rep), _busy_clock(c_rep)
            if b_clock and c_clock and abs(c_clock / b_clock - 1) > SM_CLOCK_TOLERANCE:
                notes.append(f"SM clock differs: baseline {b_clock:.0f} MHz, this run {c_clock:.0f} MHz")
    for key in (*DRIVER_KEYS, *VERSION_KEYS):
        if key in baseline and key in candidate and baseline[key] != candidate[key]:
            notes.append(f"{key} differs: baseline {baseline[key]!r}, this run {candidate[key]!r}")
    return notes
