"""Summary statistics of timed runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trtperf.timing.stats import LatencyStats, RunSamples, summarize


def _run(ms: list[float], wall_s: float) -> RunSamples:
    return RunSamples(latencies=tuple(v / 1e3 for v in ms), wall_s=wall_s, inferences=len(ms))


def test_summarize_known_samples() -> None:
    runs = [_run([float(v) for v in range(1, 11)], 0.05), _run([float(v) for v in range(11, 21)], 0.15)]
    stats = summarize(runs, batch=4)
    assert stats.median_ms == pytest.approx(10.5)
    assert stats.p90_ms == pytest.approx(18.1)  # linear interpolation: 19 * 0.9 = 17.1 -> 18 + 0.1
    assert stats.p99_ms == pytest.approx(19.81)
    assert stats.mean_ms == pytest.approx(10.5)
    assert stats.stdev_ms == pytest.approx(math.sqrt(35.0))  # sample stdev of 1..20
    assert stats.min_ms == pytest.approx(1.0)
    assert stats.cv == pytest.approx(math.sqrt(35.0) / 10.5)
    assert stats.throughput == pytest.approx(20 * 4 / 0.2)  # items per second over the runs' wall time
    assert (stats.samples, stats.runs) == (20, 2)
    assert stats.run_medians_ms == pytest.approx((5.5, 15.5))


def test_throughput_counts_concurrent_streams() -> None:
    # two streams of 10 ms each, running side by side for 0.1 s: 20 inferences in 0.1 s
    stats = summarize([RunSamples(latencies=(0.01,) * 20, wall_s=0.1, inferences=20)], batch=8)
    assert stats.throughput == pytest.approx(20 * 8 / 0.1)
    assert stats.median_ms == pytest.approx(10.0)


def test_a_single_sample() -> None:
    stats = summarize([_run([2.0], 0.002)], batch=1)
    assert (stats.median_ms, stats.p99_ms, stats.stdev_ms, stats.cv) == (2.0, 2.0, 0.0, 0.0)


@pytest.mark.parametrize("runs", [[], [_run([], 0.1)], [_run([1.0], 0.1), _run([], 0.1)]])
def test_summarize_needs_samples_in_every_run(runs: list[RunSamples]) -> None:
    with pytest.raises(ValueError, match="at least one run, each with at least one sample"):
        summarize(runs, batch=1)


def test_run_medians_are_per_run_not_pooled() -> None:
    stats = summarize([_run([1.0, 1.0, 100.0], 1.0), _run([2.0, 3.0, 4.0, 5.0], 1.0)], batch=1)
    assert stats.run_medians_ms == pytest.approx((1.0, 3.5))
    assert stats.median_ms == pytest.approx(3.0)


latencies_ms = st.lists(st.floats(0.01, 1e3), min_size=1, max_size=40)
run_lists = st.lists(st.tuples(latencies_ms, st.floats(1e-3, 10.0)), min_size=1, max_size=5)


@given(run_lists, st.floats(1e-3, 1e3), st.integers(1, 64))
def test_scaling_every_latency_scales_every_time_statistic(runs: list[tuple[list[float], float]], scale: float,
                                                           batch: int) -> None:
    base = summarize([_run(ms, wall) for ms, wall in runs], batch)
    scaled = summarize([_run([v * scale for v in ms], wall * scale) for ms, wall in runs], batch)
    for name in ("median_ms", "p90_ms", "p99_ms", "mean_ms", "stdev_ms", "min_ms"):
        # abs: rounding of the scaled inputs leaves a spread of ~1e-16 of the values where there was none.
        tiny = 1e-12 * scale * max(max(ms) for ms, _ in runs)
        assert getattr(scaled, name) == pytest.approx(getattr(base, name) * scale, rel=1e-9, abs=tiny), name
    assert scaled.run_medians_ms == pytest.approx(tuple(v * scale for v in base.run_medians_ms), rel=1e-9)
    assert scaled.cv == pytest.approx(base.cv, rel=1e-6, abs=1e-12)
    assert scaled.throughput == pytest.approx(base.throughput / scale, rel=1e-9)
    assert (scaled.samples, scaled.runs) == (base.samples, base.runs)


@given(run_lists, st.integers(1, 64))
def test_statistics_are_ordered_and_match_numpy(runs: list[tuple[list[float], float]], batch: int) -> None:
    stats = summarize([_run(ms, wall) for ms, wall in runs], batch)
    pooled = np.concatenate([np.asarray(ms, dtype=np.float64) for ms, _ in runs])
    assert stats.min_ms <= stats.median_ms <= stats.p90_ms <= stats.p99_ms <= float(pooled.max()) * (1 + 1e-12)
    assert stats.median_ms == pytest.approx(float(np.median(pooled)), rel=1e-9)
    assert stats.samples == pooled.size
    assert stats.run_medians_ms == pytest.approx(tuple(float(np.median(ms)) for ms, _ in runs), rel=1e-9)


@given(run_lists, st.integers(1, 64))
def test_json_round_trip(runs: list[tuple[list[float], float]], batch: int) -> None:
    stats = summarize([_run(ms, wall) for ms, wall in runs], batch)
    data = stats.to_json()
    assert isinstance(data["run_medians_ms"], list)
    assert LatencyStats.from_json(data) == stats


def test_enqueue_median_pools_the_runs_and_is_none_on_cpu() -> None:
    gpu = [RunSamples(latencies=(1e-3,) * 3, wall_s=0.01, inferences=3, enqueue=(1e-4, 2e-4, 9e-4)),
           RunSamples(latencies=(1e-3,) * 2, wall_s=0.01, inferences=2, enqueue=(3e-4, 4e-4))]
    assert summarize(gpu, 1).enqueue_median_ms == pytest.approx(0.3)
    assert summarize([_run([1.0, 2.0], 0.01)], 1).enqueue_median_ms is None


def test_stats_json_without_enqueue_time_still_loads() -> None:
    data = summarize([_run([1.0, 2.0], 0.01)], 1).to_json()
    del data["enqueue_median_ms"]  # written before the field existed
    assert LatencyStats.from_json(data).enqueue_median_ms is None
