"""Live progress (issue 15, item 5): the pipeline's stage events, the log and rich reporters."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.pipeline import CaseRunner
from trtperf.progress import DONE, TIMING, LogProgress, ProgressEvent, RichProgress, describe
from trtperf.spec import ModelSpec


@pytest.mark.timed
def test_a_real_case_reports_every_stage_and_each_timing_run(tiny_spec: ModelSpec, tmp_path: Path) -> None:
    settings = Settings(runs=3, min_time=0.005, min_iters=5, warmup=0.005, remeasure=0, cache_dir=tmp_path / "c")
    runner = CaseRunner(settings, tmp_path / "baselines")
    events: list[ProgressEvent] = []
    runner.progress = events.append
    result = runner.run(tiny_spec, Case("tiny_mlp", "onnxruntime", "fp32", 4, 1))
    assert result.outcome == "passed", result.message
    assert [e.stage for e in events] == ["export", "precision", "build", "reference", "parity", "timing", "timing",
                                         "timing", "timing", "verdict", "done"]
    assert {e.case for e in events} == {"tiny_mlp[onnxruntime-fp32-b4-s1]"}
    timing = [e for e in events if e.stage == TIMING and e.runs]
    assert [(e.run, e.runs) for e in timing] == [(1, 3), (2, 3), (3, 3)]
    assert all(e.median_ms is not None and 0 < e.median_ms < 100 for e in timing)
    assert events[3].detail.startswith("engine built in ") and events[5].detail == "3 runs"
    # A CPU case times the machine probe before each of its runs (trtperf.timing.machine_probe).
    assert len(result.environment["cpu_probe"]["per_run_us"]) == 3 and result.environment["cpu_probe"]["median_us"] > 0
    # A second run of the same case finds its engine in the cache.
    events.clear()
    runner.run(tiny_spec, Case("tiny_mlp", "onnxruntime", "fp32", 4, 1))
    assert events[0].detail == "cached" and events[3].detail == "engine from the cache"
    # Recording a baseline takes at least 10 runs (Settings.record_runs), whatever the runs per look.
    events.clear()
    record = CaseRunner(Settings(runs=3, min_time=0.0, min_iters=2, warmup=0.0, update_baselines=True,
                                 cache_dir=tmp_path / "c"), tmp_path / "baselines")
    record.progress = events.append
    assert record.run(tiny_spec, Case("tiny_mlp", "onnxruntime", "fp32", 4, 1)).outcome == "passed"
    assert [e.runs for e in events if e.stage == TIMING and e.runs][-1] == 10


def test_a_failing_case_still_ends_with_done(tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    runner = CaseRunner(Settings(cache_dir=tmp_path / "c"), tmp_path / "b")
    runner.progress = events.append
    from trtperf.spec import InputSpec, model

    def broken() -> object:
        raise RuntimeError("no module")

    spec = model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="broken")(broken)  # type: ignore[arg-type]
    result = runner.run(spec, Case("broken", "onnxruntime", "fp32", 1, 1))  # contained: a failed case
    assert result.outcome == "failed" and result.failed_stage == "export" and "no module" in result.message
    assert [e.stage for e in events] == ["export", "done"]


def test_log_lines_say_stage_timing_run_and_how_long_a_slow_stage_took() -> None:
    lines: list[str] = []
    clock = iter([0.0, 0.0, 12.5, 13.0])
    log = LogProgress(lines.append, now=lambda: next(clock))
    log(ProgressEvent("m[x]", "build", "tensorrt"))
    log(ProgressEvent("m[x]", "parity", "built in 12.5 s"))
    log(ProgressEvent("m[x]", TIMING, run=2, runs=10, median_ms=1.23456))
    assert lines == ["trtperf m[x]: build (tensorrt)", "trtperf m[x]: build done in 12.5 s",
                     "trtperf m[x]: parity (built in 12.5 s)",
                     "trtperf m[x]: timing run 2 of 10, median so far 1.235 ms"]
    assert describe(ProgressEvent("m[x]", TIMING, run=1, runs=3)) == "timing run 1 of 3"
    assert describe(ProgressEvent("m[x]", TIMING, run=1, runs=3, median_ms=0.5), short=True) == "run 1/3 median 0.5 ms"


def test_rich_progress_draws_after_pytest_and_erases_itself() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    rich = RichProgress(console, refresh_s=0.01)
    rich(ProgressEvent("m[x]", "build"))
    rich(ProgressEvent("m[x]", TIMING, run=1, runs=3, median_ms=2.0))
    assert rich.active
    assert all(len(line) <= 100 - 40 for line in rich._render().plain.splitlines())  # never wraps
    rich(ProgressEvent("m[x]", DONE))
    assert not rich.active
    out = buffer.getvalue()
    assert out.startswith("\x1b7") and out.endswith("\x1b8\x1b[K"), "saved cursor, restored and cleared"
    assert "[0 s] run 1/3 median 2 ms · m[x]" in out and "\n" not in out
