"""The fixtures for a user's own tests, as a user writes them: ``trtperf_build`` (an engine to run on
real data) and ``trtperf_benchmark`` (trtperf's timing loop and gate for any callable)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

MODELS = '''
from torch import nn
import trtperf
from trtperf import InputSpec

@trtperf.model(inputs=[InputSpec("x", ("batch", 16))], outputs=["y"], batches=(4,))
def tiny():
    return nn.Sequential(nn.Linear(16, 8), nn.Tanh())
'''

USER_TESTS = '''
import numpy as np
import torch
from test_models import tiny


def test_accuracy_on_my_data(trtperf_build):
    built = trtperf_build(tiny, backend="onnxruntime", batch=4)
    assert built.case.key == "tiny[onnxruntime-fp32-b4-s1]"
    assert built.inputs["x"].shape == (4, 16) and built.inputs["x"].dtype == np.float32
    mine = np.linspace(-3, 3, 5 * 16, dtype=np.float32).reshape(5, 16)  # another batch size than the case's
    got = built.infer({"x": mine})["y"]
    with torch.no_grad():
        expected = tiny.build_module()(torch.from_numpy(mine)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    again = trtperf_build(tiny, backend="onnxruntime", batch=4)
    assert again.built.cache_hit and again.built.cache_key == built.built.cache_key


def test_unavailable_backend_skips(trtperf_build):
    trtperf_build(tiny, backend="torch_compile")
'''


def test_trtperf_build_gives_a_cached_engine_and_the_case_inputs(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_models=MODELS, test_mine=USER_TESTS)
    run = pytester.runpytest("test_mine.py", "-p", "no:cacheprovider", "-rs", "--trtperf-cache-dir",
                             str(tmp_path / "cache"))
    run.assert_outcomes(passed=1, skipped=1)
    run.stdout.fnmatch_lines(["*tiny[[]torch_compile-fp32-b4-s1[]]: torch.compile cases need a CUDA GPU*"])


BENCH_TESTS = '''
import os
import time


def test_my_preprocessing(trtperf_benchmark):
    delay = float(os.environ.get("MY_DELAY", "0.0005"))
    result = trtperf_benchmark(lambda: time.sleep(delay), batch=2)
    assert result.case.key == "test_my_preprocessing[callable-fp32-b2-s1]"
    assert result.stats["median_ms"] >= delay * 1e3
'''

FAST = ["-p", "no:cacheprovider", "--trtperf-runs", "6", "--trtperf-min-time", "0.02", "--trtperf-min-iters", "10",
        "--trtperf-warmup", "0.01"]


@pytest.mark.timed
def test_trtperf_benchmark_records_and_gates_a_callable(pytester: pytest.Pytester, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        same_engine_rerun: list[str]) -> None:
    pytester.makepyfile(test_bench=BENCH_TESTS)
    paths = ["--trtperf-baseline-dir", str(tmp_path / "baselines"), "--trtperf-results", str(tmp_path / "r.json")]
    run = pytester.runpytest(*FAST, *paths, "--trtperf-update-baselines")
    run.assert_outcomes(passed=1)
    (baseline_file,) = (p for p in (tmp_path / "baselines").glob("*.json") if not p.name.endswith(".samples.json"))
    key = "test_my_preprocessing[callable-fp32-b2-s1]"
    assert key in json.loads(baseline_file.read_text())["entries"]
    (case,) = json.loads((tmp_path / "r.json").read_text())["cases"]
    assert case["case"]["key"] == key and case["environment"]["backend"] == "callable"
    run.stdout.fnmatch_lines(["*test_my_preprocessing[[]callable-fp32-b2-s1[]]*"])  # in the summary table

    run = pytester.runpytest(*FAST, *paths, *same_engine_rerun)
    run.assert_outcomes(passed=1)  # same speed: within the baseline

    monkeypatch.setenv("MY_DELAY", "0.005")  # ten times slower
    run = pytester.runpytest(*FAST, *paths)
    run.assert_outcomes(failed=1)
    run.stdout.fnmatch_lines(["*test_my_preprocessing[[]callable-fp32-b2-s1[]]: latency regressed*"])
