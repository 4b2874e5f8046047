"""A model whose own fp32 output is NaN on its declared inputs, run as a user runs it (issue 11, item 5).

Before: every precision passed with parity err 0.0, because NaN on both sides counted as agreement.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SUITE = '''
import torch
from torch import nn
import trtperf
from trtperf import InputSpec

class LogFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, power):
        return torch.log(power) + self.fc(power)  # log of the negative half of the declared range: NaN

@trtperf.model(inputs=[InputSpec("power", ("batch", 16), low=-1.0, high=1.0)], outputs=["logp"], batches=(4,),
               precisions=("fp32", "fp16", "int8"), max_batch=8, DECLARE)
def log_features():
    return LogFeatures()
'''


def _run(pytester: pytest.Pytester, tmp_path: Path, declare: str = "") -> pytest.RunResult:
    pytester.makepyfile(test_log=SUITE.replace("DECLARE", declare))
    pytester.makeini("[pytest]\n")
    return pytester.runpytest(
        "-p", "no:cacheprovider", "--trtperf-no-timing", "--trtperf-backend", "onnxruntime",
        "--trtperf-cache-dir", str(tmp_path / "cache"), "--trtperf-baseline-dir", str(tmp_path / "baselines"),
        "--trtperf-results", str(tmp_path / "results.json"),
    )


def test_a_nan_reference_fails_every_precision_with_count_index_and_fix(pytester: pytest.Pytester,
                                                                        tmp_path: Path) -> None:
    result = _run(pytester, tmp_path)
    result.assert_outcomes(failed=3)
    cases = {c["case"]["key"]: c for c in json.loads((tmp_path / "results.json").read_text())["cases"]}
    for precision in ("fp32", "fp16", "int8"):
        case = cases[f"log_features[onnxruntime-{precision}-b4-s1]"]
        assert case["outcome"] == "failed"
        (output,) = case["parity"]["cost"]["outputs"]
        # The 64 inputs drawn (float32) from [-1, 1) with seed 0 hold 35 negative values (first at [0, 0]): NaN there.
        assert output["reference_nonfinite"] == 35
        assert output["first_nonfinite"] == [0, 0]
        assert case["message"].startswith(f"log_features[onnxruntime-{precision}-b4-s1]: the fp32 reference is not "
                                          f"finite (NaN/Inf in the model's own outputs) (batch 4, seed 0):")
        assert ("output 'logp': the reference is not finite: 35 NaN of 64 elements (first at index [0, 0])"
                in case["message"])
        assert "narrow the declared input ranges (InputSpec low/high)" in case["message"]


def test_a_model_that_declares_nan_outputs_passes_fp32(pytester: pytest.Pytester, tmp_path: Path) -> None:
    result = _run(pytester, tmp_path, declare="allow_nonfinite=True")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()[-3000:]
    cases = {c["case"]["key"]: c for c in json.loads((tmp_path / "results.json").read_text())["cases"]}
    fp32 = cases["log_features[onnxruntime-fp32-b4-s1]"]
    assert fp32["outcome"] != "failed", fp32["message"]
    assert fp32["parity"]["outputs"][0]["reference_nonfinite"] == 35


INT_SUITE = '''
import torch
from torch import nn
import trtperf
from trtperf import InputSpec

class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        scores = self.fc(x)
        return scores, torch.argmax(scores, dim=-1), torch.topk(scores, 3, dim=-1).indices

@trtperf.model(inputs=[InputSpec("x", ("batch", 16))], outputs=["scores", "label", "top3"], batches=(4,),
               precisions=("fp32",), max_batch=8)
def classifier():
    return Classifier()
'''


def test_integer_outputs_of_a_real_model_are_compared_exactly(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_classifier=INT_SUITE)
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--trtperf-no-timing", "--trtperf-backend", "onnxruntime,torch",
        "--trtperf-cache-dir", str(tmp_path / "cache"), "--trtperf-baseline-dir", str(tmp_path / "baselines"),
        "--trtperf-results", str(tmp_path / "results.json"),
    )
    result.assert_outcomes(passed=2)
    cases = {c["case"]["key"]: c for c in json.loads((tmp_path / "results.json").read_text())["cases"]}
    for key in ("classifier[onnxruntime-fp32-b4-s1]", "classifier[torch-fp32-b4-s1]"):
        outputs = {o["name"]: o for o in cases[key]["parity"]["outputs"]}
        assert [outputs[n]["kind"] for n in ("scores", "label", "top3")] == ["float", "exact", "exact"]
        assert outputs["label"]["mismatch_fraction"] == 0.0 and outputs["top3"]["shape"] == [4, 3]
