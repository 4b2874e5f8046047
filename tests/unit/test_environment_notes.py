"""Version and flavour changes between baseline and candidate are noted, never keyed."""

from __future__ import annotations

from trtperf.verdict.statistics import environment_differences


def test_backend_flavour_and_version_changes_are_noted() -> None:
    baseline = {"backend": "tensorrt", "backend_version": "1.7.1.116", "trt_flavour": "TensorRT-RTX"}
    candidate = {"backend": "tensorrt", "backend_version": "11.4.0.106", "trt_flavour": "TensorRT"}
    notes = environment_differences(baseline, candidate)
    assert "backend_version differs: baseline '1.7.1.116', this run '11.4.0.106'" in notes
    assert "trt_flavour differs: baseline 'TensorRT-RTX', this run 'TensorRT'" in notes


def test_same_environment_gives_no_note() -> None:
    env = {"backend": "onnxruntime", "backend_version": "1.32.0"}
    assert environment_differences(env, dict(env)) == []
