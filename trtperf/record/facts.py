"""The numbers every report shows for one case, read from a :class:`CaseResult` (pure functions).

One place decides what "parity error", "change" and "verdict" mean, so the terminal table, JUnit
properties, Markdown, HTML and pytest-benchmark JSON never disagree.
"""

from __future__ import annotations

from typing import Any

from trtperf.record.results import FAILED, SKIPPED, CaseResult
from trtperf.record.results import baseline_median_ms as baseline_median_ms  # defined beside the table


def parity_max_abs_err(result: CaseResult) -> float | None:
    """Largest absolute error over the outputs against the fp32 reference, or None without parity."""
    if result.parity is None:
        return None
    return max((float(o["max_abs"]) for o in result.parity.get("outputs", [])), default=0.0)


def change(result: CaseResult) -> float | None:
    """Candidate median / baseline median - 1 (0.05: 5 % slower), or None without a verdict ratio."""
    ratio = (result.verdict or {}).get("ratio")
    return None if ratio is None else float(ratio) - 1.0


def verdict_status(result: CaseResult) -> str:
    """``pass``, ``regressed``, ``improved``, ``inconclusive``, ``no baseline``, ``failed``, ``skipped`` ...:
    the gate's status when there is one, else what happened to the case."""
    status = (result.verdict or {}).get("status")
    if status:
        return str(status)
    if result.outcome == FAILED:
        return "failed"
    if result.outcome == SKIPPED:
        return "skipped"
    return result.notes[0] if result.notes else "ok"


def parity_failed(result: CaseResult) -> bool:
    return result.parity is not None and not result.parity.get("passed", True)


def stat(result: CaseResult, name: str) -> Any:
    return (result.stats or {}).get(name)


def reproduce_command(result: CaseResult, nodeid: str | None = None) -> str:
    """The pytest command that reruns just this case: ``pytest 'NODEID'`` when the test id is known
    (``suites/test_cnn.py::cnn[onnxruntime-fp32-b8-s1]``), else ``pytest suites -k 'KEY'``."""
    if nodeid:
        return f"pytest '{nodeid}'"
    return f"pytest suites -k '{result.case.key}'"
