"""Same-job A/B plumbing: ABBA interleaving, finding the baseline's artifact, judging with a hook."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from trtperf.cache import ArtifactCache
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.engine import Engine, Worker
from trtperf.record.baselines import BaselineStore
from trtperf.record.results import FAILED, PASSED, CaseResult
from trtperf.timing.loop import TimingPlan, measure
from trtperf.verdict.gate import StatisticalGate
from trtperf.verdict.judging import TimingHook, judge_case
from trtperf.verdict.paired import abba_order, measure_interleaved

PLAN = TimingPlan(runs=1, warmup_s=0.0, min_time_s=0.0, min_iters=3)


class FakeWorker:
    """Reports a fixed latency per inference; logs which side ran, in order."""

    def __init__(self, side: str, latency: float, log: list[str]) -> None:
        self.side, self.latency, self.log = side, latency, log

    def run(self, iterations: int) -> list[float]:
        return [self.latency] * iterations

    def close(self) -> None:
        self.log.append(self.side)


def _maker(side: str, latency: float, log: list[str]) -> object:
    def make(n: int) -> Sequence[Worker]:
        return [FakeWorker(side, latency, log) for _ in range(n)]

    return make


def test_abba_order() -> None:
    assert [abba_order(i) for i in range(4)] == [(0, 1), (1, 0), (0, 1), (1, 0)]


def test_measure_interleaved_alternates_sides_with_fresh_workers() -> None:
    log: list[str] = []
    a, b = measure_interleaved(_maker("A", 0.001, log), _maker("B", 0.002, log), 1, PLAN, 4)  # type: ignore[arg-type]
    assert "".join(log) == "ABBAABBA"
    assert len(a) == len(b) == 4
    assert {r.latencies[0] for r in a} == {0.001} and {r.latencies[0] for r in b} == {0.002}


def test_cache_find_by_key(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    def produce(tmp: Path) -> None:
        tmp.write_bytes(b"plan")

    entry = cache.get_or_create("engine-x", {"a": 1}, produce, suffix=".plan")
    assert cache.find(entry.key) == entry.path
    assert cache.find("0" * 64) is None
    assert cache.find("../../etc") is None
    entry.path.write_bytes(b"tampered")  # same size, other digest: never loaded
    assert cache.find(entry.key) is None


class FakeEngine(Engine):
    def __init__(self, latency: float, log: list[str]) -> None:
        self.latency, self.log, self.closed = latency, log, False

    def infer(self, inputs: object) -> dict[str, object]:  # type: ignore[override]
        return {}

    def make_workers(self, inputs: object, streams: int) -> Sequence[Worker]:  # type: ignore[override]
        return [FakeWorker("old", self.latency, self.log) for _ in range(streams)]

    def close(self) -> None:
        self.closed = True


def _result(engine_key: str) -> CaseResult:
    return CaseResult(case=Case("m", "fake", "fp32", 1, 1), device={"slug": "cpu-x", "name": "x"},
                      artifact={"engine_key": engine_key}, timing_mode={"clock": "host"})


def _hook(latency: float, log: list[str], runs: int, opened: list[FakeEngine], old_latency: float) -> TimingHook:
    def open_engine(key: str) -> Engine | None:
        engine = FakeEngine(old_latency, log)
        opened.append(engine)
        return engine

    # Latencies vary a little per run (a real worker would), so the runs are not all tied.
    counter = iter(range(10_000))

    def make_varied(n: int) -> Sequence[Worker]:
        return [FakeWorker("new", latency * (1 + 0.001 * (next(counter) % 7)), log) for _ in range(n)]

    return TimingHook(make_workers=make_varied, streams=1, plan=PLAN,
                      runs=measure(make_varied, 1, TimingPlan(runs=runs, warmup_s=0.0, min_time_s=0.0, min_iters=3)),
                      batch=1, inputs={}, open_engine=open_engine)


def _store_with(tmp_path: Path, medians: list[float], engine_key: str) -> BaselineStore:
    store = BaselineStore(tmp_path)
    store.update("cpu-x", {"name": "x"}, {"m[fake-fp32-b1-s1]": {
        "stats": {"run_medians_ms": medians, "runs": len(medians), "median_ms": medians[0]},
        "timing_mode": {"clock": "host"}, "artifact": {"engine_key": engine_key}, "environment": {}}})
    return store


def test_judge_case_pairs_against_the_baselines_own_engine(tmp_path: Path) -> None:
    # The stored baseline (from another job) says 1.0 ms; this job's machine is slower for both
    # engines (2 ms): only the same-job A/B shows that the new engine is not slower.
    store = _store_with(tmp_path, [1.0, 1.01, 0.99, 1.0, 1.0], "old-key")
    log: list[str] = []
    opened: list[FakeEngine] = []
    result = _result("new-key")
    judge_case(result, Settings(runs=5), store, StatisticalGate(), 1, _hook(0.002, log, 5, opened, 0.002))
    assert result.verdict is not None and result.verdict["paired"] is True
    assert result.verdict["status"] == "pass" and result.outcome == PASSED
    assert len(opened) == 1 and opened[0].closed
    assert "old" in log


def test_judge_case_without_the_old_artifact_judges_the_stored_baseline(tmp_path: Path) -> None:
    store = _store_with(tmp_path, [1.0, 1.01, 0.99, 1.0, 1.0], "old-key")
    result = _result("new-key")
    hook = _hook(0.002, [], 5, [], 0.002)
    hook.open_engine = lambda key: None
    judge_case(result, Settings(runs=5), store, StatisticalGate(), 1, hook)
    assert result.verdict is not None and result.verdict["paired"] is False
    assert result.verdict["status"] == "regressed" and result.outcome == FAILED
    assert "no longer in the cache" in result.verdict["note"]
    assert "latency regressed: median" in result.message and "stored baseline" in result.message
    assert "confirmed on" in result.message
    assert result.stats is not None and result.stats["runs"] == 5 + 5 + 10  # first look, one more, confirmation


def test_same_engine_key_is_not_paired(tmp_path: Path) -> None:
    store = _store_with(tmp_path, [1.0, 1.01, 0.99, 1.0, 1.0], "same-key")
    opened: list[FakeEngine] = []
    result = _result("same-key")
    judge_case(result, Settings(runs=5), store, StatisticalGate(), 1, _hook(0.002, [], 5, opened, 0.001))
    assert opened == [] and result.verdict is not None and result.verdict["paired"] is False
    # Found by a new-user run: a machine slowdown under an unchanged engine read like a model regression.
    assert result.verdict["status"] == "regressed"
    assert "engine unchanged since the baseline (same artifact)" in result.verdict["note"]


def test_update_mode_does_not_remeasure(tmp_path: Path) -> None:
    store = _store_with(tmp_path, [1.0, 1.01, 0.99, 1.0, 1.0], "old-key")
    result = _result("new-key")
    judge_case(result, Settings(runs=5, update_baselines=True), store, StatisticalGate(), 1,
               _hook(0.002, [], 5, [], 0.002))
    assert result.stats is not None and result.stats["runs"] == 5
    assert result.outcome == PASSED


@pytest.mark.parametrize("medians", [[], [1.0, -1.0]])
def test_a_broken_baseline_entry_fails_with_the_fix(tmp_path: Path, medians: list[float]) -> None:
    from trtperf.errors import BaselineError

    store = BaselineStore(tmp_path)
    store.update("cpu-x", {}, {"m[fake-fp32-b1-s1]": {"stats": {"run_medians_ms": medians}}})
    with pytest.raises(BaselineError, match="--trtperf-update-baselines"):
        judge_case(_result("k"), Settings(), store, StatisticalGate(), 1, _hook(0.002, [], 5, [], 0.002))


def test_gpu_clock_differences_are_visible_on_the_verdict(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    store.update("cpu-x", {}, {"m[fake-fp32-b1-s1]": {
        "stats": {"run_medians_ms": [2.0, 2.0, 2.0, 2.0, 2.0], "runs": 5}, "timing_mode": {"clock": "host"},
        "artifact": {"engine_key": "k"}, "environment": {"gpu_clocks": {"sm_mhz_max": 1980, "throttled": False}}}})
    result = _result("k")
    result.environment = {"gpu_clocks": {"sm_mhz_max": 1590, "throttled": True, "throttle_reasons": ["sw_thermal"]}}
    judge_case(result, Settings(runs=5), store, StatisticalGate(), 1, _hook(0.002, [], 5, [], 0.002))
    assert result.verdict is not None
    assert "GPU throttled while timing this run (sw_thermal)" in result.verdict["note"]
    assert "SM clock differs: baseline 1980 MHz, this run 1590 MHz" in result.verdict["note"]
