"""Summary statistics of timed runs (pure functions).

The gate compares *runs*, not pooled iterations: iterations within one run are correlated,
so pooled tests give false alarms (reference/regression-statistics.md, section 3.7). Each run's
median is kept; the headline numbers come from all samples pooled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np

QUANTILE_METHOD: Final = "linear"


@dataclass(frozen=True)
class RunSamples:
    """One timed run: per-iteration latencies (seconds) pooled over its streams."""

    latencies: tuple[float, ...]
    wall_s: float
    inferences: int
    warmup_stable: bool = True
    """False when the warm-up never settled (consecutive chunk medians kept moving)."""
    enqueue: tuple[float, ...] = ()
    """GPU workers: host seconds to enqueue each inference (trtexec's "Enqueue Time"); empty on CPU."""


@dataclass(frozen=True)
class LatencyStats:
    """Latency statistics in milliseconds, plus throughput in items per second."""

    median_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    stdev_ms: float
    min_ms: float
    cv: float
    throughput: float
    samples: int
    runs: int
    run_medians_ms: tuple[float, ...]
    enqueue_median_ms: float | None = None
    """Median host time to enqueue one inference (GPU backends), else None."""
    # The rest of pytest-benchmark's statistics (issue 15), pooled samples; None in results of trtperf < 0.2.
    max_ms: float | None = None
    q1_ms: float | None = None
    """First quartile (25th percentile, linear interpolation)."""
    q3_ms: float | None = None
    iqr_outliers: int | None = None
    """Samples outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] (pytest-benchmark's ``iqr_outliers``)."""
    stddev_outliers: int | None = None
    """Samples outside mean +- one standard deviation (pytest-benchmark's ``stddev_outliers``)."""
    ld15iqr_ms: float | None = None
    """Lowest sample within 1.5 IQR of Q1 (Tukey's lower whisker, pytest-benchmark's ``ld15iqr``)."""
    hd15iqr_ms: float | None = None
    """Highest sample within 1.5 IQR of Q3 (Tukey's upper whisker)."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_medians_ms"] = list(self.run_medians_ms)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatencyStats:
        fields = dict(data)
        fields["run_medians_ms"] = tuple(float(v) for v in fields.get("run_medians_ms", ()))
        return cls(**fields)


def summarize(runs: Sequence[RunSamples], batch: int) -> LatencyStats:
    """Pool the runs' samples for the headline numbers; keep each run's median for the gate."""
    if not runs or any(not r.latencies for r in runs):
        raise ValueError("summarize needs at least one run, each with at least one sample")
    pooled_ms = np.concatenate([np.asarray(r.latencies, dtype=np.float64) for r in runs]) * 1e3
    run_medians = tuple(float(np.median(np.asarray(r.latencies)) * 1e3) for r in runs)
    mean = float(pooled_ms.mean())
    stdev = float(pooled_ms.std(ddof=1)) if pooled_ms.size > 1 else 0.0
    wall = sum(r.wall_s for r in runs)
    inferences = sum(r.inferences for r in runs)
    p90, p99, q1, q3 = np.quantile(pooled_ms, [0.90, 0.99, 0.25, 0.75], method=QUANTILE_METHOD)
    iqr = q3 - q1
    inside = pooled_ms[(pooled_ms >= q1 - 1.5 * iqr) & (pooled_ms <= q3 + 1.5 * iqr)]
    return LatencyStats(
        median_ms=float(np.median(pooled_ms)),
        p90_ms=float(p90),
        p99_ms=float(p99),
        mean_ms=mean,
        stdev_ms=stdev,
        min_ms=float(pooled_ms.min()),
        cv=stdev / mean if mean > 0 else 0.0,
        throughput=inferences * batch / wall if wall > 0 else 0.0,
        samples=int(pooled_ms.size),
        runs=len(runs),
        run_medians_ms=run_medians,
        enqueue_median_ms=enqueue_median_ms(runs),
        max_ms=float(pooled_ms.max()),
        q1_ms=float(q1),
        q3_ms=float(q3),
        iqr_outliers=int(np.count_nonzero((pooled_ms < q1 - 1.5 * iqr) | (pooled_ms > q3 + 1.5 * iqr))),
        stddev_outliers=int(np.count_nonzero((pooled_ms < mean - stdev) | (pooled_ms > mean + stdev))),
        ld15iqr_ms=float(inside.min()),
        hd15iqr_ms=float(inside.max()),
    )


def enqueue_median_ms(runs: Sequence[RunSamples]) -> float | None:
    """Median host enqueue time per inference over the runs' samples, or None without any."""
    pooled = [v for r in runs for v in r.enqueue]
    return float(np.median(pooled)) * 1e3 if pooled else None


LAUNCH_BOUND_RATIO: Final = 0.8
"""trtexec's rule (sampleReporting.cpp): enqueue median > 0.8 x GPU compute median -> enqueue-bound."""
