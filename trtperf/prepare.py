"""Stages 1-3 of a case as one call: export -> precision variant -> backend build.

Every caller that needs a case's engine goes through :func:`prepare` — the pipeline, the
Hypothesis reproducer and the benchmarks — so they all build the same engine from the same
settings (one cache key for one case and one set of settings).
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass

from trtperf.backends import get_backend
from trtperf.backends.base import Backend, BuildRequest
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.engine import BuiltEngine, Engine
from trtperf.errors import CaseSkipped
from trtperf.export import export_cached
from trtperf.precision import precision_variant
from trtperf.spec import ModelSpec

STAGES = ("export", "variant", "build")


@dataclass(frozen=True)
class Prepared:
    """A case's artifacts: the fp32 ONNX, the ONNX its engine was built from, and the engine."""

    backend: Backend
    settings: Settings
    """The case's settings: the session's with the model's own declared values applied."""
    fp32: CacheEntry
    variant: CacheEntry
    request: BuildRequest
    built: BuiltEngine

    def load(self) -> Engine:
        """The loaded engine (a context manager: close it when done)."""
        return self.backend.load(self.built, self.request)


def prepare(
    spec: ModelSpec,
    case: Case,
    settings: Settings,
    cache: ArtifactCache,
    *,
    exports: MutableMapping[str, CacheEntry] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> Prepared:
    """Export (cached), make the precision variant (cached) and build the engine (cached).

    ``exports`` memoizes the fp32 export per model within a process (building a module to hash
    its weights costs seconds for large models). ``on_stage`` is called with each stage's name
    (:data:`STAGES`) before it starts (progress, and the stage named in a failure). Raises the
    stages' own :class:`~trtperf.errors.TrtperfError` subclasses, and :class:`~trtperf.errors.CaseSkipped`
    when the backend cannot run the precision for this model's ONNX op types (decided before the build).
    """
    stage = on_stage or (lambda name: None)
    settings = settings.with_model_overrides(spec.settings)
    backend = get_backend(case.backend, settings)
    stage("export")
    fp32 = exports.get(spec.name) if exports is not None else None
    if fp32 is None:
        fp32 = export_cached(spec, cache)
        if exports is not None:
            exports[spec.name] = fp32
    from trtperf.precision.support import onnx_op_types

    reason = backend.precision_unsupported_for(case.precision, onnx_op_types(fp32.path))
    if reason:
        raise CaseSkipped(f"{case.key}: {reason}")
    stage("variant")
    variant = precision_variant(spec, fp32, case.precision, cache, calibration_data=settings.calibration_data,
                                builder_flags=backend.uses_builder_flags(case.precision, settings))
    request = BuildRequest(spec=spec, case=case, onnx_path=variant.path, onnx_sha256=variant.meta["sha256"],
                           settings=settings, cache=cache)
    stage("build")
    built = backend.build(request)
    return Prepared(backend=backend, settings=settings, fp32=fp32, variant=variant, request=request, built=built)
