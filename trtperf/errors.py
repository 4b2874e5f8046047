"""One root error class; every message says what went wrong, where, and how to fix it."""

from __future__ import annotations


class TrtperfError(Exception):
    """Root of every error trtperf raises on purpose."""


class TrtperfUsageError(TrtperfError):
    """Bad option, ini value, marker or model declaration; shown without a traceback."""


class BaselineError(TrtperfError):
    """A baseline file cannot be read or written safely."""


class CacheError(TrtperfError):
    """A cache entry cannot be produced."""


class ExportError(TrtperfError):
    """torch -> ONNX export failed."""


class BuildError(TrtperfError):
    """A backend failed to build an engine for a case."""


class PrecisionError(TrtperfError):
    """A precision variant cannot compute its model faithfully (for example, values leave fp16's range)."""


class CaseSkipped(TrtperfError):
    """This case cannot run here for a known reason (e.g. a precision the flavour cannot run for this
    model's layers); reported as a skip with the reason, never a failure or a pass."""
