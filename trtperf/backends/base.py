"""The backend interface. A backend builds an engine artifact from ONNX, then loads and runs it."""

from __future__ import annotations

import abc
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trtperf.cache import ArtifactCache
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.device import DeviceInfo
from trtperf.engine import BuiltEngine, Engine
from trtperf.spec import ModelSpec


@dataclass(frozen=True)
class BuildRequest:
    """Everything a backend needs to build one case's engine."""

    spec: ModelSpec
    case: Case
    onnx_path: Path
    onnx_sha256: str
    settings: Settings
    cache: ArtifactCache


class Backend(abc.ABC):
    name: str = ""
    install_hint: str = ""
    runs_onnx_models: bool = True
    """False for a backend that runs the torch module itself: it cannot run a model declared from an ONNX file."""

    @classmethod
    def settings_key(cls, settings: Settings) -> Hashable:
        """The settings this backend reads at construction (one instance per distinct key)."""
        return ()

    @classmethod
    def for_settings(cls, settings: Settings) -> Backend:
        """A backend for ``settings``; settings reach a backend here, or per case in a BuildRequest."""
        return cls()

    @abc.abstractmethod
    def unavailable_reason(self) -> str | None:
        """None when the backend can run here, else why not (with the install hint)."""

    def uses_builder_flags(self, precision: str, settings: Settings) -> bool:
        """True when this backend builds ``precision`` from the fp32 ONNX with builder flags instead of
        the precision's ONNX variant (TensorRT 10's opt-in); the one place that choice is made."""
        return False

    def skip_reason(self, settings: Settings) -> str | None:
        """Why this backend's cases are skipped under ``settings`` (e.g. build-only mode needs no GPU)."""
        return self.unavailable_reason()

    def precision_unsupported_for(self, precision: str, op_types: frozenset[str]) -> str | None:
        """Why this backend cannot run ``precision`` for a model whose ONNX graph has ``op_types``
        (None: it can). Decided after export, before the build, in build-only and full runs alike."""
        return None

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
