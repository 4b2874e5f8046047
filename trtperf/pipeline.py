"""One case through every stage: export -> precision -> build -> parity -> timing -> verdict.

Works without pytest: ``CaseRunner(settings).run(spec, case)`` returns a :class:`CaseResult`.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

import trtperf
from trtperf.backends import get_backend
from trtperf.backends.base import Backend, BuildRequest
from trtperf.baselines import BaselineStore, record_results
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.cases import Case
from trtperf.config import Settings, default_cache_dir
from trtperf.errors import TrtperfError
from trtperf.export import export_cached
from trtperf.gate import MISMATCH, Gate, MedianThresholdGate, Verdict, timing_mode_difference
from trtperf.gpu import record_clocks, watch_clocks
from trtperf.inputs import make_inputs
from trtperf.parity import compare_outputs
from trtperf.precision import precision_variant
from trtperf.results import FAILED, PASSED, CaseResult
from trtperf.spec import ModelSpec
from trtperf.stats import LatencyStats, summarize
from trtperf.timing import TimingPlan, measure
from trtperf.tolerance import default_tolerance


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

    parts = {"onnx": fp32.meta["sha256"], "batch": batch, "seed": seed, "onnxruntime": onnxruntime.__version__}

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
        self.gate: Gate = gate or MedianThresholdGate()
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
        variant = precision_variant(spec, fp32, case.precision, self.cache)
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
        with backend.load(built, request) as engine:
            result.timing_mode = engine.timing_mode()
            report = compare_outputs(
                engine.infer(inputs),
                expected,
                lambda name: spec.tolerance_for(case.precision, name, default_tolerance(case.precision)),
            )
            result.parity = report.to_json()
            if not report.passed:
                result.outcome = FAILED
                result.message = (
                    f"{case.key}: outputs differ from the ONNX Runtime fp32 reference (batch {case.batch}, "
                    f"seed {settings.seed}):\n{report.describe_failures()}\n"
                    f"If the difference is expected for this precision, set tolerances= in the model "
                    f"declaration of {spec.name!r}."
                )
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
        stats = summarize(runs, case.batch)
        result.stats = stats.to_json()
        self._judge(case, settings, device_slug=result.device["slug"], stats=stats, result=result)

    def _judge(self, case: Case, settings: Settings, device_slug: str, stats: LatencyStats,
               result: CaseResult) -> None:
        entry = self.store.entry(device_slug, case.key)
        baseline_stats = None
        if entry is not None:
            result.baseline = {"stats": entry["stats"], "recorded_at": entry.get("recorded_at"),
                               "environment": entry.get("environment", {}),
                               "file": str(self.store.path_for(device_slug))}
            difference = timing_mode_difference(entry.get("timing_mode", {}), result.timing_mode)
            if difference:
                result.verdict = Verdict(MISMATCH, note=difference).to_json()
                if not settings.update_baselines:
                    result.outcome = FAILED
                    result.message = (
                        f"{case.key}: the baseline in {self.store.path_for(device_slug)} was measured in another "
                        f"timing mode ({difference}); rerun in the baseline's mode, or record a new baseline "
                        f"with --trtperf-update-baselines."
                    )
                return
            baseline_stats = LatencyStats.from_json(entry["stats"])
        verdict = self.gate.judge(baseline_stats, stats, settings.threshold)
        result.verdict = verdict.to_json()
        if verdict.failed and not settings.update_baselines:
            result.outcome = FAILED
            base = baseline_stats.median_ms if baseline_stats else float("nan")
            result.message = (
                f"{case.key}: latency {verdict.status}: median {stats.median_ms:.4g} ms vs baseline {base:.4g} ms "
                f"(x{verdict.ratio:.3f}; {verdict.test}) in "
                f"{self.store.path_for(device_slug)}. If the slowdown is intended, record it with "
                f"`pytest suites -k '{case.model}' --trtperf-update-baselines`."
            )
        elif result.outcome != FAILED:
            result.outcome = PASSED

    def update_baselines(self, results: list[CaseResult]) -> dict[str, int]:
        """Write the timed cases into their devices' files; returns cases written per file."""
        return record_results(self.store, results, trtperf.__version__)
