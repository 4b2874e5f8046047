"""The backend interface. A backend builds an engine artifact from ONNX, then loads and runs it."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trtperf.cache import ArtifactCache
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.device import DeviceInfo
from trtperf.spec import ModelSpec
from trtperf.timing import Worker


@dataclass(frozen=True)
class BuildRequest:
    """Everything a backend needs to build one case's engine."""

    spec: ModelSpec
    case: Case
    onnx_path: Path
    onnx_sha256: str
    settings: Settings
    cache: ArtifactCache


@dataclass(frozen=True)
class BuiltEngine:
    """A built (or cached) engine artifact and what is known about its build."""

    path: Path
    cache_key: str
    cache_hit: bool
    build_s: float
    info: Mapping[str, Any] = field(default_factory=dict)


class Engine(abc.ABC):
    """A loaded engine. ``infer`` is for parity; ``make_workers`` for timing."""

    @abc.abstractmethod
    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    @abc.abstractmethod
    def make_workers(self, inputs: Mapping[str, np.ndarray], streams: int) -> Sequence[Worker]:
        """``streams`` workers that run concurrently, each with its own context and buffers."""

    def timing_mode(self) -> dict[str, Any]:
        """What a latency sample covers; stored with baselines and compared before gating."""
        return {"clock": "host", "transfers": True, "cuda_graph": False}

    def measurements(self) -> dict[str, Any]:
        """Facts measured beside the timed samples (e.g. host latency), recorded with the result."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the engine's resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend(abc.ABC):
    name: str = ""
    install_hint: str = ""
    runs_onnx_models: bool = True
    """False for a backend that runs the torch module itself: it cannot run a model declared from an ONNX file."""
    builder_precision_flags: bool = False
    """True when the backend can build reduced precision from the fp32 ONNX through builder flags
    (TensorRT 10's weakly typed networks, ``--trtperf-trt-precision-flags``) instead of a variant."""

    @abc.abstractmethod
    def unavailable_reason(self) -> str | None:
        """None when the backend can run here, else why not (with the install hint)."""

    def configure(self, settings: Settings) -> None:  # noqa: B027 - optional hook
        """The session's settings, given before the backend is asked anything else."""

    def skip_reason(self, settings: Settings) -> str | None:
        """Why this backend's cases are skipped under ``settings`` (e.g. build-only mode needs no GPU)."""
        return self.unavailable_reason()

    def precision_unsupported(self, precision: str) -> str | None:
        """None when this backend can run ``precision`` on this device, else why not."""
        return None

    @abc.abstractmethod
    def version(self) -> str: ...

    @abc.abstractmethod
    def device(self) -> DeviceInfo: ...

    def environment(self) -> dict[str, Any]:
        """Versions and facts recorded with every result (not part of baseline keys)."""
        return {"backend": self.name, "backend_version": self.version()}

    @abc.abstractmethod
    def build(self, request: BuildRequest) -> BuiltEngine: ...

    @abc.abstractmethod
    def load(self, built: BuiltEngine, request: BuildRequest) -> Engine: ...
