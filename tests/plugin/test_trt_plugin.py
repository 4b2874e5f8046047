"""The tensorrt backend through pytest as a user runs it, on a CPU-only machine with TensorRT-RTX."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("tensorrt_rtx_bindings")

SUITE = '''
from torch import nn
import trtperf
from trtperf import InputSpec

@trtperf.model(inputs=[InputSpec("image", ("batch", 3, 16, 16))], outputs=["out"], batches=(2,), streams=(1,),
               max_batch=8)
def convnet():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
'''


def _gpu() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.fixture
def suite(pytester: pytest.Pytester, tmp_path: Path) -> list[str]:
    pytester.makepyfile(test_convnet=SUITE)
    pytester.makeini("[pytest]\n")
    return ["-p", "no:cacheprovider", "--trtperf-backend", "tensorrt", "--trtperf-trt-opt-level", "0",
            "--trtperf-cache-dir", str(tmp_path / "cache"), "--trtperf-results", str(tmp_path / "results.json"),
            "--trtperf-baseline-dir", str(tmp_path / "baselines")]


@pytest.mark.skipif(_gpu(), reason="checks the CPU-only skip")
def test_without_a_gpu_cases_skip_with_the_reason(pytester: pytest.Pytester, suite: list[str]) -> None:
    result = pytester.runpytest(*suite, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*convnet[[]tensorrt-fp32-b2-s1[]]: no CUDA GPU*--trtperf-build-only*"])


def test_build_only_builds_caches_and_reports(pytester: pytest.Pytester, suite: list[str], tmp_path: Path) -> None:
    result = pytester.runpytest(*suite, "--trtperf-build-only", "--log-cli-level=INFO")
    result.assert_outcomes(passed=1)
    # Visible progress while building, then the summary.
    result.stdout.fnmatch_lines(["*building engine convnet[[]tensorrt-fp32-b2-s1[]]*",
                                 "*built engine convnet[[]tensorrt-fp32-b2-s1[]]*in * s*",
                                 "*convnet[[]tensorrt-fp32-b2-s1[]]*build only*"])
    (case,) = json.loads((tmp_path / "results.json").read_text())["cases"]
    assert case["build"]["cache_hit"] is False and case["build"]["build_s"] > 0
    assert case["build"]["network_layer_types"] == {"ACTIVATION": 2, "CONVOLUTION": 2}
    assert case["environment"]["trt_flavour"] == "tensorrt-rtx"
    assert case["stats"] is None and case["parity"] is None and case["notes"][0].startswith("build only")

    again = pytester.runpytest(*suite, "--trtperf-build-only")
    again.assert_outcomes(passed=1)
    (case2,) = json.loads((tmp_path / "results.json").read_text())["cases"]
    assert case2["build"]["cache_hit"] is True and case2["build"]["cache_key"] == case["build"]["cache_key"]


def test_rtx_int8_of_a_convnet_is_a_skip_with_the_reason_in_build_only_runs(
        pytester: pytest.Pytester, suite: list[str], tmp_path: Path) -> None:
    """Issue 14 item 8: RTX builds int8 Q/DQ convolutions that cannot run; decided from the ONNX's op types."""
    pytester.makepyfile(test_convnet=SUITE.replace("streams=(1,),", 'streams=(1,), precisions=("fp16", "int8"),'))
    result = pytester.runpytest(*suite, "--trtperf-build-only", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*convnet[[]tensorrt-int8-b2-s1[]]: TensorRT-RTX has no int8 convolution*(the "
                                 "model has Conv)*"])
    outcomes = sorted(c["outcome"] for c in json.loads((tmp_path / "results.json").read_text())["cases"])
    assert outcomes == ["passed", "skipped"]  # the skip is recorded in results.json too


def test_rtx_int8_of_a_convnet_is_skipped_before_building_in_full_runs_too(tmp_path: Path) -> None:
    """The full run's pipeline takes the same decision at the same stage (before the build), GPU or not."""
    from torch import nn

    import trtperf
    from trtperf import InputSpec
    from trtperf.cases import Case
    from trtperf.config import Settings
    from trtperf.pipeline import CaseRunner
    from trtperf.record.results import SKIPPED

    def convnet() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())

    spec = trtperf.model(inputs=[InputSpec("image", ("batch", 3, 16, 16))], outputs=["out"], name="convnet",
                         batches=(2,), max_batch=8)(convnet)
    for build_only in (False, True):
        settings = Settings(build_only=build_only, trt_opt_level=0, cache_dir=tmp_path / "cache")
        result = CaseRunner(settings, tmp_path / "b").run(spec, Case("convnet", "tensorrt", "int8", 2, 1))
        assert result.outcome == SKIPPED, (build_only, result.message)
        assert "no int8 convolution" in result.message and not result.build
