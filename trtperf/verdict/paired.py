"""Same-job A/B: the baseline's own artifact re-measured interleaved with the candidate.

Run-to-run noise within one job is a fraction of a percent on a GPU, against up to tens of
percent between jobs, so when the engine the baseline was measured on is still in the cache
it is the better reference (issue 6, item 5). Runs alternate A B B A A B ... so that drift
during the job hits both sides alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from trtperf.engine import Worker
from trtperf.timing.loop import TimingPlan, measure
from trtperf.timing.stats import RunSamples

MakeWorkers = Callable[[int], Sequence[Worker]]


def abba_order(index: int) -> tuple[int, int]:
    """Which side goes first in pair ``index``: (0, 1) = baseline first, (1, 0) = candidate first.

    Alternating pairs give A B B A A B B A: a linear drift adds the same to both sides."""
    return (0, 1) if index % 2 == 0 else (1, 0)


def measure_interleaved(
    make_baseline: MakeWorkers, make_candidate: MakeWorkers, streams: int, plan: TimingPlan, runs: int
) -> tuple[list[RunSamples], list[RunSamples]]:
    """``runs`` runs of each side in ABBA order, each run with fresh workers and its own warm-up."""
    one = replace(plan, runs=1)
    makers = (make_baseline, make_candidate)
    out: tuple[list[RunSamples], list[RunSamples]] = ([], [])
    for i in range(runs):
        for side in abba_order(i):
            out[side].extend(measure(makers[side], streams, one))
    return out
