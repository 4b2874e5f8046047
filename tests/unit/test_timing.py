"""The timing loop, driven by test doubles: runs, stopping rule, fresh workers, concurrency, errors."""

from __future__ import annotations

import threading
import time

import pytest

from trtperf.timing.loop import CallableWorker, TimingPlan, measure

FIRST_CALL_LATENCY = 123.0  # a value no timed sample has: the warm-up call must not be recorded


class FakeWorker:
    """Test double for a backend worker: sleeps ``latency_s`` per inference and reports it."""

    def __init__(self, index: int, latency_s: float = 0.0005, fail_on_call: int | None = None,
                 probe: ConcurrencyProbe | None = None) -> None:
        self.index = index
        self.latency_s = latency_s
        self.fail_on_call = fail_on_call
        self.probe = probe
        self.calls: list[int] = []
        self.threads: set[int] = set()
        self.closed = False

    def run(self, iterations: int) -> list[float]:
        assert not self.closed, "run() after close()"
        self.calls.append(iterations)
        self.threads.add(threading.get_ident())
        if self.fail_on_call is not None and len(self.calls) >= self.fail_on_call:
            raise InjectedFailure(f"worker {self.index} failed on call {len(self.calls)}")
        if self.probe is not None:
            self.probe.enter()
        time.sleep(self.latency_s * iterations)
        if self.probe is not None:
            self.probe.leave()
        if len(self.calls) == 1:
            return [FIRST_CALL_LATENCY] + [self.latency_s] * (iterations - 1)
        return [self.latency_s] * iterations

    def close(self) -> None:
        self.closed = True

    @property
    def iterations(self) -> int:
        return sum(self.calls)


class InjectedFailure(Exception):
    """Raised by a FakeWorker on purpose."""


