"""One case through every stage: export -> precision -> build -> parity -> timing -> verdict.

Works without pytest: ``CaseRunner(settings).run(spec, case)`` returns a :class:`CaseResult`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

import trtperf
from trtperf.backends import get_backend
from trtperf.backends.base import Backend, BuildRequest, BuiltEngine, Engine
from trtperf.baselines import BaselineStore, record_results
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.cases import Case
from trtperf.config import Settings, default_cache_dir
from trtperf.errors import TrtperfError
from trtperf.export import export_cached
from trtperf.gate import Gate, StatisticalGate
from trtperf.gpu import record_clocks, watch_clocks
from trtperf.inputs import make_inputs
from trtperf.judging import TimingHook, judge_case
from trtperf.paired import find_cached_artifact
from trtperf.parity import two_way_parity
from trtperf.precision import precision_variant
from trtperf.precision.reference import variant_reference
from trtperf.results import FAILED, CaseResult
from trtperf.spec import ModelSpec
from trtperf.timing import TimingPlan, measure
from trtperf.tolerance import cost_tolerance_for, faithful_tolerance_for


def skip_reason(spec: ModelSpec, case: Case, settings: Settings | None = None) -> str | None:
    """Why this machine cannot run ``case`` (None when it can): decided at collection.

    With ``settings``, the backend judges by them (build-only mode needs no GPU for TensorRT-RTX).
    """
    try:
        backend = get_backend(case.backend)
    except TrtperfError as exc:
        return str(exc)
    if settings is not None:
        backend.configure(settings)
        reason = backend.skip_reason(settings)
    else:
        reason = backend.unavailable_reason()
    if reason is None:
        reason = backend.precision_unsupported(case.precision)
    return reason


def reference_outputs(
    spec: ModelSpec, fp32: CacheEntry, batch: int, seed: int, cache: ArtifactCache
) -> dict[str, np.ndarray]:
    """ONNX Runtime (CPU, fp32 ONNX, no graph optimizations) on the seeded inputs, cached."""
    import onnxruntime

    from trtperf.backends.onnxruntime import reference_session, run_session

    parts = {
        "onnx": fp32.meta["sha256"],
        "batch": batch,
        "seed": seed,
        # The inputs are drawn from the declared specs: a changed range means another reference.
        "inputs": [[i.name, list(i.shape), i.dtype, i.low, i.high] for i in spec.inputs],
        "onnxruntime": onnxruntime.__version__,
    }

    def produce(tmp: Path) -> None:
        outputs = run_session(reference_session(fp32.path), make_inputs(spec, batch, seed))
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **outputs)
        tmp.write_bytes(buffer.getvalue())

    entry = cache.get_or_create("reference", parts, produce, suffix=".npz", describe=f"reference of {spec.name}")
    with np.load(entry.path) as data:
        return {name: data[name] for name in spec.outputs}


class CaseRunner:
    """Runs cases with shared settings, cache, baselines and gate."""

    def __init__(
        self,
        settings: Settings,
        baseline_dir: Path,
        gate: Gate | None = None,
    ) -> None:
        self.settings = settings
        self.cache = ArtifactCache(settings.cache_dir or default_cache_dir())
        self.store = BaselineStore(baseline_dir)
        self.gate: Gate = gate or StatisticalGate()
        self.family_size = 1
        """Timed cases in this session: the gate's Bonferroni split (set by the pytest plugin)."""
        self._exports: dict[str, CacheEntry] = {}

    def _export(self, spec: ModelSpec) -> CacheEntry:
        if spec.name not in self._exports:
            self._exports[spec.name] = export_cached(spec, self.cache)
        return self._exports[spec.name]

    def run(self, spec: ModelSpec, case: Case) -> CaseResult:
        backend = get_backend(case.backend)
        backend.configure(self.settings)
        settings = self.settings.with_model_overrides(spec.settings)
        device = backend.device()
        result = CaseResult(case=case, device=device.to_json(), environment=backend.environment())
        try:
            self._run_stages(spec, case, settings, backend, result)
        except TrtperfError as exc:
            result.outcome = FAILED
            result.message = str(exc)
        return result

    def _run_stages(
        self, spec: ModelSpec, case: Case, settings: Settings, backend: Backend, result: CaseResult
    ) -> None:
        fp32 = self._export(spec)
        variant = precision_variant(
            spec, fp32, case.precision, self.cache, calibration_data=settings.calibration_data,
            builder_flags=settings.trt_precision_flags and backend.builder_precision_flags,
        )
        result.artifact = {"onnx_sha256": fp32.meta["sha256"], "variant_sha256": variant.meta["sha256"]}
        request = BuildRequest(
            spec=spec, case=case, onnx_path=variant.path, onnx_sha256=variant.meta["sha256"],
            settings=settings, cache=self.cache,
        )
        built = backend.build(request)
        result.build = {"cache_hit": built.cache_hit, "build_s": built.build_s, "cache_key": built.cache_key,
                        **dict(built.info)}
        result.artifact["engine_key"] = built.cache_key
        if settings.build_only:
            result.notes.append("build only")
            return
        inputs = make_inputs(spec, case.batch, settings.seed)
        expected = reference_outputs(spec, fp32, case.batch, settings.seed, self.cache)
        # Parity two ways (issue 4): vs ORT on the same variant (faithful) and vs the fp32 reference (cost).
        faithful_ref, unavailable = variant_reference(spec, fp32, variant, case.precision, case.batch, settings.seed,
                                                      self.cache, expected, reference_outputs)
        with backend.load(built, request) as engine:
            result.timing_mode = engine.timing_mode()
            report = two_way_parity(
                engine.infer(inputs), expected,
                lambda name: cost_tolerance_for(spec, case.precision, name, case.backend),
                faithful_ref, lambda name: faithful_tolerance_for(spec, case.precision, name, case.backend),
                case.precision,
                unavailable,
            )
            result.parity = report.to_json()
            if not report.passed:
                result.outcome = FAILED
                advice = ("" if report.cost.reference_not_finite else
                          f"\nIf the difference is expected for this precision, set tolerances= in the model "
                          f"declaration of {spec.name!r}.")
                result.message = (f"{case.key}: {report.headline()} (batch {case.batch}, seed {settings.seed}):\n"
                                  f"{report.describe_failures()}{advice}")
                return
            if settings.hypothesis_examples:
                from trtperf.hypothesis_parity import check_property

                prop = check_property(engine, spec, case, settings, fp32, variant, self.cache, built)
                result.parity["hypothesis"] = prop.to_json()
                if not prop.passed:
                    result.outcome = FAILED
                    result.message = prop.message
                    return
            if settings.no_timing:
                result.notes.append("no timing")
                return
            plan = TimingPlan(runs=settings.runs, warmup_s=settings.warmup, min_time_s=settings.min_time,
                              min_iters=settings.min_iters)
            with watch_clocks(result.device) as clocks:  # GPU clocks/throttling, before, during, after
                runs = measure(lambda n: engine.make_workers(inputs, n), case.streams, plan)
            record_clocks(clocks, result.environment, result.notes)
            extra = engine.measurements()
            if extra:
                result.build["runtime"] = extra
            # Judged with the engine still loaded: re-measurement and the paired A/B time it again.
            hook = TimingHook(make_workers=lambda n: engine.make_workers(inputs, n), streams=case.streams,
                              plan=plan, runs=list(runs), batch=case.batch, inputs=inputs,
                              open_engine=lambda key: self._open_cached_engine(backend, request, key))
            judge_case(result, settings, self.store, self.gate, self.family_size, hook)

    def _open_cached_engine(self, backend: Backend, request: BuildRequest, key: str) -> Engine | None:
        """Load the engine artifact ``key`` (e.g. the baseline's) when it is still in the cache."""
        path = find_cached_artifact(self.cache.root, key)
        if path is None:
            return None
        return backend.load(BuiltEngine(path=path, cache_key=key, cache_hit=True, build_s=0.0), request)

    def update_baselines(self, results: list[CaseResult]) -> dict[str, int]:
        """Write the timed cases into their devices' files; returns cases written per file."""
        return record_results(self.store, results, trtperf.__version__)
