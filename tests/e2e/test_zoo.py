"""The zoo (suites/zoo), as CPU CI runs it: small inputs, parity only, ONNX Runtime and torch eager."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODELS = ("resnet50", "mobilenet_v2", "vit_b16", "segformer_b0", "bert_base", "gpt2")


def _run_zoo(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "pytest", "suites/zoo", "-p", "no:cacheprovider", "-q", "-rs", "--trtperf-no-timing",
        "--trtperf-cache-dir", str(tmp_path / "cache"), "--trtperf-baseline-dir", str(tmp_path / "baselines"),
        "--trtperf-results", str(tmp_path / "results.json"), *extra,
    ]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1500,
                          env={**os.environ, "TRTPERF_ZOO_SIZE": "small", **(env or {})})


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                    reason="the zoo needs transformers: pip install 'trtperf[zoo]'")
def test_the_zoo_passes_parity_at_small_size_on_the_cpu(tmp_path: Path) -> None:
    # Two xdist workers: the exports are mostly single-threaded tracing (210 s -> 148 s on 2 cores), and
    # with no timing nothing is measured while the other worker runs.
    run = _run_zoo(tmp_path, "--trtperf-backend", "onnxruntime,torch", "--trtperf-precision", "fp32,fp16",
                   "-n", "2")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    cases = {c["case"]["key"]: c for c in json.loads((tmp_path / "results.json").read_text())["cases"]}
    for model in MODELS:
        for case in ("onnxruntime-fp32", "onnxruntime-fp16", "torch-fp32"):
            key = f"{model}[{case}-b2-s1]"
            assert cases[key]["parity"]["passed"], key
            # Every output is a real signal (not vacuously small) and finite.
            for output in cases[key]["parity"]["cost"]["outputs"]:
                assert output["scale"] > 0.01 and output["reference_nonfinite"] == 0, (key, output["name"])
    fp16 = cases["resnet50[onnxruntime-fp16-b2-s1]"]["parity"]
    assert fp16["faithful"]["outputs"][0]["precision_error"] > 0  # the faithful bound scales with fp16's own error


def test_without_transformers_the_zoo_skips_with_the_install_hint(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    # What Python raises for a package that is not installed.
    (blocker / "transformers.py").write_text("raise ModuleNotFoundError(\"No module named 'transformers'\")\n")
    run = _run_zoo(tmp_path, env={"PYTHONPATH": str(blocker)})
    assert run.returncode == 5, run.stdout[-3000:] + run.stderr[-2000:]  # pytest's "no tests ran": all skipped
    assert "SKIPPED [1] suites/zoo/test_zoo.py" in run.stdout
    assert "the zoo needs transformers: pip install 'trtperf[zoo]'" in run.stdout
    assert run.stdout.strip().splitlines()[-1].startswith("1 skipped")
