"""CaseRunner containment (issue 12): any failure in any stage is a failed case naming case, stage
and cause, on one screen; a native crash in an isolated step fails the case with the signal's name."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest
from torch import nn

import trtperf
import trtperf.backends.onnxruntime
from trtperf import InputSpec, ModelSpec
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.pipeline import CaseRunner, failure_message, one_screen
from trtperf.record.results import FAILED, PASSED


def crash_like_a_native_optimizer(source: Path, target: Path) -> None:
    """Stands in for ONNX Runtime's graph optimizer hitting a bug: a real NULL read, in the child."""
    ctypes.string_at(0)


def _relu() -> nn.Module:
    return nn.ReLU()


def _runner(tmp_path: Path) -> CaseRunner:
    return CaseRunner(Settings(cache_dir=tmp_path / "cache", no_timing=True), tmp_path / "baselines")


def test_a_native_crash_in_the_build_fails_only_that_case_with_the_signal(
        tiny_spec: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = _runner(tmp_path)
    monkeypatch.setattr(trtperf.backends.onnxruntime, "optimize_to_file", crash_like_a_native_optimizer)
    result = runner.run(tiny_spec, Case(tiny_spec.name, "onnxruntime", "fp32", 2, 1))
    assert (result.outcome, result.failed_stage) == (FAILED, "build")
    assert result.message.startswith(f"{tiny_spec.name}[onnxruntime-fp32-b2-s1]: build failed: ONNX Runtime graph "
                                     f"optimization of {tiny_spec.name}[onnxruntime-fp32-b2-s1] crashed: its child "
                                     f"process died with SIGSEGV (signal 11)")
    monkeypatch.undo()
    assert runner.run(tiny_spec, Case(tiny_spec.name, "onnxruntime", "fp32", 2, 1)).outcome == PASSED


def test_an_input_too_large_for_memory_is_a_failed_case(tmp_path: Path) -> None:
    """Issue 12: an allocation failure at a large batch killed the case with a long traceback."""
    spec = trtperf.model(inputs=[InputSpec("x", ("batch", 1 << 20))], outputs=["y"], name="relu",
                         max_batch=1 << 22)(_relu)
    result = _runner(tmp_path).run(spec, Case("relu", "onnxruntime", "fp32", 1 << 22, 1))
    assert (result.outcome, result.failed_stage) == (FAILED, "reference")
    assert result.message.startswith("relu[onnxruntime-fp32-b4194304-s1]: reference failed: ")
    assert "MemoryError" in result.message and "16.0 TiB" in result.message


def test_failure_messages_fit_one_screen() -> None:
    case = Case("m", "onnxruntime", "fp32", 1, 1)
    long = RuntimeError("\n".join(f"line {i}" for i in range(1000)))
    text = failure_message(case, "build", long)
    assert text.startswith("m[onnxruntime-fp32-b1-s1]: build failed: RuntimeError: line 0")
    assert len(text.splitlines()) <= 24 and "lines cut" in text and text.endswith("line 999")
    assert len(one_screen("x" * 100_000)) < 3100
    disk = failure_message(case, "export", OSError(28, "No space left on device"))
    assert "not a fault of the model" in disk
