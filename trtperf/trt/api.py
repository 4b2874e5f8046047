"""The active TensorRT module as ``trt``, and the one logger TensorRT gets per process.

``trt`` is typed from stubs generated from the TensorRT-RTX bindings (``typings/``), so mypy
checks every TensorRT name used here; at run time it forwards to whichever flavour
:func:`activate` chose. A name missing from TensorRT 10.x/11.x is caught by
``scripts/check_trt_api.py`` (the names in the real binding wheels).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from trtperf.trt.flavour import Flavour, detect

__all__ = ["LOG", "activate", "capture_errors", "logger", "trt"]

LOG = logging.getLogger("trtperf.tensorrt")
TRT_LOG = logging.getLogger("trtperf.tensorrt.log")
"""TensorRT's own messages (its INFO and VERBOSE at DEBUG)."""


class _ActiveModule:
    """Forwards attribute access to the module of the activated flavour."""

    def __init__(self) -> None:
        self.module: ModuleType | None = None

    def __getattr__(self, name: str) -> Any:
        module = self.__dict__.get("module")
        if module is None:
            raise RuntimeError("TensorRT is not activated; call trtperf.trt.api.activate() first")
        return getattr(module, name)


if TYPE_CHECKING:
    import tensorrt_rtx_bindings as trt
else:
    trt = _ActiveModule()

_active: Flavour | None = None
_lock = threading.Lock()


def activate(choice: str = "auto") -> Flavour | str:
    """Import and select the flavour for ``choice``; the reason when none can be used.

    One flavour per process: TensorRT keeps process-wide state (its logger, plugin registry).
    """
    global _active
    with _lock:
        if _active is not None:
            if choice in ("auto", _active.kind):
                return _active
            return f"TensorRT flavour {_active.kind} is already active in this process; cannot switch to {choice}"
        found = detect(choice)
        if isinstance(found, str):
            return found
        flavour, module = found
        if not TYPE_CHECKING:
            trt.module = module
        _active = flavour
        return flavour


class _Capture:
    """Messages at ERROR and above logged while a capture is open (for error messages)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def detail(self) -> str:
        """The captured errors as an indented list for an error message."""
        return "\n".join(f"  - {m}" for m in self.errors) or "  - (TensorRT logged no error)"


_logger: Any = None
# Global, not thread-local: TensorRT logs from its own threads too. Builds in one process run
# one at a time (TensorRT builders are not thread-safe), so captures do not mix in practice.
_captures: list[_Capture] = []


def _severity_level(severity: Any) -> int:
    name = getattr(severity, "name", str(severity))
    return {
        "INTERNAL_ERROR": logging.CRITICAL,
        "ERROR": logging.ERROR,
        "WARNING": logging.WARNING,
    }.get(name, logging.DEBUG)  # TensorRT's INFO is chatty: trtperf's own progress lines are INFO


def logger() -> Any:
    """The process's TensorRT logger: forwards to the ``trtperf.tensorrt`` Python logger.

    TensorRT ignores every logger after the first one a builder, runtime or refitter gets
    ("The logger passed into createInferBuilder differs..."), so there is exactly one.
    """
    global _logger
    with _lock:
        if _logger is None:

            class _Logger(trt.ILogger):  # type: ignore[misc]
                def __init__(self) -> None:
                    trt.ILogger.__init__(self)

                def log(self, severity: Any, msg: str) -> None:
                    level = _severity_level(severity)
                    if level >= logging.ERROR:
                        for capture in list(_captures):
                            capture.errors.append(msg)
                    if TRT_LOG.isEnabledFor(level):
                        TRT_LOG.log(level, "%s", msg)

            _logger = _Logger()
        return _logger


@contextmanager
def capture_errors() -> Iterator[_Capture]:
    """Collect TensorRT's error messages logged inside the block."""
    capture = _Capture()
    _captures.append(capture)
    try:
        yield capture
    finally:
        _captures.remove(capture)
