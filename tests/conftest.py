"""Fixtures shared by every trtperf test, and the Hypothesis profiles.

Profiles: ``dev`` (the default: no deadline, since the suite runs beside other jobs on small CI
machines) and ``ci`` (also derandomized, so a CI failure reproduces). Pick one with
``HYPOTHESIS_PROFILE=ci``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from trtperf.cache import ArtifactCache

settings.register_profile("dev", deadline=None, max_examples=50)
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=50,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """An empty artifact cache directory (not created yet: ArtifactCache creates it)."""
    return tmp_path / "cache"


@pytest.fixture
def cache(cache_dir: Path) -> ArtifactCache:
    """A fresh artifact cache in a temporary directory."""
    return ArtifactCache(cache_dir)


@pytest.fixture
def baseline_dir(tmp_path: Path) -> Path:
    """An empty baseline directory (not created yet)."""
    return tmp_path / "baselines"
