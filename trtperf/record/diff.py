"""``trtperf baseline diff OLD NEW``: what changed between two baseline files, or between a baseline
and a results file (a run not recorded yet), per case: medians, p99s and the change of the median."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trtperf.errors import TrtperfUsageError
from trtperf.record.baselines import load_baseline_file
from trtperf.record.naturalsort import natural_key
from trtperf.record.results import read_results
from trtperf.text import signed_percent

ADDED, REMOVED, CHANGED, SAME = "added", "removed", "changed", "same"


@dataclass(frozen=True)
class DiffRow:
    case: str
    old_median_ms: float | None
    new_median_ms: float | None
    old_p99_ms: float | None
    new_p99_ms: float | None
    status: str

    @property
    def change(self) -> float | None:
        if self.old_median_ms and self.new_median_ms:
            return self.new_median_ms / self.old_median_ms - 1.0
        return None


def load_stats(path: Path, device_slug: str | None = None) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """``(device slug, case key -> stats)`` of a baseline file or a results file (told apart by content).

    A results file may hold several devices; ``device_slug`` keeps that device's cases."""
    if not path.is_file():
        raise TrtperfUsageError(f"{path}: no such file; pass a baseline file (baselines/<device>.json) or a results "
                                f"file (.trtperf/results.json).")
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrtperfUsageError(f"{path}: cannot read it as JSON ({exc}).") from None
    if isinstance(document, dict) and "cases" in document:
        results = read_results(path)
        return device_slug, {r.case.key: r.stats for r in results
                             if r.stats and (device_slug is None or r.device.get("slug") == device_slug)}
    baseline = load_baseline_file(path, with_samples=False)
    return baseline.device.get("slug"), {k: e.get("stats", {}) for k, e in baseline.entries.items()}


def _shows_a_change(old: Any, new: Any) -> bool:
    """True when the relative change from ``old`` to ``new`` (ms) shows at the displayed precision (0.1 %):
    a change that rounds to 0.0 % is no change. A value present on one side only is a change."""
    if not old or not new:
        return bool(old) != bool(new)
    return signed_percent(float(new) / float(old) - 1.0) != "+0.0%"


def diff_files(old: Path, new: Path, substring: str | None = None) -> list[DiffRow]:
    """One row per case in either file, in natural order; ``changed`` when the median or the p99 changed by
    at least the displayed 0.1 % (see :func:`trtperf.text.signed_percent`), ``same`` otherwise."""
    slug, old_stats = load_stats(old)
    _, new_stats = load_stats(new, slug)
    rows = []
    for key in sorted(set(old_stats) | set(new_stats), key=natural_key):
        if substring and substring not in key:
            continue
        o, n = old_stats.get(key), new_stats.get(key)
        if o is None or n is None:
            status = ADDED if o is None else REMOVED
        else:
            changed = any(_shows_a_change(o.get(f), n.get(f)) for f in ("median_ms", "p99_ms"))
            status = CHANGED if changed else SAME
        rows.append(DiffRow(key, (o or {}).get("median_ms"), (n or {}).get("median_ms"),
                            (o or {}).get("p99_ms"), (n or {}).get("p99_ms"), status))
    return rows


HEADER = ["case", "old median ms", "new median ms", "change", "old p99 ms", "new p99 ms", "status"]


def _cells(row: DiffRow) -> list[str]:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.4g}"

    return [row.case, ms(row.old_median_ms), ms(row.new_median_ms),
            "-" if row.change is None else signed_percent(row.change), ms(row.old_p99_ms), ms(row.new_p99_ms),
            row.status]


def render_diff(rows: list[DiffRow], markdown: bool = False, show_same: bool = False) -> str:
    """A plain-text or Markdown table of the rows (unchanged cases only with ``show_same``)."""
    shown = [r for r in rows if show_same or r.status != SAME]
    counts = {s: sum(1 for r in rows if r.status == s) for s in (CHANGED, ADDED, REMOVED, SAME)}
    title = ", ".join(f"{n} {s}" for s, n in counts.items())
    table = [HEADER, *(_cells(r) for r in shown)]
    if markdown:
        lines = [f"**baseline diff**: {title}", "", "| " + " | ".join(HEADER) + " |",
                 "| --- | " + " | ".join("---:" for _ in HEADER[1:-1]) + " | --- |"]
        lines += ["| " + " | ".join(f"`{c}`" if i == 0 else c for i, c in enumerate(cells)) + " |"
                  for cells in table[1:]]
        return "\n".join(lines) + "\n"
    widths = [max(len(cells[i]) for cells in table) for i in range(len(HEADER))]
    lines = [f"baseline diff: {title}"]
    lines += ["  ".join(c.ljust(w) if i in (0, len(HEADER) - 1) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip() for cells in table]
    return "\n".join(lines) + "\n"
