"""Stage: the verdict of a candidate measurement against this device's baseline.

The gate is an interface: :class:`MedianThresholdGate` is the simple rule (the candidate's
median exceeds the baseline's by more than the threshold); a statistical gate implements the
same :class:`Gate` protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from trtperf.stats import LatencyStats

PASS = "pass"
REGRESSED = "regressed"
IMPROVED = "improved"
INCONCLUSIVE = "inconclusive"
NO_BASELINE = "no baseline"
MISMATCH = "mode mismatch"
FAILING = frozenset({REGRESSED, MISMATCH})


@dataclass(frozen=True)
class Verdict:
    status: str
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    test: str = ""
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILING

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(**dict(data))


class Gate(Protocol):
    def judge(
        self,
        baseline: LatencyStats | None,
        candidate: LatencyStats,
        threshold: float,
    ) -> Verdict: ...


def timing_mode_difference(baseline_mode: Mapping[str, Any], candidate_mode: Mapping[str, Any]) -> str:
    """'' when the two timing modes measure the same thing, else what differs."""
    keys = sorted(set(baseline_mode) | set(candidate_mode))
    diffs = [
        f"{k}: baseline {baseline_mode.get(k)!r}, this run {candidate_mode.get(k)!r}"
        for k in keys
        if baseline_mode.get(k) != candidate_mode.get(k)
    ]
    return "; ".join(diffs)


class MedianThresholdGate:
    """Regressed when median(candidate) > median(baseline) * (1 + threshold)."""

    test = "median ratio vs threshold"

    def judge(self, baseline: LatencyStats | None, candidate: LatencyStats, threshold: float) -> Verdict:
        if baseline is None:
            return Verdict(NO_BASELINE, note="no baseline")
        ratio = candidate.median_ms / baseline.median_ms
        if ratio > 1 + threshold:
            status = REGRESSED
        elif ratio < 1 - threshold:
            status = IMPROVED
        else:
            status = PASS
        return Verdict(status, ratio=ratio, test=f"{self.test} ({threshold:.1%})")
