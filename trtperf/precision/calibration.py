"""Calibration data for int8/fp8 quantization: drawn from the input spec, or a user's ``.npz``.

Drawn data uses seeds far from the parity seeds, so a model is never calibrated on the very
inputs its parity is checked with (that would flatter the quantized variant).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trtperf.errors import TrtperfUsageError
from trtperf.inputs import make_inputs
from trtperf.spec import ModelSpec

CALIBRATION_SEED = 1_000_003
"""Base seed of drawn calibration batches (parity uses the small --trtperf-seed values)."""
DRAWN_BATCHES = 4
DRAWN_BATCH_SIZE = 8
MAX_CHUNK = 8
"""Largest batch fed to the calibrator at once (bounds its memory, not the sample count)."""

Batch = dict[str, np.ndarray]


@dataclass(frozen=True)
class CalibrationSet:
    """Batches to calibrate on, and a digest of where they came from (part of the cache key)."""

    batches: tuple[Batch, ...]
    digest: str
    source: str


def _spec_digest(spec: ModelSpec, dims: Mapping[str, int]) -> str:
    described = [i.describe() for i in spec.inputs]
    payload = json.dumps({"inputs": described, "seed": CALIBRATION_SEED, "batches": DRAWN_BATCHES,
                          "batch": DRAWN_BATCH_SIZE, **({"dims": dict(dims)} if dims else {})}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def drawn_calibration(spec: ModelSpec, dims: Mapping[str, int] | None = None) -> CalibrationSet:
    """``DRAWN_BATCHES`` batches of ``DRAWN_BATCH_SIZE`` from the declared input ranges, at the case's
    named-axis values ``dims`` (e.g. ``{"seq": 128}``)."""
    dims = dict(dims or {})
    size = min(DRAWN_BATCH_SIZE, spec.max_batch)
    batches = tuple(make_inputs(spec, size, CALIBRATION_SEED + i, dims=dims) for i in range(DRAWN_BATCHES))
    at = "".join(f", {axis}={value}" for axis, value in sorted(dims.items()))
    return CalibrationSet(batches, "spec:" + _spec_digest(spec, dims), f"{DRAWN_BATCHES}x{size} samples drawn from "
                          f"the declared input ranges{at}")


def _split(arrays: Batch, axes: dict[str, int], chunk: int) -> Iterator[Batch]:
    total = next(iter(arrays.values())).shape[axes[next(iter(arrays))]]
    for start in range(0, total, chunk):
        yield {name: np.take(a, np.arange(start, min(start + chunk, total)), axis=axes[name])
               for name, a in arrays.items()}


def load_calibration(spec: ModelSpec, path: Path) -> CalibrationSet:
    """A user's calibration set: an ``.npz`` with one array per input, samples stacked on the batch axis."""
    where = f"model {spec.name!r}: calibration data {path}"
    try:
        data_bytes = path.read_bytes()
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name]) for name in data.files}
    except (OSError, ValueError) as exc:
        raise TrtperfUsageError(f"{where} cannot be read ({exc}); give an .npz written with numpy.savez") from None
    missing = [i.name for i in spec.inputs if i.name not in arrays]
    if missing:
        which = "input" if len(missing) == 1 else "inputs"
        raise TrtperfUsageError(f"{where} has no array for {which} {missing}; it holds {sorted(arrays)}. "
                                f"Save one array per model input, named like the input.")
    feeds: Batch = {}
    axes: dict[str, int] = {}
    counts = set()
    for item in spec.inputs:
        a = arrays[item.name]
        # The batch axis and named axes (e.g. "seq") take the file's sizes; fixed axes must match.
        expected = tuple(a.shape[k] if isinstance(d, str) and a.ndim == len(item.shape) else d
                         for k, d in enumerate(item.shape))
        if a.ndim != len(item.shape) or a.shape != expected:
            raise TrtperfUsageError(f"{where}: input {item.name!r} has shape {list(a.shape)}, expected "
                                    f"{list(item.shape)} with samples stacked on the batch axis")
        feeds[item.name] = a.astype(item.dtype, copy=False)
        axes[item.name] = item.batch_axis
        counts.add(a.shape[item.batch_axis])
    if len(counts) != 1 or 0 in counts:
        raise TrtperfUsageError(
            f"{where}: every input needs the same, non-zero number of samples; got {sorted(counts)}"
        )
    batches = tuple(_split(feeds, axes, min(MAX_CHUNK, spec.max_batch)))
    return CalibrationSet(batches, "file:" + hashlib.sha256(data_bytes).hexdigest(),
                          f"{counts.pop()} samples from {path}")


def calibration_set(spec: ModelSpec, path: Path | None, dims: Mapping[str, int] | None = None) -> CalibrationSet:
    """The user's ``.npz`` at ``path``, else batches drawn at the named-axis values ``dims``."""
    return load_calibration(spec, path) if path is not None else drawn_calibration(spec, dims)
