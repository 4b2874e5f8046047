"""A self-contained HTML report with plots (issue 15, item 3): one file, every plot an embedded PNG
(base64 ``data:`` URI), no script, no external resource, so it opens anywhere and attaches to a CI run.

Sections (each only when the run has the data):

* the summary table (the terminal's columns);
* per case with a baseline: the ratio of medians with its confidence interval (the gate's
  ``ratio_low``/``ratio_high``), and the run medians of candidate and baseline side by side;
* each backend's speed-up over torch eager (same model, precision, batch, streams);
* per model, backend and stream count: a precision x batch grid of median latency and of the
  largest parity error (log10, one fixed scale 1e-9..1 for every grid);
* the history of each case (``--trtperf-history``), change points marked.

Needs matplotlib (``pip install 'trtperf[report]'``); drawn with ``matplotlib.figure.Figure`` (no
pyplot state, no display).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trtperf.errors import TrtperfUsageError
from trtperf.fsutil import atomic_write_bytes
from trtperf.record import facts
from trtperf.record.naturalsort import case_order, natural_key
from trtperf.record.results import SUMMARY_HEADER, CaseResult, speedups_vs_torch, summary_rows
from trtperf.text import plural

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from trtperf.record.history import HistoryStore

CASES_PER_FIGURE = 12
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
td:first-child, td:last-child, th:first-child, th:last-child { text-align: left; }
tr.bad td { background: #fde2e2; } tr.good td { background: #e2f5e2; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
.note { color: #666; font-size: 0.9em; }
"""


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise TrtperfUsageError("the HTML report needs matplotlib: pip install 'trtperf[report]'") from None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def ratio_plot(results: Sequence[CaseResult]) -> Figure | None:
    """Ratio of medians (candidate / baseline) with the gate's confidence interval, one row per case."""
    rows = [r for r in results if (r.verdict or {}).get("ratio") is not None]
    if not rows:
        return None
    fig = _figure(9, 0.9 + 0.32 * len(rows))
    ax = fig.add_subplot()
    for y, r in enumerate(rows):
        v = r.verdict or {}
        ratio, low, high = v["ratio"], v.get("ratio_low") or v["ratio"], v.get("ratio_high") or v["ratio"]
        colour = {"regressed": "tab:red", "improved": "tab:green"}.get(str(v.get("status")), "tab:blue")
        ax.errorbar([ratio], [y], xerr=[[ratio - low], [high - ratio]], fmt="o", color=colour, capsize=3)
    ax.axvline(1.0, color="grey", linewidth=1)
    ax.set_xscale("log")  # x0.5 and x2 equally far from 1
    low, high = ax.get_xlim()
    ticks = ratio_ticks(low, high)
    ax.set_xticks(ticks, ratio_labels(ticks))
    ax.set_xticks([], minor=True)  # the log scale's minor labels repeated ("x1.1, x1.1") or were missing
    ax.set_xlim(low, high)
    ax.grid(axis="x", color="#ddd", linewidth=0.8)
    ax.set_axisbelow(True)
    ax.set_yticks(range(len(rows)), [r.case.key for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_ylabel("case")
    ax.set_xlabel("candidate median / baseline median, log scale (confidence interval of the ratio)")
    ax.set_title("Change against the baseline")
    return fig


def ratio_ticks(low: float, high: float, most: int = 8) -> list[float]:
    """Between 3 and ``most`` round ratios within ``[low, high]`` (both > 0), for a log axis of ratios: linear
    steps (1, 2, 2.5, 5 x 10^k) for a range under x4, else 1-2-5 per decade. Always labelled ticks: a log axis's
    own locator puts none between decades (a range of x1.05-x1.3 had only minor ticks)."""
    from matplotlib.ticker import LogLocator, MaxNLocator

    locator = (MaxNLocator(nbins=most - 1, steps=[1, 2, 2.5, 5, 10]) if high / low < 4
               else LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ticks = [float(t) for t in locator.tick_values(low, high) if low <= t <= high and t > 0]
    if len(ticks) < 3:  # a very narrow range: its ends and middle
        ticks = [low, math.sqrt(low * high), high]
    return ticks


def ratio_labels(ticks: Sequence[float]) -> list[str]:
    """``x1.05``-style labels with the fewest decimals (up to 4) that show every tick exactly (``x0.5``, not
    ``x0``), hence distinct; all with the same decimals."""
    for decimals in range(4):
        if all(abs(round(t, decimals) - t) <= 1e-9 * t for t in ticks):
            break
    else:
        decimals = 4
    return [f"x{t:.{decimals}f}" for t in ticks]


def run_medians_plots(results: Sequence[CaseResult]) -> list[Figure]:
    """Per case: every run's median of the baseline and of the candidate (ms), small multiples."""
    rows = [r for r in results if facts.stat(r, "run_medians_ms") and
            ((r.baseline or {}).get("stats") or {}).get("run_medians_ms")]
    figures = []
    for chunk in _chunks(rows, CASES_PER_FIGURE):
        cols = min(4, len(chunk))
        lines = math.ceil(len(chunk) / cols)
        fig = _figure(3.0 * cols, 2.4 * lines)
        for i, r in enumerate(chunk):
            ax = fig.add_subplot(lines, cols, i + 1)
            base = r.baseline["stats"]["run_medians_ms"]  # type: ignore[index]
            cand = facts.stat(r, "run_medians_ms")
            ax.plot([0] * len(base), base, "o", alpha=0.6, label="baseline")
            ax.plot([1] * len(cand), cand, "o", alpha=0.6, color="tab:orange", label="candidate")
            ax.set_xticks([0, 1], ["baseline", "candidate"])
            ax.set_xlim(-0.5, 1.5)
            v = r.verdict or {}
            ci = (f" [{v['ratio_low']:.3f}, {v['ratio_high']:.3f}]"
                  if v.get("ratio_low") is not None and v.get("ratio_high") is not None else "")
            ratio = f"x{v['ratio']:.3f}{ci}" if v.get("ratio") is not None else ""
            ax.set_title(f"{r.case.key}\n{ratio}", fontsize=7)
            ax.set_ylabel("run median, ms", fontsize=7)
            ax.tick_params(labelsize=7)
        figures.append(fig)
    return figures


def speedup_plot(results: Sequence[CaseResult]) -> Figure | None:
    """Each case's speed-up over torch eager (bars; 1.0 = as fast as eager)."""
    speedups = speedups_vs_torch(results)
    rows = [r for r in results if r.case.key in speedups and r.case.backend != "torch"]
    if not rows:
        return None
    fig = _figure(9, 0.9 + 0.3 * len(rows))
    ax = fig.add_subplot()
    backends = sorted({r.case.backend for r in rows})
    colours = {b: f"C{i}" for i, b in enumerate(backends)}
    ax.barh(range(len(rows)), [speedups[r.case.key] for r in rows], color=[colours[r.case.backend] for r in rows])
    ax.axvline(1.0, color="grey", linewidth=1)
    ax.set_yticks(range(len(rows)), [r.case.key for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up over torch eager (torch median / case median)")
    ax.set_title("Speed-up over torch eager, by backend: " + ", ".join(backends))
    return fig


def grid_plots(results: Sequence[CaseResult]) -> list[tuple[str, Figure]]:
    """Per (model, backend, streams) with more than one cell: precision x batch heatmaps of the median
    latency (ms) and of the largest absolute parity error (log10)."""
    import numpy as np

    groups: dict[tuple[str, str, int], list[CaseResult]] = {}
    for r in results:
        groups.setdefault((r.case.model, r.case.backend, r.case.streams), []).append(r)
    out = []
    for (model, backend, streams), rows in sorted(groups.items(), key=lambda kv: natural_key(str(kv[0]))):
        precisions = sorted({r.case.precision for r in rows})
        batches = sorted({r.case.batch for r in rows})
        if len(precisions) * len(batches) < 2:
            continue
        latency = np.full((len(precisions), len(batches)), np.nan)
        error = np.full_like(latency, np.nan)
        for r in rows:
            i, j = precisions.index(r.case.precision), batches.index(r.case.batch)
            if facts.stat(r, "median_ms") is not None:
                latency[i, j] = facts.stat(r, "median_ms")
            err = facts.parity_max_abs_err(r)
            if err is not None:
                error[i, j] = err
        fig = _figure(4.2 + 1.6 * len(batches), 1.6 + 0.45 * len(precisions))
        for k, (values, title, fmt) in enumerate(((latency, "median latency, ms", "{:.3g}"),
                                                  (error, "max abs parity error", "{:.1e}"))):
            ax = fig.add_subplot(1, 2, k + 1)
            if k == 1:  # one fixed scale for every grid: 1e-9 (light) .. 1 (dark), zero shown as 1e-9
                image = ax.imshow(np.ma.masked_invalid(np.log10(np.maximum(values, 1e-9))), cmap="magma_r",
                                  aspect="auto", vmin=-9, vmax=0)
                fig.colorbar(image, ax=ax, label="log10", shrink=0.8)
            else:
                image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
                fig.colorbar(image, ax=ax, label="ms", shrink=0.8)
            for i in range(len(precisions)):
                for j in range(len(batches)):
                    if not math.isnan(values[i, j]):
                        ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=7, color="w",
                                bbox={"facecolor": "black", "alpha": 0.35, "linewidth": 0, "pad": 1})
            ax.set_xticks(range(len(batches)), [f"b{b}" for b in batches], fontsize=8)
            ax.set_yticks(range(len(precisions)), precisions, fontsize=8)
            ax.set_title(title, fontsize=9)
        fig.suptitle(f"{model} on {backend}, {plural(streams, 'stream')}", fontsize=10)
        out.append((f"{model} {backend} s{streams}", fig))
    return out


def history_plots(store: HistoryStore, keys: set[str]) -> list[Figure]:
    """The median over runs of each case of this run that has at least two runs; change points as lines."""
    from trtperf.record.history import find_change_points

    series = [s for s in store.series() if s.case in keys and len(s.points) >= 2]
    figures = []
    for chunk in _chunks(series, CASES_PER_FIGURE):
        cols = min(3, len(chunk))
        lines = math.ceil(len(chunk) / cols)
        fig = _figure(4.0 * cols, 2.4 * lines)
        for i, s in enumerate(chunk):
            ax = fig.add_subplot(lines, cols, i + 1)
            ax.plot(range(len(s.points)), s.medians, "o-", markersize=3)
            try:
                points = find_change_points(s)
            except TrtperfUsageError:  # ruptures missing: the history without change points
                points = []
            for c in points:
                ax.axvline(c.index - 0.5, color="tab:red", linestyle="--", linewidth=1)
            ax.set_title(f"{s.case} ({s.device})", fontsize=7)
            ax.set_xlabel("run", fontsize=7)
            ax.set_ylabel("median, ms", fontsize=7)
            ax.tick_params(labelsize=7)
        figures.append(fig)
    return figures


def _table(results: Sequence[CaseResult]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in SUMMARY_HEADER)
    body = []
    for r, row in zip(results, summary_rows(results), strict=True):
        status = facts.verdict_status(r)
        css = "bad" if (status == "regressed" or r.outcome == "failed") else ("good" if status == "improved" else "")
        cells = "".join(f"<td>{html.escape(c)}</td>" for c in row)
        body.append(f'<tr class="{css}">{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(results: Sequence[CaseResult], history: HistoryStore | None = None,
                title: str = "trtperf report") -> str:
    """The whole report as one HTML document (UTF-8, no script, images inline)."""
    ordered = sorted(results, key=case_order)
    parts = [f"<h1>{html.escape(title)}</h1>",
             f'<p class="note">{plural(len(ordered), "case")}. Latencies are per inference, pooled over runs and '
             'streams.</p>',
             "<h2>Summary</h2>", _table(ordered)]
    figure = ratio_plot(ordered)
    if figure is not None:
        parts += ["<h2>Candidate against baseline</h2>", _png(figure, "ratio of medians with confidence interval")]
        parts += [_png(f, "run medians of baseline and candidate") for f in run_medians_plots(ordered)]
    figure = speedup_plot(ordered)
    if figure is not None:
        parts += ["<h2>Speed-up over torch eager</h2>", _png(figure, "speed-up over torch eager")]
    grids = grid_plots(ordered)
    if grids:
        parts.append("<h2>Precision &times; batch</h2>")
        parts += [_png(f, f"precision x batch grid: {name}") for name, f in grids]
    if history is not None:
        figures = history_plots(history, {r.case.key for r in ordered})
        if figures:
            parts.append("<h2>History</h2>")
            parts += [_png(f, "median over runs") for f in figures]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def write_html(path: Path, results: Sequence[CaseResult], history: HistoryStore | None = None) -> None:
    """Write :func:`render_html` to ``path`` atomically."""
    atomic_write_bytes(path, render_html(results, history).encode())
