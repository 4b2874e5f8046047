"""The reports people review (issue 15): pytest-benchmark JSON (checked by pytest-benchmark itself),
Markdown, JUnit properties, natural order, history with change points."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trtperf.cases import Case
from trtperf.record.benchmark_json import benchmark_document, write_benchmark_json
from trtperf.record.junit import JUNIT_PROPERTIES, junit_properties
from trtperf.record.markdown import render_markdown, write_markdown
from trtperf.record.naturalsort import natural_key, natural_sorted
from trtperf.record.results import FAILED, PASSED, CaseResult, summary_rows
from trtperf.timing.stats import RunSamples, summarize
from trtperf.verdict.judging import run_details


def _timed(key: str, median_ms: float = 1.0, seed: int = 0, **fields: object) -> CaseResult:
    """A case with real statistics of 5 synthetic runs x 50 samples around ``median_ms``."""
    rng = np.random.default_rng(seed)
    runs = [RunSamples(latencies=tuple(median_ms * 1e-3 * (1 + 0.02 * rng.standard_normal(50))), wall_s=0.05,
                       inferences=50) for _ in range(5)]
    case = Case.from_key(key)
    result = CaseResult(case=case, device={"slug": "cpu-x", "name": "X CPU", "kind": "cpu"},
                        environment={"backend": case.backend, "backend_version": "1.0"},
                        timing_mode={"clock": "host", "transfers": True, "cuda_graph": False},
                        stats=summarize(runs, case.batch).to_json(), samples=run_details(runs),
                        parity={"passed": True, "outputs": [{"name": "y", "max_abs": 2e-7, "max_rel": 1e-6,
                                                             "passed": True}]},
                        verdict={"status": "no baseline", "note": "no baseline"})
    for name, value in fields.items():
        setattr(result, name, value)
    return result


def _regressed(key: str) -> CaseResult:
    return _timed(key, 1.3, outcome=FAILED, message=f"{key}: latency regressed",
                  baseline={"stats": {"median_ms": 1.0}},
                  verdict={"status": "regressed", "ratio": 1.3, "ratio_low": 1.25, "ratio_high": 1.36,
                           "paired": True})


def _parity_failed(key: str) -> CaseResult:
    return _timed(key, outcome=FAILED, message=f"{key}: fp16 parity failed\noutput 'y': max abs error 0.5",
                  stats=None, verdict=None,
                  parity={"passed": False, "outputs": [{"name": "y", "max_abs": 0.5, "max_rel": 0.9,
                                                        "passed": False}]})


def _improved(key: str) -> CaseResult:
    return _timed(key, 0.7, baseline={"stats": {"median_ms": 1.0}},
                  verdict={"status": "improved", "ratio": 0.7, "ratio_low": 0.68, "ratio_high": 0.72})


# --- natural order ---------------------------------------------------------------------------------

def test_natural_order_puts_b2_before_b16() -> None:
    keys = ["m[ort-fp32-b16-s1]", "m[ort-fp32-b2-s1]", "m[ort-fp32-b2-s10]", "m[ort-fp32-b2-s2]", "m10[x]", "m2[x]"]
    assert natural_sorted(keys) == ["m2[x]", "m10[x]", "m[ort-fp32-b2-s1]", "m[ort-fp32-b2-s2]",
                                    "m[ort-fp32-b2-s10]", "m[ort-fp32-b16-s1]"]  # digits sort before text
    assert natural_key("a1") < natural_key("ab")  # digits and text always compare


def test_every_report_uses_natural_order() -> None:
    results = [_timed(f"mlp[onnxruntime-fp32-b{b}-s1]", seed=b) for b in (16, 2, 1)]
    expected = [f"mlp[onnxruntime-fp32-b{b}-s1]" for b in (1, 2, 16)]
    assert [row[0] for row in summary_rows(results)] == expected
    assert [b["name"] for b in benchmark_document(results)["benchmarks"]] == expected
    markdown = render_markdown(results)
    assert [markdown.index(f"`{k}`") for k in expected] == sorted(markdown.index(f"`{k}`") for k in expected)


# --- pytest-benchmark JSON -------------------------------------------------------------------------

def test_benchmark_stats_are_seconds_and_consistent() -> None:
    result = _timed("mlp[onnxruntime-fp32-b4-s1]", 2.0)
    (bench,) = benchmark_document([result, _parity_failed("mlp[onnxruntime-fp16-b4-s1]")])["benchmarks"]
    stats, s = bench["stats"], result.stats
    assert s is not None
    assert stats["median"] == pytest.approx(s["median_ms"] / 1e3) and 1.5e-3 < stats["median"] < 2.5e-3
    assert stats["min"] <= stats["q1"] <= stats["median"] <= stats["q3"] <= stats["max"]
    assert stats["iqr"] == pytest.approx(stats["q3"] - stats["q1"])
    assert stats["ops"] == pytest.approx(1 / stats["mean"]) and stats["rounds"] == s["samples"] == 250
    assert stats["ld15iqr"] >= stats["min"] and stats["hd15iqr"] <= stats["max"]
    assert 0 < len(stats["data"]) <= 300 and all(1e-3 < v < 3e-3 for v in stats["data"])
    assert bench["params"] == {"backend": "onnxruntime", "precision": "fp32", "batch": 4, "streams": 1}
    assert len(bench["extra_info"]["run_medians_s"]) == 5


def _pytest_benchmark_cli() -> str:
    exe = shutil.which("pytest-benchmark", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("pytest-benchmark is not installed: pip install -e '.[dev]'")
    return exe


def test_pytest_benchmark_loads_and_compares_our_file(tmp_path: Path) -> None:
    """pytest-benchmark's own loader and `compare` read the file: the format cannot drift unnoticed."""
    pytest.importorskip("pytest_benchmark", reason="pip install -e '.[dev]'")
    from pytest_benchmark.logger import Logger
    from pytest_benchmark.storage.file import FileStorage

    results = [_timed(f"mlp[onnxruntime-fp32-b{b}-s1]", 0.5 * b, seed=b) for b in (1, 2, 16)]
    first, second = tmp_path / "0001_base.json", tmp_path / "0002_head.json"
    write_benchmark_json(first, results, {r.case.key: f"suites/test_mlp.py::{r.case.key}" for r in results})
    write_benchmark_json(second, [_timed(r.case.key, 0.6 * r.case.batch, seed=9) for r in results])
    # The loader logs and skips a file it cannot read, so count what it yields.
    logger = Logger(level=Logger.QUIET)  # type: ignore[no-untyped-call]
    storage = FileStorage(tmp_path, logger=logger)  # type: ignore[no-untyped-call]
    loaded = list(storage.load_benchmarks(str(first), str(second)))  # type: ignore[no-untyped-call]
    assert len(loaded) == 6
    by_name = {(b["source"][:4], b["name"]): b for b in loaded}
    assert by_name[("0001", "mlp[onnxruntime-fp32-b16-s1]")]["median"] == pytest.approx(8e-3, rel=0.05)
    fullname = by_name[("0001", "mlp[onnxruntime-fp32-b1-s1]")]["fullname"]
    assert fullname == "suites/test_mlp.py::mlp[onnxruntime-fp32-b1-s1]"
    run = subprocess.run([_pytest_benchmark_cli(), "--storage", f"file://{tmp_path}", "compare", str(first),
                          str(second), "--columns=min,median,mean,ops,rounds", "--group-by=name"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Failed to load" not in run.stdout + run.stderr
    for b in (1, 2, 16):
        assert f"mlp[onnxruntime-fp32-b{b}-s1]" in run.stdout
    assert "Median" in run.stdout and "OPS" in run.stdout


def test_commit_info_outside_git_is_an_error_entry(tmp_path: Path) -> None:
    from trtperf.record.benchmark_json import commit_info

    assert "error" in commit_info(tmp_path)


# --- Markdown --------------------------------------------------------------------------------------

def test_markdown_puts_regressions_and_parity_failures_first() -> None:
    results = [_timed("mlp[onnxruntime-fp32-b1-s1]"), _improved("mlp[onnxruntime-fp32-b2-s1]"),
               _parity_failed("cnn[onnxruntime-fp16-b8-s1]"), _regressed("cnn[onnxruntime-fp32-b8-s1]")]
    text = render_markdown(results, {"cnn[onnxruntime-fp32-b8-s1]": "suites/test_cnn.py::cnn[onnxruntime-fp32-b8-s1]"})
    assert text.startswith("## :x: trtperf: 4 cases: 1 regressed, 1 parity failure, 1 improved")
    failures, improvements, table = text.index("### Regressions"), text.index("### Improvements"), text.index(
        "<details>")
    assert failures < improvements < table
    section = text[failures:improvements]
    assert re.search(r"\*\*`cnn\[onnxruntime-fp32-b8-s1\]`\*\* regressed: median 1\.[23]\d* ms, p99 ", section)
    assert "baseline 1 ms, +30.0%, ratio CI 1.250-1.360, paired" in section
    assert "reproduce: `pytest 'suites/test_cnn.py::cnn[onnxruntime-fp32-b8-s1]'`" in section
    assert "**`cnn[onnxruntime-fp16-b8-s1]`** parity failed: `y` max abs 0.5, max rel 0.9" in section
    assert "reproduce: `pytest suites -k 'cnn[onnxruntime-fp16-b8-s1]'`" in section
    assert "mlp[onnxruntime-fp32-b2-s1]`** improved" in text[improvements:table]
    rows = [line for line in text[table:].splitlines() if line.startswith("| `")]
    assert len(rows) == 4 and text.rstrip().endswith("</details>")


def test_markdown_without_problems_says_so() -> None:
    text = render_markdown([_timed("mlp[onnxruntime-fp32-b1-s1]")])
    assert text.startswith("## :white_check_mark:") and "### Regressions" not in text


def test_markdown_goes_to_the_file_and_appends_to_the_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("earlier step\n")
    written = write_markdown(tmp_path / "out.md", [_regressed("m[onnxruntime-fp32-b1-s1]")],
                             environ={"GITHUB_STEP_SUMMARY": str(summary)})
    assert written == [tmp_path / "out.md", summary]
    assert summary.read_text().startswith("earlier step\n## :x: trtperf")
    assert (tmp_path / "out.md").read_text() in summary.read_text()


# --- JUnit -----------------------------------------------------------------------------------------

def test_junit_properties_are_separate_numbers() -> None:
    props = dict(junit_properties(_regressed("m[onnxruntime-fp32-b1-s1]")))
    assert list(props) == list(JUNIT_PROPERTIES)
    assert float(props["median_ms"]) == pytest.approx(1.3, rel=0.05) and props["baseline_ms"] == "1"
    assert props["change"] == "0.3000" and props["verdict"] == "regressed"
    assert float(props["parity_max_abs_err"]) == pytest.approx(2e-7)
    untimed = dict(junit_properties(_parity_failed("m[onnxruntime-fp16-b1-s1]")))
    assert untimed["median_ms"] == "" and untimed["verdict"] == "failed"
    assert untimed["parity_max_abs_err"] == "0.5"
    assert dict(junit_properties(_timed("m[onnxruntime-fp32-b1-s1]", outcome=PASSED)))["verdict"] == "no baseline"


def test_benchmark_json_is_valid_json_text(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    write_benchmark_json(path, [_timed("m[onnxruntime-fp32-b1-s1]")])
    document = json.loads(path.read_text())
    assert set(document) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}


# --- history ---------------------------------------------------------------------------------------

def test_change_points_find_a_step_and_ignore_noise() -> None:
    pytest.importorskip("ruptures", reason="pip install -e '.[history]'")
    from trtperf.record.history import change_points

    rng = np.random.default_rng(3)
    flat = list(1.0 * (1 + 0.01 * rng.standard_normal(20)))
    assert change_points(flat) == []
    step = flat[:12] + [v * 1.25 for v in flat[12:]]
    ((index, before, after),) = change_points(step)
    assert index == 12 and after / before == pytest.approx(1.25, rel=0.03)
    small = flat[:12] + [v * 1.02 for v in flat[12:]]
    assert change_points(small) == [], "a shift below min_change is not reported"
    assert change_points([1.0, 2.0, 1.0]) == []  # too short to split


def test_history_appends_runs_and_the_cli_shows_change_points(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ruptures", reason="pip install -e '.[history]'")
    import datetime as dt

    from trtperf.cli import main
    from trtperf.record.history import HistoryStore

    store = HistoryStore(tmp_path / "history")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(12):
        median = 1.0 if i < 7 else 1.4
        store.append([_timed("mlp[onnxruntime-fp32-b2-s1]", median, seed=i),
                      _timed("mlp[onnxruntime-fp32-b16-s1]", 3.0, seed=100 + i)],
                     {}, commit=f"{i:02d}" + "c" * 38, now=start + dt.timedelta(days=i))
    (series_b2,) = store.series("b2-")
    assert len(series_b2.points) == 12
    assert main(["history", "--dir", str(tmp_path / "history"), "-k", "mlp"]) == 0
    out = capsys.readouterr().out
    assert out.index("b2-s1") < out.index("b16-s1")
    assert "mlp[onnxruntime-fp32-b2-s1] on cpu-x: 12 runs, 1 change point" in out
    assert "change point: +40" in out and "(commit 07cccccccccc)" in out
    assert "mlp[onnxruntime-fp32-b16-s1] on cpu-x: 12 runs, 0 change points" in out


def test_an_unreadable_history_run_names_the_file(tmp_path: Path) -> None:
    from trtperf.errors import TrtperfUsageError
    from trtperf.record.history import HistoryStore

    store = HistoryStore(tmp_path)
    store.runs_dir.mkdir()
    (store.runs_dir / "bad.json").write_text("{")
    with pytest.raises(TrtperfUsageError, match=r"bad\.json: not a readable history run.*delete the file"):
        store.series()
