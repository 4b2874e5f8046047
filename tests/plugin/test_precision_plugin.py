"""Precision variants through the plugin, as a user runs them: real variants, real ONNX Runtime runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from trtperf.cache import ArtifactCache, root_name
from trtperf.fsutil import atomic_write_json, file_sha256

SUITE = '''
from torch import nn
import trtperf
from trtperf import InputSpec

@trtperf.model(inputs=[InputSpec("x", ("batch", 32))], outputs=["y"], batches=(BATCHES,), streams=(1,),
               precisions=PRECISIONS, max_batch=8)
def tiny():
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 8))
'''

FAST = ["-p", "no:cacheprovider", "--trtperf-no-timing"]


def _suite(pytester: pytest.Pytester, tmp_path: Path, precisions: tuple[str, ...], batches: str = "4") -> list[str]:
    pytester.makepyfile(test_tiny=SUITE.replace("PRECISIONS", repr(precisions)).replace("BATCHES", batches))
    pytester.makeini("[pytest]\n")
    return [*FAST, "--trtperf-backend", "onnxruntime", "--trtperf-cache-dir", str(tmp_path / "cache"),
            "--trtperf-baseline-dir", str(tmp_path / "baselines"), "--trtperf-results", str(tmp_path / "results.json")]


def _cases(tmp_path: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((tmp_path / "results.json").read_text())
    return {c["case"]["key"]: c for c in document["cases"]}


def test_every_precision_runs_or_skips_with_its_reason_and_reports_both_checks(pytester: pytest.Pytester,
                                                                               tmp_path: Path) -> None:
    args = _suite(pytester, tmp_path, ("fp32", "tf32", "fp16", "bf16", "int8", "fp8"))
    result = pytester.runpytest(*args, "-rs")
    result.assert_outcomes(passed=3, skipped=3)
    result.stdout.fnmatch_lines_random([
        "*tiny[[]onnxruntime-bf16-b4-s1[]]: ONNX Runtime's CPU provider has no bfloat16*",
        "*tiny[[]onnxruntime-fp8-b4-s1[]]: ONNX Runtime 1.32's graph optimizer*compute capability 8.9*",
        "*tiny[[]onnxruntime-tf32-b4-s1[]]: tf32 is a GPU math mode*",
    ])
    cases = _cases(tmp_path)
    fp32, fp16, int8 = (cases[f"tiny[onnxruntime-{p}-b4-s1]"] for p in ("fp32", "fp16", "int8"))
    assert fp32["parity"]["same_reference"] and fp32["parity"]["gates"] == ["cost"]
    assert fp32["artifact"]["variant_sha256"] == fp32["artifact"]["onnx_sha256"]
    for case in (fp16, int8):
        parity = case["parity"]
        assert case["artifact"]["variant_sha256"] != case["artifact"]["onnx_sha256"]
        assert parity["gates"] == ["faithful", "cost"] and parity["faithful"]["passed"] and parity["cost"]["passed"]
        # The precision costs something against fp32; the engine is (nearly) exact against its own variant.
        cost = parity["cost"]["outputs"][0]["max_abs"]
        assert cost > 1e-6 and parity["faithful"]["outputs"][0]["max_abs"] < cost
        assert parity["outputs"] == parity["cost"]["outputs"]
    assert int8["parity"]["cost"]["outputs"][0]["tolerance"]["min_cosine"] == 0.99


def test_a_calibration_that_clips_activations_fails_the_cost_check(pytester: pytest.Pytester, tmp_path: Path) -> None:
    args = _suite(pytester, tmp_path, ("int8",))
    pytester.runpytest(*args).assert_outcomes(passed=1)
    # Calibrating on near-zero inputs makes every scale tiny: real inputs in [-1, 1) saturate.
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(0).uniform(-1e-3, 1e-3, (16, 32)).astype(np.float32))
    result = pytester.runpytest(*args, "--trtperf-calibration-data", str(calib))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*tiny[[]onnxruntime-int8-b4-s1[]]: int8 parity failed (batch 4, seed 0):*",
        "*cost check failed: int8 outputs differ from the ONNX Runtime fp32 reference*'int8:<output>'*",
        "*cosine * (min 0.99)*",
    ])
    assert "faithful check failed" not in result.stdout.str(), "the engine still computes its (bad) model"
    case = _cases(tmp_path)["tiny[onnxruntime-int8-b4-s1]"]
    assert case["parity"]["faithful"]["passed"] and not case["parity"]["cost"]["passed"]


def _inject_batch_fault(engine: Path) -> None:
    """Make the engine wrong by +1 whenever batch > 1: a fault the fixed batch-1 check cannot see."""
    model = onnx.load(str(engine))
    (out,) = model.graph.output
    for node in model.graph.node:
        node.output[:] = ["y_raw" if o == out.name else o for o in node.output]
    model.graph.initializer.extend([numpy_helper.from_array(np.array(0, np.int64), "zero_index"),
                                    numpy_helper.from_array(np.array(1, np.int64), "one")])
    model.graph.node.extend([
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Gather", ["x_shape", "zero_index"], ["batch_n"], axis=0),
        helper.make_node("Greater", ["batch_n", "one"], ["is_big"]),
        helper.make_node("Cast", ["is_big"], ["fault"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["y_raw", "fault"], [out.name]),
    ])
    onnx.save(model, str(engine))
    meta_path = engine.with_name(engine.name + ".meta.json")
    meta = json.loads(meta_path.read_text())
    meta.update(size=engine.stat().st_size, sha256=file_sha256(engine))
    meta["hmac"] = ArtifactCache(engine.parents[4]).sign(meta)  # re-signed by this user: trusted
    atomic_write_json(meta_path, meta)


def test_hypothesis_mode_finds_a_batch_dependent_fault_shrinks_it_and_reproduces(pytester: pytest.Pytester,
                                                                                  tmp_path: Path) -> None:
    args = _suite(pytester, tmp_path, ("fp32",), batches="1")
    clean = pytester.runpytest(*args, "--trtperf-hypothesis-examples", "8")
    clean.assert_outcomes(passed=1)
    assert _cases(tmp_path)["tiny[onnxruntime-fp32-b1-s1]"]["parity"]["hypothesis"]["examples"] == 8

    (engine,) = sorted((tmp_path / "cache" / root_name() / "engine-onnxruntime").rglob("*.onnx"))
    _inject_batch_fault(engine)
    pytester.runpytest(*args).assert_outcomes(passed=1)  # the fixed-seed check alone misses it

    result = pytester.runpytest(*args, "--trtperf-hypothesis-examples", "50")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*tiny[[]onnxruntime-fp32-b1-s1[]]: Hypothesis found inputs that fail parity after * examples; "
        "smallest: batch 2, seed 0*",
        "*Reproduce with: python -m trtperf.parity.hypothesis *tiny_onnxruntime-fp32-b1-s1.json*",
    ])
    repro = tmp_path / "hypothesis" / "tiny_onnxruntime-fp32-b1-s1.json"
    saved = json.loads(repro.read_text())
    assert saved["recipe"]["batch"] == 2 and saved["case"] == "tiny[onnxruntime-fp32-b1-s1]"
    assert any((tmp_path / "hypothesis" / "examples").rglob("*")), "no Hypothesis database written"

    replay = subprocess.run([sys.executable, "-m", "trtperf.parity.hypothesis", str(repro)], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "still fails" in replay.stdout and "output 'y' [2, 8]" in replay.stdout


HAND_LN = '''
import torch
from torch import nn
import trtperf
from trtperf import InputSpec

class HandLN(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(64, 64)

    def forward(self, hidden):
        x = hidden + self.proj(hidden)
        centred = x - x.mean(-1, keepdim=True)
        return centred / torch.sqrt((centred * centred).mean(-1, keepdim=True) + 1e-5)

@trtperf.model(inputs=[InputSpec("hidden", ("batch", 8, 64), low=-600.0, high=600.0)], outputs=["out"],
               batches=(2,), precisions=("fp32", "fp16"), keep_fp32=KEEP)
def hand_ln():
    return HandLN()
'''


def test_fp16_overflow_fails_the_case_on_the_cpu_and_the_suggested_keep_fp32_fixes_it(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_ln=HAND_LN.replace("KEEP", "()"))
    pytester.makeini("[pytest]\n")
    args = [*FAST, "--trtperf-backend", "onnxruntime", "--trtperf-cache-dir", str(tmp_path / "cache"),
            "--trtperf-baseline-dir", str(tmp_path / "baselines"), "--trtperf-results", str(tmp_path / "results.json")]
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*values of its fp16 variant leave fp16's range*",
                                 "*node 'node_mul_*' (Mul) output 'mul_*': max |x| = *> 65504*"])
    keep = next(line for line in result.stdout.lines if "keep_fp32=[" in line).split("keep_fp32=")[1].split(")")[0]
    pytester.makepyfile(test_ln=HAND_LN.replace("KEEP", keep))
    pytester.runpytest(*args).assert_outcomes(passed=2)
