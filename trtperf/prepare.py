"""Stages 1-3 of a case as one call: export (or an ONNX model's own file) -> precision variant ->
backend build.

Every caller that needs a case's engine goes through :func:`prepare` — the pipeline, the
Hypothesis reproducer and the benchmarks — so they all build the same engine from the same
settings (one cache key for one case and one set of settings).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, MutableMapping
from dataclasses import dataclass

from trtperf.backends import get_backend
from trtperf.backends.base import Backend, BuildRequest
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.engine import BuiltEngine, Engine
from trtperf.errors import CaseSkipped
from trtperf.export import export_cached
from trtperf.inputs import make_inputs
from trtperf.onnx_model import load_graph, onnx_file_cached, resolve_spec
from trtperf.precision import precision_variant, preflight_range
from trtperf.precisions import TABLE
from trtperf.spec import ModelSpec

STAGES = ("export", "precision", "build")


@dataclass(frozen=True)
class Prepared:
    """A case's artifacts: the fp32 ONNX, the ONNX its engine was built from, and the engine."""

    spec: ModelSpec
    """The spec to run the case with: the declaration, or for an ONNX-file model the declaration
    completed from its graph (inputs, outputs; see :func:`trtperf.onnx_model.resolve_spec`)."""
    backend: Backend
    settings: Settings
    """The case's settings: the session's with the model's own declared values applied."""
    fp32: CacheEntry
    variant: CacheEntry
    request: BuildRequest
    built: BuiltEngine
    notes: tuple[str, ...] = ()
    """What the stages found that a reader must see (e.g. fp16 values that flush to zero)."""

    def load(self) -> Engine:
        """The loaded engine (a context manager: close it when done)."""
        return self.backend.load(self.built, self.request)


def fp32_onnx(spec: ModelSpec, cache: ArtifactCache) -> tuple[CacheEntry, str]:
    """The cached fp32 ONNX: an ONNX model's own file (keyed by its content digest), or the torch
    export; and, for a file, its description for messages ("" for an export)."""
    if spec.is_onnx:
        return onnx_file_cached(spec, cache)
    return export_cached(spec, cache), ""


def prepare_model(spec: ModelSpec, cache: ArtifactCache, batch: int | None = None,
                  exports: MutableMapping[Hashable, tuple[CacheEntry, str]] | None = None,
                  ) -> tuple[ModelSpec, CacheEntry]:
    """Stage 1 alone: the spec to run (an ONNX model's completed from its graph, checked against
    ``batch``) and its fp32 ONNX. ``exports`` memoizes the fp32 entry per model (:meth:`ModelSpec.identity`:
    not the name alone, which two suites may both use)."""
    found = exports.get(spec.identity()) if exports is not None else None
    if found is None:
        found = fp32_onnx(spec, cache)
        if exports is not None:
            exports[spec.identity()] = found
    fp32, where = found
    if spec.is_onnx:
        spec = resolve_spec(spec, load_graph(fp32), where, batch)
    return spec, fp32


def prepare(
    spec: ModelSpec,
    case: Case,
    settings: Settings,
    cache: ArtifactCache,
    *,
    exports: MutableMapping[Hashable, tuple[CacheEntry, str]] | None = None,
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
    spec, fp32 = prepare_model(spec, cache, case.batch, exports)
    from trtperf.precision.support import main_graph_op_types, onnx_op_types, quantization_coverage

    op_types = onnx_op_types(fp32.path)
    reason = backend.precision_unsupported_for(case.precision, op_types)
    coverage_note = None
    if not reason and not backend.uses_builder_flags(case.precision, settings):
        reason, coverage_note = quantization_coverage(case.precision, main_graph_op_types(fp32.path))
    if reason:
        raise CaseSkipped(f"{case.key}: {reason}")
    stage("precision")
    variant = precision_variant(spec, fp32, case.precision, cache, calibration_data=settings.calibration_data,
                                builder_flags=backend.uses_builder_flags(case.precision, settings),
                                dims=case.dim_values)
    # Pre-flight (issue 11): fp16/bf16 values out of range, found on the CPU on the parity inputs.
    range_note = None
    if TABLE[case.precision].variant == "cast" and variant.meta["sha256"] != fp32.meta["sha256"]:
        input_key = {"batch": case.batch, "seed": settings.seed, "inputs": [i.describe() for i in spec.inputs],
                     **({"dims": dict(sorted(case.dim_values.items()))} if case.dim_values else {})}
        range_note = preflight_range(spec, fp32, variant, case.precision,
                                     make_inputs(spec, case.batch, settings.seed, case.dim_values), input_key, cache)
    request = BuildRequest(spec=spec, case=case, onnx_path=variant.path, onnx_sha256=variant.meta["sha256"],
                           settings=settings, cache=cache)
    stage("build")
    built = backend.build(request)
    return Prepared(spec=spec, backend=backend, settings=settings, fp32=fp32, variant=variant, request=request,
                    built=built, notes=tuple(n for n in (range_note, coverage_note) if n))
