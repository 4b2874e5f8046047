"""The real example suites, end to end, as the main job runs them (ONNX Runtime on this CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trtperf.config import BASELINE_MIN_RUNS

REPO = Path(__file__).resolve().parents[2]
FAST = ["--trtperf-runs", "2", "--trtperf-min-time", "0.02", "--trtperf-min-iters", "5", "--trtperf-warmup", "0.01"]


def _run_suites(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        # The zoo (suites/zoo) has its own test: tests/e2e/test_zoo.py.
        sys.executable, "-m", "pytest", "suites", "--ignore=suites/zoo", "-p", "no:cacheprovider", "-q",
        "--trtperf-backend", "onnxruntime", "--trtperf-precision", "fp32",
        "--trtperf-cache-dir", str(tmp_path / "cache"),
        "--trtperf-baseline-dir", str(tmp_path / "baselines"),
        "--trtperf-results", str(tmp_path / "results.json"),
        *FAST, *extra,
    ]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.timed
def test_example_suites_run_record_and_pass_against_their_baseline(tmp_path: Path) -> None:
    first = _run_suites(tmp_path, "--trtperf-update-baselines")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())["cases"]
    keys = {c["case"]["key"] for c in results}
    for model in ("cnn", "mlp", "transformer"):
        assert f"{model}[onnxruntime-fp32-b1-s1]" in keys
        assert any(k.startswith(f"{model}[onnxruntime-fp32-") and k.endswith("-s2]") for k in keys)
    for case in results:
        assert case["parity"]["passed"], case["case"]["key"]
        # A recording measures at least BASELINE_MIN_RUNS runs whatever --trtperf-runs says (one look's worth).
        assert case["stats"]["median_ms"] > 0 and case["stats"]["runs"] == BASELINE_MIN_RUNS
    (baseline_file,) = (p for p in (tmp_path / "baselines").glob("cpu-*.json") if not p.name.endswith(".samples.json"))
    assert set(json.loads(baseline_file.read_text())["entries"]) == keys

    # Second run: every engine comes from the cache and every case is judged against its baseline.
    second = _run_suites(tmp_path, "--trtperf-threshold", "300%")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    rerun = json.loads((tmp_path / "results.json").read_text())["cases"]
    assert all(c["build"]["cache_hit"] for c in rerun)
    assert all(c["verdict"]["status"] not in ("no baseline", "regressed") for c in rerun)
    assert "cnn[onnxruntime-fp32-b8-s2]" in second.stdout
