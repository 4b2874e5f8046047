"""The TensorRT-10 builder-flag opt-in reaches only backends that declare the capability."""

from __future__ import annotations

from pathlib import Path

import pytest

from trtperf.backends import get_backend
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.pipeline import CaseRunner
from trtperf.record.results import PASSED
from trtperf.spec import find_model

SUITES = sorted((Path(__file__).resolve().parents[2] / "suites").glob("test_*.py"))


def test_only_tensorrt_builds_precision_from_builder_flags() -> None:
    opt_in = Settings(trt_precision_flags=True)
    assert get_backend("tensorrt", opt_in).uses_builder_flags("fp16", opt_in)
    assert not get_backend("tensorrt", opt_in).uses_builder_flags("fp32", opt_in)  # fp32 needs no flag
    assert not get_backend("tensorrt").uses_builder_flags("fp16", Settings())  # only when opted in
    assert not any(get_backend(name, opt_in).uses_builder_flags("fp16", opt_in) for name in ("onnxruntime", "torch"))


def test_the_opt_in_leaves_other_backends_on_their_precision_variant(tmp_path: Path) -> None:
    pytest.importorskip("onnxconverter_common")
    spec = find_model(SUITES, "transformer")
    settings = Settings(trt_precision_flags=True, runs=1, warmup=0.0, min_time=0.0, min_iters=1,
                        cache_dir=tmp_path / "cache")
    result = CaseRunner(settings, tmp_path / "baselines").run(spec, Case("transformer", "onnxruntime", "fp16", 1, 1))
    assert result.outcome == PASSED, result.message
    assert result.artifact["variant_sha256"] != result.artifact["onnx_sha256"]  # the fp16 ONNX, not the fp32
