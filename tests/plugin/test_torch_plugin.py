"""The torch backends as a user runs them on a CPU-only machine: a small suite through pytester."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="CPU-only behaviour; the GPU runs on the H100 job")

SUITE = '''
from torch import nn
import trtperf
from trtperf import InputSpec

@trtperf.model(inputs=[InputSpec("x", ("batch", 32))], outputs=["y"], batches=(4,), streams=(1, 2),
               precisions=("fp32", "fp16"), backends=("onnxruntime", "torch", "torch_compile"))
def small():
    return nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 8))
'''

FAST = ["--trtperf-runs", "2", "--trtperf-min-time", "0.02", "--trtperf-min-iters", "10", "--trtperf-warmup", "0.01",
        "-p", "no:cacheprovider", "-rs"]


def test_torch_eager_runs_on_cpu_and_the_rest_skips_with_reasons(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_small=SUITE)
    pytester.makeini("[pytest]\n")
    results = tmp_path / "results.json"
    run = pytester.runpytest(*FAST, "--trtperf-cache-dir", str(tmp_path / "cache"), "--trtperf-baseline-dir",
                             str(tmp_path / "baselines"), "--trtperf-results", str(results))
    # torch fp32 runs (2 stream counts); torch fp16 (CPU) and every torch_compile case skip on a
    # CPU-only machine. onnxruntime's cases are its own business (fp16 depends on its version).
    outcomes = run.parseoutcomes()
    assert outcomes.get("passed", 0) >= 2 and outcomes.get("skipped", 0) >= 6, run.stdout.str()
    assert "failed" not in outcomes and "errors" not in outcomes, run.stdout.str()
    run.stdout.fnmatch_lines([
        "*small[[]torch-fp16-b4-s1[]]*not a deployment target*",
        "*small[[]torch_compile-fp32-b4-s1[]]*need a CUDA GPU*",
    ])
    # pytester's 80 columns: each case id on its own line, its numbers on the next
    run.stdout.fnmatch_lines(["*median ms*vs torch*", "small[[]torch-fp32-b4-s1[]]*", "*1.00x*"])
    cases = {c["case"]["key"]: c for c in json.loads(results.read_text())["cases"]}
    eager = cases["small[torch-fp32-b4-s2]"]
    assert eager["parity"]["passed"] is True
    assert eager["timing_mode"]["device"] == "cpu" and eager["timing_mode"]["torch"] == "eager"
    assert eager["environment"]["backend"] == "torch" and eager["environment"]["torch_mode"] == "eager"
    assert eager["stats"]["samples"] >= 2 * 2 * 10  # 2 runs x 2 streams x >= 10 iterations
    assert "gpu_clocks" not in eager["environment"]  # CPU results carry no GPU clock report
