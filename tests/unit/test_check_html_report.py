"""scripts/check_html_report.py in a real headless Chromium: it catches a console error and a broken
image, and passes a real trtperf report. Skipped (with the install hint) when Chromium is missing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from trtperf.cases import Case
from trtperf.record.results import CaseResult
from trtperf.timing.stats import RunSamples, summarize

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_html_report.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_html_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_html_report", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    module = _load()
    if module.find_chromium() is None:
        pytest.skip(module.INSTALL_HINT)
    return module


def test_a_console_error_and_a_broken_image_are_caught(checker: ModuleType, tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><script>console.error("boom")</script>'
                    '<img src="missing.png"></body></html>')
    problems = checker.check(page, None)
    assert any('console: "boom"' in p for p in problems), problems
    assert "only 0 of 1 images decoded" in problems


def test_a_real_report_is_clean_and_screenshotted(checker: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="pip install -e '.[report]'")
    from trtperf.record.html import write_html

    results = []
    for batch in (1, 4):
        for precision in ("fp32", "int8"):
            runs = [RunSamples(latencies=(1e-3 * batch,) * 10, wall_s=0.01, inferences=10)] * 3
            results.append(CaseResult(case=Case("m", "onnxruntime", precision, batch, 1), device={"slug": "x"},
                                      stats=summarize(runs, batch).to_json(),
                                      parity={"passed": True, "outputs": [{"name": "y", "max_abs": 1e-6,
                                                                           "max_rel": 1e-6, "passed": True}]}))
    report, shot = tmp_path / "report.html", tmp_path / "shot.png"
    write_html(report, results)
    assert checker.check(report, shot, 800, 600) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
