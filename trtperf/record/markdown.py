"""The Markdown summary for a pull request or a CI job summary (issue 15, item 2).

Order is what a reviewer needs first: regressions, parity failures and other failed cases, each with
its numbers and the command that reproduces it; then improvements; then every case in a collapsed
``<details>`` table (the terminal summary's columns).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from trtperf.fsutil import atomic_write_bytes
from trtperf.record import facts
from trtperf.record.naturalsort import case_order
from trtperf.record.results import FAILED, SUMMARY_HEADER, CaseResult, summary_rows
from trtperf.text import plural, signed_percent

MAX_MESSAGE_LINES = 12


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g} ms"


def _numbers(result: CaseResult) -> str:
    """``median 6.1 ms vs baseline 4.87 ms (+25.3 %, ratio CI 1.20-1.30, paired)``."""
    median, base = facts.stat(result, "median_ms"), facts.baseline_median_ms(result)
    parts = [f"median {_ms(median)}", f"p99 {_ms(facts.stat(result, 'p99_ms'))}"]
    if base is not None:
        parts.append(f"baseline {_ms(base)}")
    verdict = result.verdict or {}
    change = facts.change(result)
    if change is not None:
        detail = signed_percent(change)
        if verdict.get("ratio_low") is not None and verdict.get("ratio_high") is not None:
            detail += f", ratio CI {verdict['ratio_low']:.3f}-{verdict['ratio_high']:.3f}"
        if verdict.get("paired"):
            detail += ", paired"
        parts.append(detail)
    return ", ".join(parts)


def _parity_numbers(result: CaseResult) -> str:
    failing = [o for o in (result.parity or {}).get("outputs", []) if not o.get("passed", True)]
    return "; ".join(f"`{o['name']}` max abs {o['max_abs']:.3g}, max rel {o['max_rel']:.3g}" for o in failing)


def _problem(result: CaseResult) -> str | None:
    """What went wrong with a case, or None when it did not fail."""
    if facts.parity_failed(result):
        return "parity failed"
    status = facts.verdict_status(result)
    if status == "regressed":
        return "regressed"
    if result.outcome == FAILED:
        return status if status not in ("pass", "ok") else "failed"
    return None


def _message_block(message: str) -> list[str]:
    if not message:
        return []
    lines = message.strip().splitlines()
    shown = lines[:MAX_MESSAGE_LINES] + (["..."] if len(lines) > MAX_MESSAGE_LINES else [])
    return ["", "  ```text", *(f"  {line}" for line in shown), "  ```"]


def render_markdown(results: Sequence[CaseResult], nodeids: Mapping[str, str] | None = None,
                    title: str = "trtperf") -> str:
    """The summary as GitHub-flavoured Markdown. ``nodeids`` maps case keys to pytest node ids for
    the reproduce commands."""
    nodeids = nodeids or {}
    ordered = sorted(results, key=case_order)
    problems = [(r, p) for r in ordered if (p := _problem(r)) is not None]
    improved = [r for r in ordered if facts.verdict_status(r) == "improved"]
    regressed = sum(1 for _, p in problems if p == "regressed")
    parity = sum(1 for _, p in problems if p == "parity failed")
    other = len(problems) - regressed - parity
    headline = (f"{plural(len(ordered), 'case')}: {regressed} regressed, {plural(parity, 'parity failure')}"
                + (f", {plural(other, 'other failure')}" if other else "") + f", {len(improved)} improved")
    icon = ":x:" if problems else ":white_check_mark:"
    lines = [f"## {icon} {title}: {headline}", ""]
    if problems:
        lines += ["### Regressions and failures", ""]
        for r, problem in problems:
            numbers = _parity_numbers(r) if problem == "parity failed" else _numbers(r)
            lines.append(f"- **`{r.case.key}`** {problem}: {numbers}")
            lines.append(f"  reproduce: `{facts.reproduce_command(r, nodeids.get(r.case.key))}`")
            if problem != "regressed":
                lines += _message_block(r.message)
        lines.append("")
    if improved:
        lines += ["### Improvements", ""]
        for r in improved:
            lines.append(f"- **`{r.case.key}`** improved: {_numbers(r)}")
        lines += ["", "Record an improvement as the new baseline with `--trtperf-update-baselines`.", ""]
    lines += [f"<details><summary>All {plural(len(ordered), 'case')}</summary>", ""]
    lines.append("| " + " | ".join(SUMMARY_HEADER) + " |")
    lines.append("| " + " | ".join("---" if h in ("case", "verdict") else "---:" for h in SUMMARY_HEADER) + " |")
    for row in summary_rows(ordered):
        lines.append("| " + " | ".join(_cell(c if i else f"`{c}`") for i, c in enumerate(row)) + " |")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def write_markdown(path: Path | None, results: Sequence[CaseResult], nodeids: Mapping[str, str] | None = None,
                   environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Write the summary to ``path`` (when given) and append it to ``$GITHUB_STEP_SUMMARY`` (when set);
    returns the paths written."""
    text = render_markdown(results, nodeids)
    written = []
    if path is not None:
        atomic_write_bytes(path, text.encode())
        written.append(path)
    step_summary = environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        summary_path = Path(step_summary)
        with open(summary_path, "a", encoding="utf-8") as handle:  # GitHub appends every step's summary
            handle.write(text)
        written.append(summary_path)
    return written
