"""Parity through the timed path: the outputs of the very launches that are timed (issue 14).

``engine.infer`` checks one inference right after the engine loads. What is timed can differ:
CUDA-graph replays, one execution context per stream, and kernels that change while the engine
runs (TensorRT-RTX compiles shape-specialized kernels in the background and swaps them in). So
after each timed run, every worker runs one more inference with its outputs poisoned
(:func:`trtperf.timing.loop.timed_outputs`) and those outputs are compared with the same
reference and tolerances as the first check. Seen on an H200 (bench/results/trt_graph_probe_*):
a TensorRT-RTX ResNet-50 at batch 1 was right on its first launch and off by up to 0.9 in the
logits after ten, with and without CUDA graphs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trtperf.parity.compare import TwoWayParity


@dataclass(frozen=True)
class TimedPathFailure:
    """The first timed-path output that failed parity."""

    run: int
    stream: int
    report: TwoWayParity
    outputs: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class TimedPathParity:
    """Parity of every worker's outputs after every timed run."""

    checked: int
    """Outputs compared (runs x streams); 0 when the engine's workers cannot read outputs back."""
    failure: TimedPathFailure | None = None
    unreadable: bool = False

    @property
    def passed(self) -> bool:
        return self.failure is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"checked": self.checked, "passed": self.passed}
        if self.unreadable:
            out["note"] = "this engine's workers cannot read their outputs back; only the first inference was checked"
        if self.failure is not None:
            out.update(run=self.failure.run, stream=self.failure.stream, report=self.failure.report.to_json())
        return out


def check_timed_path(
    per_run: Sequence[Sequence[Mapping[str, np.ndarray]] | None],
    check: Callable[[Mapping[str, np.ndarray]], TwoWayParity],
) -> TimedPathParity:
    """Parity of ``per_run[run][stream]`` (a run is None when its workers could not read outputs)."""
    checked = 0
    unreadable = False
    for run, outputs in enumerate(per_run):
        if outputs is None:
            unreadable = True
            continue
        for stream, got in enumerate(outputs):
            checked += 1
            report = check(got)
            if not report.passed:
                return TimedPathParity(checked=checked, failure=TimedPathFailure(run, stream, report, got),
                                       unreadable=unreadable)
    return TimedPathParity(checked=checked, unreadable=unreadable)


def launch_drift(first: Mapping[str, np.ndarray], later: Mapping[str, np.ndarray]) -> float:
    """Largest absolute difference between two inferences' outputs on the same inputs (NaN-aware: a
    NaN on one side only counts as infinite)."""
    worst = 0.0
    for name, a in first.items():
        b = later.get(name)
        if b is None or np.shape(a) != np.shape(b):
            return float("inf")
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if (np.isnan(x) != np.isnan(y)).any():
            return float("inf")
        diff = np.abs(np.where(np.isnan(x), 0.0, x - y))
        worst = max(worst, float(diff.max(initial=0.0)))
    return worst


def describe_timed_path_failure(failure: TimedPathFailure, streams: int, timing_mode: Mapping[str, Any],
                                first: Mapping[str, np.ndarray] | None = None) -> str:
    """One paragraph for the case's message: which launch path, which stream, what differed, and
    (given ``first``, the first inference's outputs) how far the launches drifted apart."""
    path = "CUDA-graph replays" if timing_mode.get("cuda_graph") else "stream launches"
    where = f"stream {failure.stream + 1} of {streams}" if streams > 1 else "its stream"
    drift = ""
    if first is not None:
        value = launch_drift(first, failure.outputs)
        drift = (f" On the same inputs, this launch's outputs differ from the first inference's by up to {value:.3g}"
                 f"{': the engine is not deterministic (a race, or kernels swapped in at run time)' if value else ''}.")
    return (f"the timed path ({path}, {where}, after timed run {failure.run + 1}) gave outputs that differ from "
            f"the reference, although the first inference passed:\n{failure.report.describe_failures()}\n"
            f"The latency measured outputs that are wrong: the engine changes behaviour while it runs (graph "
            f"capture, several contexts, or kernels swapped in at run time).{drift}")
