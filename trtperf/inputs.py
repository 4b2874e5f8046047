"""Seeded, reproducible inputs drawn from each input's declared range."""

from __future__ import annotations

import numpy as np

from trtperf.spec import ModelSpec


def make_inputs(spec: ModelSpec, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """One array per declared input, identical for every backend given the same seed and batch."""
    arrays: dict[str, np.ndarray] = {}
    for index, item in enumerate(spec.inputs):
        rng = np.random.default_rng([seed, index, batch])
        shape = item.concrete_shape(batch)
        if item.dtype in ("float32", "float16"):
            values = rng.uniform(item.low, item.high, size=shape).astype(item.dtype)
            # Rounding to the target dtype can land on ``high``; keep the half-open range.
            below_high = np.nextafter(np.asarray(item.high, dtype=item.dtype), np.asarray(item.low, dtype=item.dtype))
            values = np.minimum(values, below_high)
        elif item.dtype == "bool":
            values = rng.integers(0, 2, size=shape).astype(bool)
        else:
            values = rng.integers(int(item.low), int(item.high), size=shape).astype(item.dtype)
        arrays[item.name] = values
    return arrays
