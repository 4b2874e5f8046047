"""Stage: ONNX precision variants. fp32 and tf32 use the fp32 ONNX as it is (tf32 is a build
setting); other precisions are produced here as ONNX graphs, since TensorRT 11 and
TensorRT-RTX take precision from the graph, not from builder flags."""

from __future__ import annotations

from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.errors import BuildError
from trtperf.spec import ModelSpec

PASS_THROUGH = frozenset({"fp32", "tf32"})


def precision_variant(spec: ModelSpec, fp32: CacheEntry, precision: str, cache: ArtifactCache) -> CacheEntry:
    """The ONNX to build for ``precision``."""
    if precision in PASS_THROUGH:
        return fp32
    raise BuildError(f"model {spec.name!r}: no ONNX variant for precision {precision} yet")
