"""trtperf: a pytest-integrated performance regression suite for TensorRT.

Declare a model once with :func:`model`; the pytest plugin turns it into cases
(backend x precision x batch x streams), checks parity against ONNX Runtime, times
each case and gates it against this device's stored baseline.
"""

from __future__ import annotations

from trtperf.errors import BaselineError, CacheError, TrtperfError, TrtperfUsageError
from trtperf.spec import InputSpec, ModelSpec, Tolerance, model

__version__ = "0.1.0"

__all__ = [
    "BaselineError",
    "CacheError",
    "InputSpec",
    "ModelSpec",
    "Tolerance",
    "TrtperfError",
    "TrtperfUsageError",
    "__version__",
    "model",
]
