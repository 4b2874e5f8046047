"""Seeded, reproducible inputs drawn from each input's declared range.

Each array is drawn directly in its target dtype (float16 through float32, which numpy's generator
needs), never as float64 then cast: a large batch needs the memory of its inputs, not twice that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from trtperf.spec import InputSpec, ModelSpec

BOOL_CHUNK = 1 << 20
"""Elements per float32 draw of a bool input with ``p_true`` (bounds the draw's extra memory to 4 MiB)."""


def draw_input(item: InputSpec, batch: int, seed: int, index: int,
               dims: Mapping[str, int] | None = None) -> np.ndarray:
    """One input's array, shape ``item.concrete_shape(batch, dims)``, dtype ``item.dtype``.

    Floats are uniform in ``[low, high)``; integers uniform over ``ceil(low) .. ceil(high) - 1``;
    bools True with probability ``p_true`` (see :class:`trtperf.spec.InputSpec`).
    """
    dims = dict(dims or {})
    # A model without named axes keeps the seeds it always had (its references stay valid).
    rng = np.random.default_rng([seed, index, batch, *(dims[axis] for axis in sorted(dims))])
    shape = item.concrete_shape(batch, dims)
    low, high = item.value_range
    if item.dtype in ("float32", "float16"):
        values = rng.random(shape, dtype=np.float32)
        values *= np.float32(high - low)
        values += np.float32(low)
        if item.dtype == "float16":
            values = values.astype(np.float16)
        # Rounding to the target dtype can land on ``high``; keep the half-open range.
        target = values.dtype
        below_high = np.nextafter(np.asarray(high, dtype=target), np.asarray(low, dtype=target))
        np.minimum(values, below_high, out=values)
        return values
    if item.dtype == "bool":
        if item.p_true is None or item.p_true == 0.5:
            return rng.integers(0, 2, size=shape, dtype=np.uint8).view(np.bool_)
        out = np.empty(shape, dtype=np.bool_)
        flat = out.reshape(-1)
        for start in range(0, flat.size, BOOL_CHUNK):  # float32 draws a chunk at a time: memory ~ the input
            stop = min(start + BOOL_CHUNK, flat.size)
            flat[start:stop] = rng.random(stop - start, dtype=np.float32) < np.float32(item.p_true)
        return out
    return rng.integers(math.ceil(low), math.ceil(high), size=shape, dtype=np.dtype(item.dtype))


def make_input_arrays(inputs: Sequence[InputSpec], batch: int, seed: int = 0,
                      dims: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """One array per declared input (see :func:`draw_input`), in declaration order."""
    return {item.name: draw_input(item, batch, seed, index, dims) for index, item in enumerate(inputs)}


def make_inputs(spec: ModelSpec, batch: int, seed: int = 0,
                dims: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """One array per declared input, identical for every backend given the same seed, batch and dims
    (``dims``: the value of each named axis, e.g. ``{"seq": 128}``)."""
    return make_input_arrays(spec.inputs, batch, seed, dims)
