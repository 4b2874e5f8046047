"""Per-case results, the results JSON file, and the summary table."""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trtperf.cases import Case
from trtperf.errors import TrtperfUsageError
from trtperf.fsutil import atomic_write_json
from trtperf.record.naturalsort import case_order
from trtperf.text import signed_percent

RESULTS_SCHEMA_VERSION = 1

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
PYTEST_STAGE = "pytest"
"""``failed_stage`` of a case that trtperf passed and pytest then failed (a warning made an error by
``filterwarnings``, an unraisable exception, another plugin): never recorded as a baseline."""


@dataclass
class CaseResult:
    case: Case
    outcome: str = PASSED
    message: str = ""
    device: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    timing_mode: dict[str, Any] = field(default_factory=dict)
    artifact: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failed_stage: str = ""
    """The stage a failed case failed in (export, precision, build, reference, parity, timing, verdict);
    '' when it did not fail in a stage (passed, or failed its parity or gate)."""
    samples: dict[str, Any] | None = None
    """Per-run quantiles and bounded raw samples, stored with a baseline (trtperf.verdict.judging.run_details)."""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds per stage of this case (setup, export, precision, build, reference, parity, timing,
    verdict; those it entered): where a verdict's time goes."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        case = asdict(self.case)
        dims = case.pop("dims")
        data["case"] = {"key": self.case.key, **case, **({"dims": dict(dims)} if dims else {})}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseResult:
        fields = dict(data)
        case_fields = dict(fields.pop("case"))
        case_fields.pop("key", None)
        case_fields["dims"] = tuple(sorted(dict(case_fields.get("dims") or {}).items()))
        return cls(case=Case(**case_fields), **fields)

    def baseline_entry(self, trtperf_version: str) -> dict[str, Any]:
        """What the baseline file stores for this case."""
        if self.stats is None:
            raise ValueError(f"{self.case.key} has no timing statistics to record")
        return {
            "stats": self.stats,
            "timing_mode": self.timing_mode,
            "environment": {**self.environment, "trtperf_version": trtperf_version},
            "artifact": self.artifact,
            "samples": self.samples or {},
            "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }


def write_results(path: Path, results: Sequence[CaseResult], meta: Mapping[str, Any]) -> None:
    document = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "meta": dict(meta),
        "cases": [r.to_json() for r in sorted(results, key=case_order)],
    }
    atomic_write_json(path, document)