class ConcurrencyProbe:
    """Counts how many workers are inside ``run`` at the same moment."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def enter(self) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def leave(self) -> None:
        with self._lock:
            self.active -= 1


class FakeWorkerFactory:
    """Test double for ``Engine.make_workers``: records every worker it made, per call."""

    def __init__(self, **worker_kwargs: object) -> None:
        self.worker_kwargs = worker_kwargs
        self.batches: list[list[FakeWorker]] = []
        self.open_at_creation: list[int] = []

    def __call__(self, streams: int) -> list[FakeWorker]:
        self.open_at_creation.append(sum(not w.closed for ws in self.batches for w in ws))
        workers = [FakeWorker(i, **self.worker_kwargs) for i in range(streams)]  # type: ignore[arg-type]
        self.batches.append(workers)
        return workers

    @property
    def all(self) -> list[FakeWorker]:
        return [w for ws in self.batches for w in ws]


def _plan(**kwargs: float) -> TimingPlan:
    values: dict[str, float] = {"runs": 2, "warmup_s": 0.0, "min_time_s": 0.0, "min_iters": 5}
    values.update(kwargs)
    return TimingPlan(**values)  # type: ignore[arg-type]


def test_runs_each_get_fresh_workers_that_are_closed() -> None:
    factory = FakeWorkerFactory()
    runs = measure(factory, streams=2, plan=_plan(runs=3))
    assert len(runs) == 3
    assert [len(ws) for ws in factory.batches] == [2, 2, 2]
    assert len({id(w) for w in factory.all}) == 6
    assert all(w.closed for w in factory.all)
    assert factory.open_at_creation == [0, 0, 0]  # the previous run's workers were closed first


def test_min_iters_per_stream_when_time_is_already_met() -> None:
    factory = FakeWorkerFactory()
    runs = measure(factory, streams=3, plan=_plan(runs=1, min_iters=30, min_time_s=0.0005))
    (run,) = runs
    assert len(run.latencies) == 3 * 30
    assert run.inferences == len(run.latencies)


def test_min_time_when_the_count_is_already_met() -> None:
    factory = FakeWorkerFactory(latency_s=0.001)
    (run,) = measure(factory, streams=1, plan=_plan(runs=1, min_iters=1, min_time_s=0.05))
    assert run.wall_s >= 0.05
    assert sum(run.latencies) >= 0.05 * 0.5  # time was spent in inferences, not idling
    assert len(run.latencies) > 1


def test_max_time_caps_a_run() -> None:
    factory = FakeWorkerFactory(latency_s=0.001)
    started = time.perf_counter()
    (run,) = measure(factory, streams=1, plan=_plan(runs=1, min_iters=10**9, max_time_s=0.05))
    assert time.perf_counter() - started < 5.0
    assert 0 < len(run.latencies) < 10**9


def test_warm_up_runs_first_and_is_not_recorded() -> None:
    factory = FakeWorkerFactory()
    runs = measure(factory, streams=2, plan=_plan(runs=2, warmup_s=0.01, min_iters=5))
    for run, workers in zip(runs, factory.batches, strict=True):
        assert FIRST_CALL_LATENCY not in run.latencies
        assert all(w.calls[0] == 1 for w in workers)
        assert sum(w.iterations for w in workers) > len(run.latencies)


def test_streams_run_concurrently_on_their_own_threads() -> None:
    probe = ConcurrencyProbe()
    factory = FakeWorkerFactory(latency_s=0.002, probe=probe)
    measure(factory, streams=3, plan=_plan(runs=1, min_time_s=0.05, min_iters=5))
    workers = factory.all
    assert probe.max_active == 3
    assert all(len(w.threads) == 1 for w in workers)
    assert len(set().union(*(w.threads for w in workers))) == 3
    assert threading.get_ident() not in set().union(*(w.threads for w in workers))


@pytest.mark.parametrize("fail_on_call", [1, 4], ids=["in-warm-up", "while-timed"])
def test_a_worker_exception_propagates_and_workers_are_closed(fail_on_call: int) -> None:
    factory = FakeWorkerFactory(fail_on_call=fail_on_call)
    with pytest.raises(InjectedFailure, match=f"failed on call {fail_on_call}"):
        measure(factory, streams=2, plan=_plan(runs=3, min_time_s=0.01, min_iters=50))
    assert len(factory.batches) == 1  # no further run started
    assert all(w.closed for w in factory.all)


def test_an_exception_making_workers_propagates() -> None:
    def make_workers(streams: int) -> list[FakeWorker]:
        raise InjectedFailure("no context")

    with pytest.raises(InjectedFailure, match="no context"):
        measure(make_workers, streams=1, plan=_plan())


def test_callable_worker_times_each_call_and_closes() -> None:
    calls: list[int] = []
    closed: list[bool] = []
    worker = CallableWorker(lambda: calls.append(1), on_close=lambda: closed.append(True))
    latencies = worker.run(7)
    assert len(latencies) == 7 == len(calls)
    assert all(v >= 0 for v in latencies)
    worker.close()
    assert closed == [True]
    CallableWorker(lambda: None).close()  # no hook: nothing to do


def test_callable_worker_latency_covers_the_call() -> None:
    (latency,) = CallableWorker(lambda: time.sleep(0.01)).run(1)
    assert latency >= 0.01


def test_warm_up_does_not_overshoot_its_time() -> None:
    # 2 ms per inference, 20 ms of warm-up: a few dozen warm-up inferences, not a 1000-iteration chunk.
    factory = FakeWorkerFactory(latency_s=0.002)
    (run,) = measure(factory, streams=1, plan=_plan(runs=1, warmup_s=0.02, min_iters=1))
    (worker,) = factory.all
    warm_up_iterations = worker.iterations - len(run.latencies)
    assert warm_up_iterations < 100, worker.calls


class EnqueueTimedFake(FakeWorker):
    """Test double for a GPU worker: also reports a host enqueue time per inference."""

    ENQUEUE_S = 0.0002
    WARMUP_ENQUEUE_S = 9.0  # a value no timed enqueue sample has

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.enqueue_samples: list[float] = []

    def run(self, iterations: int) -> list[float]:
        first = not self.calls
        out = super().run(iterations)
        self.enqueue_samples.extend([self.WARMUP_ENQUEUE_S if first else self.ENQUEUE_S] * iterations)
        return out


def test_enqueue_times_of_the_timed_window_reach_the_run() -> None:
    runs = measure(lambda n: [EnqueueTimedFake(i) for i in range(n)], streams=2, plan=_plan(runs=2))
    for run in runs:
        assert len(run.enqueue) == len(run.latencies)  # warm-up's samples dropped, both streams kept
        assert set(run.enqueue) == {EnqueueTimedFake.ENQUEUE_S}


def test_cpu_workers_report_no_enqueue_time() -> None:
    runs = measure(FakeWorkerFactory(), streams=1, plan=_plan(runs=1))
    assert runs[0].enqueue == ()
