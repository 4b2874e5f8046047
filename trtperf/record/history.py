"""Run history: every run appends its results to a directory; each case's median over runs, with
change points found by ``ruptures`` (issue 15, item 4).

Layout: ``<dir>/runs/<UTC time>-<commit[:8]>-<random>.json``, one results document (the results
JSON's schema, :mod:`trtperf.record.results`) per run, with ``meta.commit`` and ``meta.created``. Appending
is one atomic new file, so concurrent runs never clash; deleting a file forgets that run.

Change points: PELT (``ruptures.Pelt``, cost ``l2``) on the log of a case's run medians, penalty
``2 * sigma^2 * ln(n)`` with sigma the robust noise of consecutive differences (MAD / sqrt(2),
at least :data:`MIN_SIGMA`); a detected break is reported only when the medians of the segments on
either side differ by at least ``min_change`` (default 5 %, the gate's threshold), so noise alone
does not make change points.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trtperf.errors import TrtperfUsageError
from trtperf.fsutil import atomic_write_json
from trtperf.record.naturalsort import natural_key
from trtperf.record.results import RESULTS_SCHEMA_VERSION, CaseResult
from trtperf.text import plural, signed_percent

MIN_SIGMA = 0.005
"""Floor of the noise estimate (log scale, ~0.5 %): identical medians must not make every step a break."""
MIN_SEGMENT = 2
"""Fewest runs on each side of a change point."""


@dataclass(frozen=True)
class Point:
    """One run of one case."""

    run: str
    """The run file's stem (UTC time, commit, random suffix)."""
    created: str
    commit: str
    median_ms: float


@dataclass(frozen=True)
class ChangePoint:
    index: int
    """Position in the series of the first run after the change."""
    run: str
    commit: str
    before_ms: float
    """Median of the run medians of the segment before."""
    after_ms: float

    @property
    def change(self) -> float:
        return self.after_ms / self.before_ms - 1.0


@dataclass
class Series:
    device: str
    case: str
    points: list[Point] = field(default_factory=list)

    @property
    def medians(self) -> list[float]:
        return [p.median_ms for p in self.points]


def _git_commit(cwd: Path | None = None) -> str:
    from trtperf.record.benchmark_json import commit_info

    info = commit_info(cwd)
    commit = str(info.get("id", ""))
    return commit + ("-dirty" if commit and info.get("dirty") else "")


class HistoryStore:
    """A history directory (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.runs_dir = directory / "runs"

    def append(self, results: Sequence[CaseResult], meta: Mapping[str, Any], commit: str | None = None,
               now: _dt.datetime | None = None) -> Path:
        """Write one run file; returns its path. ``commit`` defaults to the checkout's git commit."""
        now = now or _dt.datetime.now(_dt.timezone.utc)
        commit = _git_commit() if commit is None else commit
        stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
        path = self.runs_dir / f"{stamp}-{(commit or 'nocommit')[:8]}-{secrets.token_hex(3)}.json"
        document = {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "created": now.isoformat(timespec="seconds"),
            "meta": {**dict(meta), "commit": commit, "created": now.isoformat(timespec="seconds")},
            "cases": [r.to_json() for r in results if r.stats],
        }
        atomic_write_json(path, document)
        return path

    def run_files(self) -> list[Path]:
        return sorted(self.runs_dir.glob("*.json")) if self.runs_dir.is_dir() else []

    def series(self, substring: str | None = None) -> list[Series]:
        """Every (device, case) with its run medians in run order; only cases containing ``substring``.

        A run file that cannot be read raises TrtperfUsageError naming it and the fix (delete it)."""
        by_case: dict[tuple[str, str], Series] = {}
        for path in self.run_files():
            try:
                document = json.loads(path.read_text())
                meta = document.get("meta", {})
                for case in document["cases"]:
                    result = CaseResult.from_json(case)
                    if substring and substring not in result.case.key:
                        continue
                    median = (result.stats or {}).get("median_ms")
                    if median is None:
                        continue
                    slug = str(result.device.get("slug", "?"))
                    series = by_case.setdefault((slug, result.case.key), Series(slug, result.case.key))
                    series.points.append(Point(run=path.stem, created=str(meta.get("created", "")),
                                               commit=str(meta.get("commit", "")), median_ms=float(median)))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise TrtperfUsageError(
                    f"{path}: not a readable history run ({type(exc).__name__}: {exc}); delete the file to "
                    f"forget that run."
                ) from None
        return sorted(by_case.values(), key=lambda s: (s.device, natural_key(s.case)))


def change_points(medians: Sequence[float], min_change: float = 0.05) -> list[tuple[int, float, float]]:
    """``(index, before, after)`` per change point of ``medians`` (see the module docstring): ``index``
    is the first element after the change, ``before``/``after`` the medians of the adjacent segments.
    Needs ``ruptures`` (``pip install trtperf[history]``); fewer than ``2 * MIN_SEGMENT`` values have none."""
    values = np.log(np.asarray(medians, dtype=np.float64))
    n = values.size
    if n < 2 * MIN_SEGMENT:
        return []
    try:
        import ruptures
    except ImportError:
        raise TrtperfUsageError("change points need ruptures: pip install 'trtperf[history]'") from None
    diffs = np.diff(values)
    sigma = max(1.4826 * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2), MIN_SIGMA)
    breaks = ruptures.Pelt(model="l2", min_size=MIN_SEGMENT, jump=1).fit(values.reshape(-1, 1)).predict(
        pen=2 * sigma**2 * math.log(n))
    bounds = [0, *breaks]
    out = []
    for i in range(1, len(bounds) - 1):
        before = float(np.exp(np.median(values[bounds[i - 1]:bounds[i]])))
        after = float(np.exp(np.median(values[bounds[i]:bounds[i + 1]])))
        if abs(after / before - 1.0) >= min_change:
            out.append((bounds[i], before, after))
    return out


def find_change_points(series: Series, min_change: float = 0.05) -> list[ChangePoint]:
    return [ChangePoint(i, series.points[i].run, series.points[i].commit, before, after)
            for i, before, after in change_points(series.medians, min_change)]


def render_history(all_series: Iterable[Series], min_change: float = 0.05) -> str:
    """Plain text: per case, every run's median and the change points with their runs and commits."""
    lines = []
    for series in all_series:
        found = {c.index: c for c in find_change_points(series, min_change)}
        lines.append(f"{series.case} on {series.device}: {plural(len(series.points), 'run')}, "
                     f"{plural(len(found), 'change point')}")
        for i, p in enumerate(series.points):
            mark = ""
            if i in found:
                c = found[i]
                mark = f"  <- change {signed_percent(c.change)} ({c.before_ms:.4g} -> {c.after_ms:.4g} ms)"
            lines.append(f"  {p.created:<25} {p.commit[:12] or '-':<12} {p.median_ms:>10.4f} ms{mark}")
        for c in found.values():
            lines.append(f"  change point: {signed_percent(c.change)} from run {c.run} "
                         f"(commit {c.commit[:12] or 'unknown'})")
        lines.append("")
    return "\n".join(lines) if lines else "no history runs\n"
