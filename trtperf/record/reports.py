"""Write the reports a run's options ask for (pytest-benchmark JSON, Markdown, HTML, history).

The pytest plugin calls :func:`write_reports` once per session with every case result; each report
lives in its own module and can be used without pytest.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trtperf.config import Settings
from trtperf.record.results import CaseResult

if TYPE_CHECKING:
    from trtperf.record.history import HistoryStore


def write_reports(settings: Settings, results: Sequence[CaseResult], nodeids: Mapping[str, str],
                  meta: Mapping[str, Any], environ: Mapping[str, str] = os.environ,
                  history: HistoryStore | None = None) -> list[str]:
    """Write every report ``settings`` asks for; returns one line per file written, for the terminal.

    ``settings.history`` appends this run to that directory; ``history`` (read only) is plotted instead
    when given."""
    written: list[str] = []
    if settings.benchmark_json is not None:
        from trtperf.record.benchmark_json import write_benchmark_json

        write_benchmark_json(settings.benchmark_json, results, nodeids)
        written.append(f"pytest-benchmark JSON written to {settings.benchmark_json}")
    if settings.markdown is not None or environ.get("GITHUB_STEP_SUMMARY"):
        from trtperf.record.markdown import write_markdown

        for path in write_markdown(settings.markdown, results, nodeids, environ):
            written.append(f"Markdown summary written to {path}")
    history_runs = history
    if settings.history is not None:
        from trtperf.record.history import HistoryStore

        store = HistoryStore(settings.history)
        path = store.append(results, meta)
        written.append(f"history appended: {path}")
        history_runs = store
    if settings.html is not None:
        from trtperf.record.html import write_html

        write_html(settings.html, results, history_runs)
        written.append(f"HTML report written to {settings.html}")
    return written
