"""Seeded, reproducible inputs drawn from each input's declared range."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from trtperf.spec import ModelSpec


def make_inputs(spec: ModelSpec, batch: int, seed: int = 0,
                dims: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """One array per declared input, identical for every backend given the same seed, batch and dims.

    ``dims`` gives the value of each named axis (e.g. ``{"seq": 128}``). Floats are uniform in
    ``[low, high)``; integers uniform over ``ceil(low) .. ceil(high) - 1``; bools True with
    probability ``p_true`` (see :class:`trtperf.spec.InputSpec`).
    """
    dims = dict(dims or {})
    arrays: dict[str, np.ndarray] = {}
    # A model without named axes keeps the seeds it always had (its references stay valid).
    axis_seed = [dims[axis] for axis in sorted(dims)]
    for index, item in enumerate(spec.inputs):
        rng = np.random.default_rng([seed, index, batch, *axis_seed])
        shape = item.concrete_shape(batch, dims)
        low, high = item.value_range
        if item.dtype in ("float32", "float16"):
            values = rng.uniform(low, high, size=shape).astype(item.dtype)
            # Rounding to the target dtype can land on ``high``; keep the half-open range.
            below_high = np.nextafter(np.asarray(high, dtype=item.dtype), np.asarray(low, dtype=item.dtype))
            values = np.minimum(values, below_high)
        elif item.dtype == "bool":
            p_true = 0.5 if item.p_true is None else item.p_true
            values = rng.random(size=shape) < p_true
        else:
            values = rng.integers(math.ceil(low), math.ceil(high), size=shape).astype(item.dtype)
        arrays[item.name] = values
    return arrays
