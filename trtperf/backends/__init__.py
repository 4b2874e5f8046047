"""Backends: one interface, several engines. Imported lazily so a missing one costs nothing."""

from __future__ import annotations

import importlib
from collections.abc import Hashable

from trtperf.backends.base import Backend
from trtperf.config import Settings
from trtperf.errors import TrtperfUsageError

# name -> "module:class"; modules import their heavy dependencies only when used.
BACKENDS: dict[str, str] = {
    "onnxruntime": "trtperf.backends.onnxruntime:OnnxRuntimeBackend",
    "tensorrt": "trtperf.backends.tensorrt:TensorRTBackend",
    "torch": "trtperf.backends.torch_backend:TorchBackend",
    "torch_compile": "trtperf.backends.torch_backend:TorchCompileBackend",
}

_instances: dict[tuple[str, Hashable], Backend] = {}


def known_backends() -> list[str]:
    return list(BACKENDS)


def check_backend_names(names: tuple[str, ...] | list[str]) -> None:
    """TrtperfUsageError naming the unknown backends and the known ones (no import happens)."""
    unknown = [name for name in names if name not in BACKENDS]
    if unknown:
        raise TrtperfUsageError(f"unknown backend {', '.join(map(repr, unknown))}; known backends: "
                                f"{', '.join(BACKENDS)}")


def get_backend(name: str, settings: Settings | None = None) -> Backend:
    """The backend ``name`` for ``settings`` (the only way settings reach a backend object).

    One instance per name and the settings the backend reads at construction
    (:meth:`Backend.settings_key`), so in-process memos (compiled modules) are shared by cases.
    """
    check_backend_names([name])
    settings = settings or Settings()
    module_name, class_name = BACKENDS[name].split(":")
    cls: type[Backend] = getattr(importlib.import_module(module_name), class_name)
    key = (name, cls.settings_key(settings))
    if key not in _instances:
        _instances[key] = cls.for_settings(settings)
    return _instances[key]
