"""A machine-speed probe for CPU cases: one fixed workload timed before every run, so that a verdict
against a stored baseline can tell a slower machine from a slower engine. It is the CPU's counterpart
of the GPU clock watch (``trtperf.timing.gpu``), like nvbench-compare-robust confirming a gap in
clock cycles (reference/regression-statistics.md, section 1).

Why: on the 2-vCPU CI VM this project develops on, an unchanged ONNX Runtime engine drifts by up to
+-30 % over seconds to minutes (cnn int8 b1: 2.2-3.9 ms within one 200 s window), and a baseline
recorded in a fast minute made the main job fail a case "confirmed x1.37" with the engine unchanged
(2026-12-07). A 192 x 192 float32 matmul timed beside it followed the drift: over windows of 10
samples, the log ratio of that engine's medians followed the probe's with slope 0.90 (correlation 0.83),
and dividing by the probe nearly halved the ratio's spread (SD of the log ratio 0.302 -> 0.172); the
fp32 cnn moved half as much as the probe (slope 0.55, correlation 0.88). ``bench/machine_probe_drift.py``
measures this on any machine (bench/results/machine_probe_drift-*).

The probe only vetoes: a stored-baseline regression that the machine's own slowdown explains is
judged inconclusive, and an improvement that its speed-up explains a pass; never the other way round, so
probe noise cannot fail a case. For an engine whose
artifact and software are those of the baseline, the verdict (``trtperf.verdict.judging``) goes further: on a
machine slowed by twice the threshold, a regression up to 2x beyond the probe is inconclusive too.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PROBE_SIZE = 192
"""Matrix side: 192 x 192 float32 (144 KiB per operand) stays in L2, about 0.1 ms on a 2-core EPYC VM."""
PROBE_REPEATS = 40
"""Timed products per probe (their median is the probe): about 5 ms per run."""
PROBE_KEY = "cpu_probe"
"""Where a CPU result's ``environment`` (and so its baseline entry) keeps the probe."""
WORKLOAD = f"numpy float32 {PROBE_SIZE}x{PROBE_SIZE} matmul, median of {PROBE_REPEATS}"


def probe_us(repeats: int = PROBE_REPEATS) -> float:
    """Median microseconds of ``repeats`` timed ``PROBE_SIZE``-square float32 matmuls (numpy's own threads)."""
    rng = np.random.default_rng(0)
    a = rng.random((PROBE_SIZE, PROBE_SIZE), dtype=np.float32)
    b = rng.random((PROBE_SIZE, PROBE_SIZE), dtype=np.float32)
    a @ b  # first call: thread pool start-up, not the machine's speed
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


@dataclass
class MachineProbe:
    """The probe of one case: sampled before each run (``sample``), kept as ``environment[PROBE_KEY]``."""

    per_run_us: list[float] = field(default_factory=list)

    def sample(self) -> None:
        self.per_run_us.append(probe_us())

    def to_json(self) -> dict[str, Any]:
        """``{"workload", "median_us", "per_run_us"}`` (microseconds, 4 significant digits)."""
        return {"workload": WORKLOAD, "median_us": float(f"{statistics.median(self.per_run_us):.4g}"),
                "per_run_us": [float(f"{v:.4g}") for v in self.per_run_us]}


def machine_ratio(baseline_env: Mapping[str, Any], candidate_env: Mapping[str, Any]) -> float | None:
    """This run's probe median / the baseline's (1.2: the machine ran the same workload 20 % slower);
    None when either side has no probe of the same workload (a GPU case, or an older baseline)."""
    base, cand = baseline_env.get(PROBE_KEY), candidate_env.get(PROBE_KEY)
    if not isinstance(base, Mapping) or not isinstance(cand, Mapping) or base.get("workload") != cand.get("workload"):
        return None
    b, c = base.get("median_us"), cand.get("median_us")
    if not isinstance(b, (int, float)) or not isinstance(c, (int, float)) or b <= 0 or c <= 0:
        return None
    return float(c) / float(b)


PLAUSIBLE_MACHINE_RATIO = 3.0
"""The most a machine's own speed is believed to move between a recording and a run (either way). The VM's
worst seen drift is x1.48; beyond x3 the probe itself was disturbed: with an ONNX Runtime session's two
spinning threads on the 2-vCPU VM, the probe's two-thread matmul took about 16 ms instead of 80 us in 16 of
20 runs (a new user's trial, 2026-12-07: a probe at x240 then "explained" a real x2 slowdown)."""


def plausible_machine_ratio(machine: float) -> bool:
    """True when the probe moved within :data:`PLAUSIBLE_MACHINE_RATIO` either way: only then may it veto."""
    return 1.0 / PLAUSIBLE_MACHINE_RATIO <= machine <= PLAUSIBLE_MACHINE_RATIO


