"""Backends: one interface, several engines. Imported lazily so a missing one costs nothing."""

from __future__ import annotations

import importlib

from trtperf.backends.base import Backend
from trtperf.errors import TrtperfUsageError

# name -> "module:class"; modules import their heavy dependencies only when used.
BACKENDS: dict[str, str] = {
    "onnxruntime": "trtperf.backends.onnxruntime:OnnxRuntimeBackend",
    "tensorrt": "trtperf.backends.tensorrt:TensorRTBackend",
    "torch": "trtperf.backends.torch_backend:TorchBackend",
    "torch_compile": "trtperf.backends.torch_backend:TorchCompileBackend",
}

_instances: dict[str, Backend] = {}


def known_backends() -> list[str]:
    return list(BACKENDS)


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise TrtperfUsageError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}")
    if name not in _instances:
        module_name, class_name = BACKENDS[name].split(":")
        cls = getattr(importlib.import_module(module_name), class_name)
        _instances[name] = cls()
    return _instances[name]
