"""Fixtures shared by every trtperf test, and the Hypothesis profiles.

Profiles: ``dev`` (the default: no deadline, since the suite runs beside other jobs on small CI
machines) and ``ci`` (also derandomized, so a CI failure reproduces). Pick one with
``HYPOTHESIS_PROFILE=ci``.
"""

from __future__ import annotations

import os
import warnings
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """trtperf's own tests declare no model at import: a declaration there would make ``pytest tests`` a
    trtperf session that writes ``.trtperf/results.json`` into the project (CI log of 2026-12-07)."""
    from trtperf.plugin import CaseItem

    declared = sorted({item.nodeid.split("::")[0] for item in items if isinstance(item, CaseItem)})
    if declared:
        raise pytest.UsageError(f"test modules declare trtperf models at import: {', '.join(declared)}; declare "
                                "them inside the test (or run them through pytester)")


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


@pytest.fixture(scope="session")
def onnx_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real ONNX files as a user brings them, made once per session (no downloads):

    - ``fp32``: an MLP ``features`` (batch_size, 16) -> ``logits`` (batch_size, 4), exported by
      torch.onnx directly (not by trtperf), the batch axis named ``batch_size``;
    - ``qdq``: the same model quantized by ONNX Runtime (static, QDQ, symmetric int8, fp32 bias);
    - ``ids``: an embedding bag ``ids`` int64 (batch_size, sequence) -> ``pooled`` (batch_size, 8).
    """
    with warnings.catch_warnings():
        # The exporter's and the quantizer's own deprecation notices are not what these tests check.
        warnings.simplefilter("ignore")
        return _make_onnx_files(tmp_path_factory.mktemp("onnx-files"))


def _make_onnx_files(folder: Path) -> dict[str, Path]:
    import numpy as np
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).eval()
    batch = torch.export.Dim("batch_size", min=1, max=64)
    paths = {"fp32": folder / "mlp.onnx", "qdq": folder / "mlp_qdq.onnx", "ids": folder / "ids.onnx"}
    torch.onnx.export(mlp, (torch.randn(2, 16),), str(paths["fp32"]), input_names=["features"],
                      output_names=["logits"], dynamic_shapes=({0: batch},), dynamo=True, external_data=False,
                      verbose=False)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.batches = iter([{"features": rng.uniform(-1, 1, (4, 16)).astype(np.float32)} for _ in range(4)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    quantize_static(str(paths["fp32"]), str(paths["qdq"]), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    extra_options={"QuantizeBias": False, "ActivationSymmetric": True, "WeightSymmetric": True})

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(50, 8)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            pooled: torch.Tensor = self.emb(ids).mean(1)
            return pooled

    sequence = torch.export.Dim("sequence", min=2, max=64)
    torch.onnx.export(Pooled().eval(), (torch.randint(0, 50, (2, 5)),), str(paths["ids"]), input_names=["ids"],
                      output_names=["pooled"], dynamic_shapes=({0: batch, 1: sequence},), dynamo=True,
                      external_data=False, verbose=False)
    return paths
