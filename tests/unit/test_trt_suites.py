"""Every suite model builds a real TensorRT-RTX engine on the CPU, at every precision trtperf makes.

Precisions are taken from ``trtperf.spec.PRECISIONS``: a new precision (or a new suite model) is
picked up here without editing this file. Build-only mode, optimization level 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.pipeline import CaseRunner
from trtperf.precisions import PRECISIONS
from trtperf.record.results import PASSED, SKIPPED
from trtperf.spec import ModelSpec, load_suite

pytest.importorskip("tensorrt_rtx_bindings")

SUITES = Path(__file__).resolve().parents[2] / "suites"


def suite_models() -> list[ModelSpec]:
    return [spec for path in sorted(SUITES.glob("test_*.py")) for spec in load_suite(path)]


MODELS = suite_models()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> CaseRunner:
    settings = Settings(build_only=True, trt_opt_level=0, cache_dir=tmp_path_factory.mktemp("trt-suites-cache"))
    return CaseRunner(settings, tmp_path_factory.mktemp("baselines"))


def test_every_suite_model_is_here() -> None:
    assert {m.name for m in MODELS} >= {"cnn", "mlp", "transformer"}


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_suite_model_builds(runner: CaseRunner, model: ModelSpec, precision: str) -> None:
    case = Case(model.name, "tensorrt", precision, model.batches[-1], 1)
    result = runner.run(model, case)
    if precision == "int8" and model.name == "cnn":  # RTX has no int8 convolution: a skip with the reason
        assert result.outcome == SKIPPED and "no int8 convolution" in result.message and "Conv" in result.message
        assert not result.build  # decided from the ONNX's op types before building, as in a full run
        return
    assert result.outcome == PASSED, result.message
    assert "build only" in result.notes and result.stats is None and result.parity is None
    build = result.build
    assert build["flavour"] == "tensorrt-rtx" and build["target"] == "portable" and build["plan_bytes"] > 0
    assert build["network_layers"] > 0
    assert result.environment["trt_flavour"] == "tensorrt-rtx"
    again = runner.run(model, case)
    assert again.build["cache_hit"] and again.build["cache_key"] == build["cache_key"]
