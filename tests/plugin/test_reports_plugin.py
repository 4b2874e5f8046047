"""The reports of issue 15 from a real run, as a user asks for them on the command line."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

FAST = ["--trtperf-backend", "onnxruntime", "--trtperf-runs", "3", "--trtperf-min-time", "0.03",
        "--trtperf-min-iters", "10", "--trtperf-warmup", "0.02", "-p", "no:cacheprovider"]
KEYS = ["tiny[onnxruntime-fp32-b2-s1]", "tiny[onnxruntime-fp32-b16-s1]"]


def test_one_run_writes_every_report(pytester: pytest.Pytester, tmp_path: Path, tiny_suite: Callable[..., None],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_suite(batches="(16, 2)")
    pytester.makeini("[pytest]\n")
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = tmp_path / "out"
    args = [*FAST, f"--trtperf-cache-dir={tmp_path / 'cache'}", f"--trtperf-baseline-dir={tmp_path / 'baselines'}",
            f"--trtperf-results={out / 'results.json'}", f"--trtperf-benchmark-json={out / 'bench.json'}",
            f"--trtperf-markdown={out / 'summary.md'}", f"--trtperf-history={out / 'history'}",
            f"--junitxml={out / 'junit.xml'}"]
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*pytest-benchmark JSON written to*bench.json", "*Markdown summary written to*",
                                 "*history appended:*"])
    # The terminal table, the results file and every report list b2 before b16.
    # Rows lie between the title and the legend; the notes under the legend may wrap onto lines that
    # also start with a case id ("high within-run spread (2): ...").
    lines = result.stdout.lines
    rows = lines[lines.index("trtperf summary"):next(i for i, line in enumerate(lines) if line.startswith("(vs torch"))]
    table = [line.strip("│ ").split()[0] for line in rows if line.strip("│ ").startswith("tiny[")]
    assert table == KEYS
    assert [c["case"]["key"] for c in json.loads((out / "results.json").read_text())["cases"]] == KEYS
    bench = json.loads((out / "bench.json").read_text())
    assert [b["name"] for b in bench["benchmarks"]] == KEYS
    assert bench["benchmarks"][0]["fullname"] == "test_tiny.py::tiny[onnxruntime-fp32-b2-s1]"
    assert all(0 < b["stats"]["median"] < 0.1 for b in bench["benchmarks"])  # seconds
    markdown = (out / "summary.md").read_text()
    assert "2 cases: 0 regressed, 0 parity failures, 0 improved" in markdown
    assert summary.read_text() == markdown
    assert len(list((out / "history" / "runs").glob("*.json"))) == 1
    # JUnit: one property per number, and no JSON blob.
    testcases = ET.parse(out / "junit.xml").getroot().iter("testcase")
    props = {tc.get("name"): {str(p.get("name")): str(p.get("value")) for p in tc.iter("property")}
             for tc in testcases}
    assert set(props) == set(KEYS)
    for values in props.values():
        assert list(values) == ["median_ms", "p99_ms", "baseline_ms", "change", "verdict", "parity_max_abs_err"]
        assert float(values["median_ms"]) > 0 and values["verdict"] == "no baseline" and values["baseline_ms"] == ""
        assert float(values["parity_max_abs_err"]) < 1e-4
    # Progress: not a terminal here, so plain log lines; -q adds nothing.
    result.stdout.fnmatch_lines(["trtperf tiny[[]onnxruntime-fp32-b2-s1[]]: build (onnxruntime)",
                                 "trtperf tiny[[]onnxruntime-fp32-b2-s1[]]: timing run 3 of 3, median so far *ms"])
    quiet = pytester.runpytest(*args, "-q")
    quiet.assert_outcomes(passed=2)
    assert not [line for line in quiet.stdout.lines if line.startswith("trtperf tiny[")]


def test_a_report_that_cannot_be_written_fails_the_run_with_the_reason(
    pytester: pytest.Pytester, tmp_path: Path, tiny_suite: Callable[..., None]
) -> None:
    tiny_suite()
    pytester.makeini("[pytest]\n")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory is needed")
    result = pytester.runpytest(*FAST, f"--trtperf-cache-dir={tmp_path / 'cache'}",
                                f"--trtperf-baseline-dir={tmp_path / 'baselines'}",
                                f"--trtperf-results={tmp_path / 'results.json'}",
                                f"--trtperf-markdown={blocker / 'summary.md'}", "--trtperf-progress=off")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["trtperf: writing a report failed: *not-a-dir*"])
    assert (tmp_path / "results.json").exists(), "the results are written first"
    assert not [line for line in result.stdout.lines if line.startswith("trtperf tiny[")], "progress off"
