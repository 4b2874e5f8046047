"""Seeded, reproducible inputs drawn from each input's declared range.

Each array is drawn directly in its target dtype (float16 through float32, which numpy's generator
needs), never as float64 then cast: a large batch needs the memory of its inputs, not twice that.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trtperf.spec import InputSpec, ModelSpec


def draw_input(item: InputSpec, batch: int, seed: int, index: int) -> np.ndarray:
    """One input's array, shape ``item.concrete_shape(batch)``, dtype ``item.dtype``, in ``[low, high)``."""
    rng = np.random.default_rng([seed, index, batch])
    shape = item.concrete_shape(batch)
    if item.dtype in ("float32", "float16"):
        values = rng.random(shape, dtype=np.float32)
        values *= np.float32(item.high - item.low)
        values += np.float32(item.low)
        if item.dtype == "float16":
            values = values.astype(np.float16)
        # Rounding to the target dtype can land on ``high``; keep the half-open range.
        target = values.dtype
        below_high = np.nextafter(np.asarray(item.high, dtype=target), np.asarray(item.low, dtype=target))
        np.minimum(values, below_high, out=values)
        return values
    if item.dtype == "bool":
        return rng.integers(0, 2, size=shape, dtype=np.uint8).view(np.bool_)
    return rng.integers(int(item.low), int(item.high), size=shape, dtype=np.dtype(item.dtype))


def make_input_arrays(inputs: Sequence[InputSpec], batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """One array per declared input (see :func:`draw_input`), in declaration order."""
    return {item.name: draw_input(item, batch, seed, index) for index, item in enumerate(inputs)}


def make_inputs(spec: ModelSpec, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """One array per declared input, identical for every backend given the same seed and batch."""
    return make_input_arrays(spec.inputs, batch, seed)
