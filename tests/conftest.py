"""Fixtures shared by every trtperf test, and the Hypothesis profiles.

Profiles: ``dev`` (the default: no deadline, since the suite runs beside other jobs on small CI
machines) and ``ci`` (also derandomized, so a CI failure reproduces). Pick one with
``HYPOTHESIS_PROFILE=ci``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

import trtperf
from trtperf import InputSpec, ModelSpec
from trtperf.cache import ArtifactCache, CacheEntry

if TYPE_CHECKING:
    from torch import nn

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


def pytest_configure(config: pytest.Config) -> None:
    # Hypothesis' report of a falsified property touches mypy_extensions.TypedDict (installed with mypy), whose
    # DeprecationWarning would turn the report into an INTERNALERROR under filterwarnings=error.
    config.addinivalue_line("filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")


@pytest.fixture(scope="session", autouse=True)
def _config_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The cache signing key (``$XDG_CONFIG_HOME/trtperf/cache.key``) goes to a temporary directory,
    never the user's config; pytester runs and subprocesses inherit it."""
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config-home"))


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


def _tiny_mlp() -> nn.Module:
    from torch import nn

    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


@pytest.fixture(scope="session")
def tiny_spec() -> ModelSpec:
    """A 2-layer MLP, input ``x`` (batch, 4) -> output ``y`` (batch, 3).

    Built here, not at module level of a test file, where the trtperf plugin would collect it.
    """
    return trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="tiny_mlp",
                         batches=(1, 4), max_batch=16)(_tiny_mlp)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_spec: ModelSpec, tmp_path_factory: pytest.TempPathFactory) -> tuple[ArtifactCache, CacheEntry]:
    """``tiny_spec`` exported once per session into its own cache: (that cache, the ONNX entry)."""
    from trtperf.export import export_cached

    cache = ArtifactCache(tmp_path_factory.mktemp("tiny-cache"))
    return cache, export_cached(tiny_spec, cache)
