"""The faithful reference: ONNX Runtime (CPU, no graph optimization) running the variant ONNX itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.spec import ModelSpec

Outputs = dict[str, np.ndarray]
ReferenceFn = Callable[..., Outputs]
"""``(spec, onnx entry, batch, seed, cache, dims=...) -> outputs``: the pipeline's cached reference."""


def variant_reference(
    spec: ModelSpec,
    fp32: CacheEntry,
    variant: CacheEntry,
    precision: str,
    batch: int,
    seed: int,
    cache: ArtifactCache,
    fp32_reference: Outputs,
    reference_fn: ReferenceFn,
    dims: Mapping[str, int] | None = None,
) -> tuple[Outputs | None, str]:
    """(outputs, "") from ONNX Runtime on ``variant``, or (None, why) when it cannot run it.

    Returns ``fp32_reference`` itself when the variant is the fp32 ONNX (one comparison, not two).
    ``reference_fn`` is the pipeline's cached reference runner (passed in to avoid an import cycle).
    """
    if variant.meta["sha256"] == fp32.meta["sha256"]:
        return fp32_reference, ""
    try:
        return reference_fn(spec, variant, batch, seed, cache, dims=dims), ""
    except Exception as exc:  # ONNX Runtime raises its own exception types (NOT_IMPLEMENTED, INVALID_GRAPH)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, (f"ONNX Runtime (CPU) cannot run the {precision} variant of {spec.name!r}, so only the cost "
                      f"check gates: {first[:300]}")
