"""Where a case's seconds go (issue 14, item 5): results.json gives the wall seconds of each stage."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from torch import nn

import trtperf
from trtperf import InputSpec
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.pipeline import CaseRunner, Stage
from trtperf.record.results import FAILED, PASSED, CaseResult


def _linear() -> nn.Module:
    return nn.Linear(16, 4)


def _raises() -> nn.Module:
    raise RuntimeError("factory broke")


def test_stage_clock_adds_up_and_closes_the_current_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    stage = Stage(name="setup", since=0.0)
    ticks = iter([1.0, 3.0, 3.5, 4.0])
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks))  # a test double: a fake clock
    stage.enter("export")    # setup 0 -> 1
    stage.enter("timing")    # export 1 -> 3
    stage.enter("export")    # timing 3 -> 3.5; export again
    seconds = stage.close()  # export 3.5 -> 4, added
    monkeypatch.undo()
    assert seconds == {"setup": 1.0, "export": 2.5, "timing": 0.5}
    assert list(seconds) == ["setup", "export", "timing"]


def test_a_timed_case_reports_the_seconds_of_each_stage(tmp_path: Path) -> None:
    spec = trtperf.model(inputs=[InputSpec("x", ("batch", 16))], outputs=["y"], batches=(2,), name="linear")(_linear)
    settings = Settings(cache_dir=tmp_path / "cache", runs=2, warmup=0.01, min_time=0.01, update_baselines=True)
    t0 = time.perf_counter()
    result = CaseRunner(settings, tmp_path / "baselines").run(spec, Case("linear", "onnxruntime", "fp32", 2, 1))
    wall = time.perf_counter() - t0
    assert result.outcome == PASSED, result.message
    stages = result.stage_seconds
    assert {"export", "build", "reference", "parity", "timing", "verdict"} <= set(stages)
    assert all(s >= 0 for s in stages.values()) and sum(stages.values()) <= wall + 0.01
    assert stages["timing"] > 0  # 10 recorded runs of >= 0.01 s each
    assert CaseResult.from_json(result.to_json()).stage_seconds == stages


def test_a_failed_case_reports_the_stages_up_to_its_failure(tmp_path: Path) -> None:
    spec = trtperf.model(inputs=[InputSpec("x", ("batch", 16))], outputs=["y"], batches=(2,), name="broken")(_raises)
    result = CaseRunner(Settings(cache_dir=tmp_path / "cache", no_timing=True), tmp_path / "b").run(
        spec, Case("broken", "onnxruntime", "fp32", 2, 1))
    assert result.outcome == FAILED and result.failed_stage == "export"
    assert list(result.stage_seconds)[-1] == "export" and "timing" not in result.stage_seconds
