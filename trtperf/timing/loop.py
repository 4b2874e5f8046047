"""The one timing loop, shared by every backend.

A backend supplies *workers*, one per stream: each runs ``n`` inferences back to back and
returns their per-iteration latencies. CPU workers time with ``perf_counter``; GPU workers with
CUDA events on their own stream (see ``trtperf.timing.cuda``). This module owns the protocol:
repeated runs that each start fresh (new workers), a warm-up, and samples until both a minimum
time and a minimum count hold, with all streams running concurrently on their own threads.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass

import numpy as np

from trtperf.config import Settings
from trtperf.engine import EnqueueTimed, OutputProbe, Worker
from trtperf.timing.stats import RunSamples


@dataclass(frozen=True)
class TimingPlan:
    """How one case is timed: ``runs`` fresh runs, each warmed up, then sampled until both
    ``min_time_s`` and ``min_iters`` hold. Defaults are the settings' (:class:`Settings`)."""

    runs: int = Settings.runs
    warmup_s: float = Settings.warmup
    min_time_s: float = Settings.min_time
    min_iters: int = Settings.min_iters
    max_time_s: float = 60.0
    """Safety cap per run: a run stops after this long even below ``min_iters``."""
    stable_tolerance: float = 0.02
    """After ``warmup_s``, warm up until two consecutive chunk medians agree within this fraction."""
    max_extra_warmup: float = 4.0
    """...for at most this many times ``warmup_s`` more; then the run is flagged unstable."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TimingPlan:
        return cls(runs=settings.runs, warmup_s=settings.warmup, min_time_s=settings.min_time,
                   min_iters=settings.min_iters)


def _chunk_size(done: int, elapsed: float, remaining_s: float) -> int:
    """Iterations for the next call: small at first, then about 50 ms worth, so deadlines hold."""
    if done == 0 or elapsed <= 0:
        return 1
    per_iter = elapsed / done
    return max(1, min(1000, int(min(0.05, max(remaining_s, 0.0) + 1e-3) / per_iter)))


def _warm_up(worker: Worker, plan: TimingPlan) -> bool:
    """Warm up for ``warmup_s``, then until stable (issue 6); False when it never settled."""
    deadline_warm = time.perf_counter() + plan.warmup_s
    worker.run(1)  # at least one warm-up inference even when warmup_s == 0
    warm_done, warm_t0 = 1, deadline_warm - plan.warmup_s  # the clock includes that first call
    while time.perf_counter() < deadline_warm:
        n = _chunk_size(warm_done, time.perf_counter() - warm_t0, deadline_warm - time.perf_counter())
        worker.run(n)
        warm_done += n
    if plan.warmup_s <= 0 or plan.stable_tolerance <= 0:
        return True  # warm-up explicitly off
    # Chunks of ~a quarter of warmup_s (3..50 iterations): lazy init, allocator growth and clock
    # ramp show up as chunk medians that still move (reference section 2, "Warmup").
    deadline = time.perf_counter() + plan.max_extra_warmup * plan.warmup_s
    t0 = time.perf_counter()
    previous = statistics.median(worker.run(3))
    per_iter = max((time.perf_counter() - t0) / 3, 1e-9)
    chunk = max(3, min(50, int(plan.warmup_s / 4 / per_iter)))
    while True:
        current = statistics.median(worker.run(chunk))
        if abs(current - previous) <= plan.stable_tolerance * previous:
            return True
        if time.perf_counter() >= deadline:
            return False
        previous = current


def _drive(worker: Worker, plan: TimingPlan, start: threading.Barrier, out: list[float], stable: list[bool]) -> None:
    stable.append(_warm_up(worker, plan))
    if isinstance(worker, EnqueueTimed):
        worker.enqueue_samples.clear()  # keep the timed window's only
    start.wait()
    t0 = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - t0
        done = len(out)
        if (done >= plan.min_iters and elapsed >= plan.min_time_s) or elapsed >= plan.max_time_s:
            break
        n = _chunk_size(done, elapsed, plan.min_time_s - elapsed)
        if elapsed >= plan.min_time_s:
            n = min(n, plan.min_iters - done)  # time is met; only the count is missing
        out.extend(worker.run(n))


def measure_run(workers: Sequence[Worker], plan: TimingPlan) -> RunSamples:
    """One run: every worker on its own thread, timed windows aligned by a barrier."""
    results: list[list[float]] = [[] for _ in workers]
    stable: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(workers) + 1)

    def target(index: int) -> None:
        try:
            _drive(workers[index], plan, barrier, results[index], stable)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    with suppress(threading.BrokenBarrierError):
        barrier.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    latencies = tuple(v for per_worker in results for v in per_worker)
    enqueue = tuple(v for w in workers if isinstance(w, EnqueueTimed) for v in w.enqueue_samples)
    return RunSamples(latencies=latencies, wall_s=wall, inferences=len(latencies), warmup_stable=all(stable),
                      enqueue=enqueue)


def measure(make_workers: Callable[[int], Sequence[Worker]], streams: int, plan: TimingPlan,
            on_run: Callable[[list[RunSamples]], None] | None = None,
            after_run: Callable[[Sequence[Worker]], None] | None = None,
            before_run: Callable[[], None] | None = None) -> list[RunSamples]:
    """``plan.runs`` runs, each with fresh workers from ``make_workers(streams)``.

    ``before_run()`` is called before each run's workers are made (e.g. the CPU machine probe,
    :mod:`trtperf.timing.machine_probe`); ``after_run(workers)`` after each run, before its workers close (e.g.
    :func:`timed_outputs` for parity through the timed path); ``on_run(runs so far)`` after each
    (progress reporting).
    """
    runs: list[RunSamples] = []
    for _ in range(plan.runs):
        if before_run is not None:
            before_run()
        with ExitStack() as stack:
            workers = list(make_workers(streams))
            for worker in workers:
                stack.callback(worker.close)
            runs.append(measure_run(workers, plan))
            if after_run is not None:
                after_run(workers)
        if on_run is not None:
            on_run(runs)
    return runs


def timed_outputs(workers: Sequence[Worker]) -> list[dict[str, np.ndarray]] | None:
    """One more inference on every worker, all at once, and what each one's launch wrote.

    The outputs are poisoned first (:class:`OutputProbe`), so a launch that writes nothing (an
    empty CUDA graph) or only part of them fails parity instead of passing on stale data. None when
    a worker cannot read its outputs back (``output_probe`` missing).
    """
    probes: list[OutputProbe] = []
    for worker in workers:
        probe = getattr(worker, "output_probe", None)
        if probe is None:
            return None
        probes.append(probe)
    for probe in probes:
        probe.poison()
    errors: list[BaseException] = []

    def one(worker: Worker) -> None:
        try:
            worker.run(1)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(w,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [probe.read() for probe in probes]


class CallableWorker:
    """A CPU worker timing a Python callable with ``perf_counter`` (one inference per call)."""

    def __init__(self, infer: Callable[[], object], on_close: Callable[[], None] | None = None,
                 read_outputs: Callable[[object], dict[str, np.ndarray]] | None = None) -> None:
        """``read_outputs(result)`` turns ``infer()``'s return value into named outputs; given, the
        worker keeps its last result and has an ``output_probe`` (parity through the timed path)."""
        self._infer = infer
        self._on_close = on_close
        self._last: object = None
        self.output_probe: OutputProbe | None = None
        if read_outputs is not None:
            reader = read_outputs

            def poison() -> None:
                self._last = None

            def read() -> dict[str, np.ndarray]:
                if self._last is None:
                    raise RuntimeError("no inference ran since the outputs were poisoned")
                return reader(self._last)

            self.output_probe = OutputProbe(poison=poison, read=read)

    def run(self, iterations: int) -> list[float]:
        clock = time.perf_counter
        infer = self._infer
        out = []
        result: object = None
        for _ in range(iterations):
            t0 = clock()
            result = infer()
            out.append(clock() - t0)
        if self.output_probe is not None:
            self._last = result
        return out

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