def read_results(path: Path) -> list[CaseResult]:
    if not path.is_file():
        raise TrtperfUsageError(f"{path}: no such results file; pass the file a run wrote (.trtperf/results.json "
                                f"by default, or the path given to --trtperf-results).")
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrtperfUsageError(f"{path}: cannot read results JSON ({exc}).") from None
    if not isinstance(document, dict) or document.get("schema_version") != RESULTS_SCHEMA_VERSION:
        raise TrtperfUsageError(
            f"{path}: not a trtperf results file of schema {RESULTS_SCHEMA_VERSION}; "
            f"produce one with `pytest suites --trtperf-results {path}`."
        )
    try:
        return [CaseResult.from_json(c) for c in document.get("cases", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise TrtperfUsageError(
            f"{path}: a case entry is malformed ({type(exc).__name__}: {exc}); regenerate the file with pytest."
        ) from None


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 100 else f"{value:.1f}"


TORCH_EAGER = "torch"


def _device_of(r: CaseResult) -> str:
    return str((r.device or {}).get("slug", ""))


def speedups_vs_torch(results: Iterable[CaseResult]) -> dict[str, float]:
    """Case key -> torch eager's median / this case's median, for cases of this run that have a torch
    eager result of the same model, precision, batch and streams ON THE SAME DEVICE (2.0: twice as
    fast as eager). onnxruntime on the CPU is never compared with torch on a GPU (issue 14)."""
    results = list(results)
    eager = {(r.case.model, r.case.precision, r.case.batch, r.case.dims, r.case.streams, _device_of(r)):
             r.stats["median_ms"]
             for r in results if r.case.backend == TORCH_EAGER and r.stats and r.stats.get("median_ms")}
    out = {}
    for r in results:
        base = eager.get((r.case.model, r.case.precision, r.case.batch, r.case.dims, r.case.streams, _device_of(r)))
        if base and r.stats and r.stats.get("median_ms"):
            out[r.case.key] = base / r.stats["median_ms"]
    return out


def baseline_median_ms(result: CaseResult) -> float | None:
    """The baseline median (ms) that the verdict's ratio compares with: in a paired A/B the baseline engine's
    median re-measured in this job (a new user's trial, 2026-12-07: the table showed the stored 0.139 ms beside
    a candidate of 0.119 ms and "regressed +23.8 %"), else the stored baseline's."""
    baseline = result.baseline or {}
    paired = baseline.get("paired_median_ms")
    if (result.verdict or {}).get("paired") and isinstance(paired, (int, float)):
        return float(paired)
    value = (baseline.get("stats") or {}).get("median_ms")
    return None if value is None else float(value)


def summary_rows(results: Iterable[CaseResult]) -> list[list[str]]:
    results = list(results)
    speedups = speedups_vs_torch(results)
    rows = []
    for r in sorted(results, key=case_order):
        stats = r.stats or {}
        verdict = r.verdict or {}
        change = "-"
        if verdict.get("ratio") is not None:
            change = signed_percent(verdict["ratio"] - 1)
        parity = "-"
        if r.parity is not None:
            outputs = r.parity["outputs"]
            if any(o.get("reference_nonfinite") and not (o.get("tolerance") or {}).get("allow_nonfinite")
                   for o in outputs):
                parity = "NaN/Inf ref FAIL"  # the error of a non-finite reference says nothing
            else:
                worst = max((o["max_abs"] for o in outputs), default=0.0)
                parity = f"{worst:.1e}" + ("" if r.parity["passed"] else " FAIL")
        status = verdict.get("status", "")
        if r.failed_stage == PYTEST_STAGE:  # the gate's verdict stood, but pytest failed the case
            status = f"failed ({PYTEST_STAGE})"
        elif r.outcome == FAILED and not status:
            status = f"failed ({r.failed_stage})" if r.failed_stage else "failed"
        elif r.outcome == SKIPPED:
            status = "skipped"
        elif not status:  # not judged: say why ("no timing", "build only") before any other note
            untimed = [n for n in r.notes if n in UNTIMED_NOTES]
            status = untimed[0] if untimed else (note_kind(r.notes[0]) if r.notes else "ok")
        if (r.environment.get("gpu_clocks") or {}).get("throttled"):
            status += " (throttled)"  # NVML saw power/thermal throttling during the timing
        if verdict.get("paired"):
            status += " (paired)"  # judged by a same-job A/B against the baseline's own engine
        rows.append([
            r.case.key,
            _ms(stats.get("median_ms")),
            _ms(stats.get("p99_ms")),
            f"{speedups[r.case.key]:.2f}x" if r.case.key in speedups else "-",
            _ms(baseline_median_ms(r)),
            change,
            parity,
            status,
        ])
    return rows


NO_TIMING = "no timing"
BUILD_ONLY = "build only"
UNTIMED_NOTES = (NO_TIMING, BUILD_ONLY)
"""The notes of a case that ran without timing (``--trtperf-no-timing``; a backend that can only build here)."""

VS_TORCH = "vs torch (same device)"
"""Speed-up over torch eager of the same model, precision, batch and streams on the same device."""
SUMMARY_HEADER = ["case", "median ms", "p99 ms", VS_TORCH, "baseline ms", "change", "parity err", "verdict"]


def note_kind(note: str) -> str:
    """The kind of a note, for grouping: its text before the first ':' without numbers or
    parentheses ("launch-bound: the host took 0.31 ms ..." -> "launch-bound"; "short inference
    (12.3 us): ..." -> "short inference"; "timing waited 2.0 s for ..." -> "timing waited")."""
    head = re.sub(r"\s*\([^)]*\)", "", note.split(":", 1)[0])
    head = re.sub(r"\b[0-9a-f]{6,}\b\s*", "", head)  # an artifact key ("baseline engine bf7b380bce6a ...")
    digit = re.search(r"(?<![\w.])\d", head)  # a number, not the digits of "fp16" or "int8"
    if digit:
        head = head[:digit.start()]
    head = re.sub(r"(\s+(in|of|for|at|by|on))+\s*$", "", head.strip(" ;,."))
    return head or note[:40]


CONTINUATIONS = ("--", "even ", "a noisy machine", "raise ", "expect ", "more runs needed", "consider ")
"""Starts of the advice that some notes carry after "; " (verdict notes are "; "-joined): such a
fragment belongs to the note before it, not to a kind of its own."""


def _split_outside_parentheses(text: str, sep: str = "; ") -> list[str]:
    """``text`` split at ``sep`` except inside parentheses ("too few runs (6 baseline; at least 5)")."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        char = text[i]
        depth += (char == "(") - (char == ")")
        if depth <= 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i = i + len(sep)
            continue
        i += 1
    parts.append(text[start:])
    return parts


def case_notes(r: CaseResult) -> list[str]:
    """Every note of a case: the verdict's ("; "-joined) and the result's own, without repeats."""
    notes: list[str] = []
    verdict = r.verdict or {}
    note = verdict.get("note")
    if note and verdict.get("status") == "mode mismatch":
        notes.append(f"mode mismatch: {note}")  # one note: the fields that differ
    elif note and note != verdict.get("status"):
        for part in (p.strip() for p in _split_outside_parentheses(str(note))):
            if part and notes and part.startswith(CONTINUATIONS):
                notes[-1] = f"{notes[-1]}; {part}"
            elif part:
                notes.append(part)
    notes.extend(n for n in r.notes if n not in notes)
    return notes


def grouped_notes(results: Iterable[CaseResult]) -> dict[str, list[str]]:
    """Note kind -> the case keys with such a note, in case order; "no baseline" (in the table) left out."""
    groups: dict[str, list[str]] = {}
    for r in sorted(results, key=lambda r: r.case.key):
        for note in case_notes(r):
            kind = note_kind(note)
            if kind == "no baseline":
                continue
            keys = groups.setdefault(kind, [])
            if r.case.key not in keys:
                keys.append(r.case.key)
    return groups


SHORT_HEADERS = {VS_TORCH: "vs torch"}
"""Headers shortened when the table does not fit the width (a footnote says what the short one means)."""
MIN_VERDICT = 12
"""A verdict cell is cut (with "…") to fit the width, never below this; its note is in full in results.json."""


def _fit(cell: str, room: int) -> str:
    room = max(room, MIN_VERDICT)
    return cell if len(cell) <= room else cell[:room - 1] + "…"


def render_summary(results: Iterable[CaseResult], width: int = 120) -> str:
    """The summary table as plain text, readable at ``width`` columns (80 and up).

    One line per case when it fits; else the long header shortened (with a footnote); else each case id on
    a line of its own with its verdict, its numbers on the next, indented (ids are never cut: they are what
    ``-k`` takes). A verdict longer than the room left is cut with "…" (the full note is in results.json).
    Below the table, one line per kind of note listing its cases, wrapped at ``width`` between case ids."""
    import textwrap

    results = list(results)  # iterated twice: rows, then notes
    rows = summary_rows(results)
    numeric = range(1, len(SUMMARY_HEADER) - 1)

    def layout(header: list[str]) -> tuple[list[int], int]:
        widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
        numbers = sum(widths[i] + 2 for i in numeric)
        return widths, numbers

    def numbers_line(cells: list[str], widths: list[int]) -> str:
        return "  ".join(cells[i].rjust(widths[i]) for i in numeric)

    header = list(SUMMARY_HEADER)
    widths, numbers = layout(header)
    footnote = ""
    if widths[0] + numbers + 2 + widths[-1] > width:
        header = [SHORT_HEADERS.get(name, name) for name in SUMMARY_HEADER]
        widths, numbers = layout(header)
        footnote = "vs torch: speed-up over torch eager on the same device"
    lines = ["trtperf summary"]
    if widths[0] + numbers + 2 + min(widths[-1], MIN_VERDICT) <= width:  # one line per case
        room = width - widths[0] - numbers - 2
        for cells in [header, *rows]:
            verdict = _fit(cells[-1], room)
            lines.append(f"{cells[0].ljust(widths[0])}  {numbers_line(cells, widths)}  {verdict}".rstrip())
    else:  # each case id on a line of its own, with its verdict; its numbers on the next line
        for cells in [header, *rows]:
            lines.append(f"{cells[0]}  {_fit(cells[-1], width - len(cells[0]) - 2)}".rstrip())
            lines.append(f"  {numbers_line(cells, widths)}".rstrip())
    if footnote and rows:
        lines.append(f"({footnote})")
    # One line per kind of note, listing its cases; each note's full text is in results.json (issue 14).
    groups = grouped_notes(results)
    for kind, keys in groups.items():
        # Case ids hold hyphens: wrap only between ids.
        lines += textwrap.wrap(f"{kind} ({len(keys)}): {', '.join(keys)}", width=max(width, 40),
                               subsequent_indent="  ", break_on_hyphens=False, break_long_words=False)
    if groups:
        lines.append("(each note in full: the case's verdict.note and notes in results.json)")
    return "\n".join(lines) + "\n"