def explained_by_machine(ratio: float, machine: float, threshold: float) -> bool:
    """True when a slowdown ``ratio`` (candidate / baseline median) is no regression once the machine's
    own slowdown ``machine`` is taken out (``ratio / machine < 1 + threshold``), and the machine itself
    slowed by at least twice the threshold: a probe that moved a few percent (its own noise) vetoes nothing.

    The probe can over-explain: the example cnn fp32 b1 moved about half as much as the probe (slope 0.55 in
    bench/results/machine_probe_drift-*), so on a machine slowed by x1.3 a real regression of up to about
    x1.3 reads inconclusive (with the reason), to be caught on a quiet machine."""
    return machine >= 1.0 + 2 * threshold and ratio / machine < 1.0 + threshold


def improvement_explained_by_machine(ratio: float, machine: float, threshold: float) -> bool:
    """The mirror of :func:`explained_by_machine`: True when the machine itself got faster by at least twice the
    threshold and a speed-up ``ratio`` (below 1) is neither an improvement nor a regression once that is taken
    out (``1 - threshold < ratio / machine < 1 + threshold``). An engine is not "improved" because its baseline
    was recorded in a slow minute of the machine (seen on the 2-vCPU VM: unchanged engines read "improved" in a
    warm rerun, bench/results/verdict_seconds-*)."""
    return machine <= 1.0 - 2 * threshold and 1.0 - threshold < ratio / machine < 1.0 + threshold


def improvement_hides_slowdown(ratio: float, machine: float, threshold: float) -> bool:
    """True when a speed-up ``ratio`` is a slowdown of at least the threshold once the machine's own, larger
    speed-up (by at least twice the threshold) is taken out: x0.85 on a machine at x0.50 is x1.70."""
    return machine <= 1.0 - 2 * threshold and ratio / machine >= 1.0 + threshold


UNCHANGED_BEYOND_PROBE = 2.0
"""How far beyond the probe an unchanged engine may move and still be put down to the machine: the VM's worst
seen is x1.48 (SegFormer confirmed x2.0 with the probe at x1.35); more is a change the probe cannot account for."""


def slower_machine_only(ratio: float, machine: float, threshold: float) -> bool:
    """For an engine whose artifact and software are those of its baseline: True when its slowdown ``ratio``
    is put down to the machine, which slowed by at least twice the threshold (beyond the probe's own noise),
    up to :data:`UNCHANGED_BEYOND_PROBE` beyond it. Nothing but the machine is then known to have changed,
    and cases at times move more than the probe (an unchanged SegFormer engine "confirmed" x1.66 and x2.0
    with the probe at x1.35 on the 2-vCPU VM, where :func:`explained_by_machine` did not veto)."""
    return machine >= 1.0 + 2 * threshold and ratio / machine < UNCHANGED_BEYOND_PROBE


def machine_note(ratio: float, machine: float, explained: bool, unchanged: bool = False, hides: bool = False) -> str:
    """The verdict note on the probe (for a stored-baseline verdict whose machine moved): ``explained`` by
    :func:`explained_by_machine` (a speed-up ``ratio`` below 1: by :func:`improvement_explained_by_machine`),
    vetoed for an ``unchanged`` engine by :func:`slower_machine_only`, or an improvement that ``hides`` a
    slowdown (:func:`improvement_hides_slowdown`)."""
    if hides:
        return (f"machine faster: the CPU probe ({WORKLOAD}) took x{machine:.2f} its time at recording, more "
                f"than this case's x{ratio:.2f}: x{ratio / machine:.2f} without it, a slowdown the faster "
                f"machine hides: judged inconclusive, not an improvement; rerun on a quiet machine")
    if explained and ratio < 1.0:
        return (f"machine faster: the CPU probe ({WORKLOAD}) took x{machine:.2f} its time at recording, which "
                f"explains this case's x{ratio:.2f} (x{ratio / machine:.2f} without it): judged a pass, not an "
                f"improvement; re-record the baseline on a quiet machine for a tighter gate")
    if explained:
        return (f"machine slower: the CPU probe ({WORKLOAD}) took x{machine:.2f} its time at recording, which "
                f"explains this case's x{ratio:.2f} (x{ratio / machine:.2f} without it): judged inconclusive, "
                f"not a regression; rerun on a quiet machine, or re-record the baseline")
    if not plausible_machine_ratio(machine):
        return (f"machine probe disturbed: the CPU probe ({WORKLOAD}) took x{machine:.2f} its time at recording, "
                f"beyond the x{PLAUSIBLE_MACHINE_RATIO:.0f} a machine's speed is believed to move (its threads "
                f"competed with other work), so it changed no verdict (this case x{ratio:.2f}); if this repeats, "
                f"re-record the baseline on a quiet machine")
    if unchanged:
        return (f"machine slower and nothing else changed: the CPU probe ({WORKLOAD}) took x{machine:.2f} its time "
                f"at recording, and the engine and its software are those of the baseline, so this case's "
                f"x{ratio:.2f} (x{ratio / machine:.2f} beyond the probe) is not attributed to them: judged "
                f"inconclusive; rerun on a quiet machine, or re-record the baseline")
    return (f"machine probe: the CPU probe ({WORKLOAD}) took x{machine:.2f} its time at recording "
            f"(this case x{ratio:.2f}, x{ratio / machine:.2f} without it)")
