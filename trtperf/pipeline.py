"""One case through every stage: export -> precision -> build -> parity -> timing -> verdict.

Works without pytest: ``CaseRunner(settings).run(spec, case)`` returns a :class:`CaseResult`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import trtperf
from trtperf.backends import get_backend
from trtperf.backends.base import Backend, BuildRequest
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.cases import Case
from trtperf.config import Settings, default_cache_dir
from trtperf.engine import BuiltEngine, Engine
from trtperf.errors import CaseSkipped, TrtperfError
from trtperf.inputs import make_inputs
from trtperf.parity.reference import ReferenceRunner
from trtperf.parity.timed_path import check_timed_path, describe_timed_path_failure
from trtperf.prepare import prepare
from trtperf.record.baselines import BaselineStore, record_results
from trtperf.record.results import FAILED, SKIPPED, CaseResult
from trtperf.spec import ModelSpec
from trtperf.timing.device_lock import device_timing_lock
from trtperf.timing.gpu import record_clocks, watch_clocks
from trtperf.timing.loop import TimingPlan, measure, timed_outputs
from trtperf.verdict.gate import Gate, StatisticalGate
from trtperf.verdict.judging import TimingHook, judge_case


def skip_reason(spec: ModelSpec, case: Case, settings: Settings | None = None) -> str | None:
    """Why this machine cannot run ``case`` (None when it can): decided at collection.

    With ``settings``, the backend judges by them (build-only mode needs no GPU for TensorRT-RTX).
    """
    try:
        backend = get_backend(case.backend, settings)
    except TrtperfError as exc:
        return str(exc)
    reason = backend.skip_reason(settings) if settings is not None else backend.unavailable_reason()
    if reason is None:
        reason = backend.precision_unsupported(case.precision)
    return reason


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

    def run(self, spec: ModelSpec, case: Case) -> CaseResult:
        settings = self.settings.with_model_overrides(spec.settings)
        backend = get_backend(case.backend, settings)
        device = backend.device()
        result = CaseResult(case=case, device=device.to_json(), environment=backend.environment())
        try:
            self._run_stages(spec, case, settings, result)
        except CaseSkipped as exc:
            result.outcome = SKIPPED
            result.message = str(exc)
        except TrtperfError as exc:
            result.outcome = FAILED
            result.message = str(exc)
        return result

    def _run_stages(self, spec: ModelSpec, case: Case, settings: Settings, result: CaseResult) -> None:
        prepared = prepare(spec, case, settings, self.cache, exports=self._exports)
        backend, built, request = prepared.backend, prepared.built, prepared.request
        result.artifact = {"onnx_sha256": prepared.fp32.meta["sha256"],
                           "variant_sha256": prepared.variant.meta["sha256"], "engine_key": built.cache_key}
        result.build = {"cache_hit": built.cache_hit, "build_s": built.build_s, "cache_key": built.cache_key,
                        **dict(built.info)}
        if settings.build_only:
            result.notes.append("build only")
            return
        inputs = make_inputs(spec, case.batch, settings.seed)
        # Parity two ways (issue 4): vs ORT on the same variant (faithful) and vs the fp32 reference (cost).
        reference = ReferenceRunner(spec, prepared.fp32, prepared.variant, case.precision, self.cache)
        with prepared.load() as engine:
            first = engine.infer(inputs)
            report = reference.check(first, case.batch, settings.seed)
            result.timing_mode = engine.timing_mode()
            result.parity = report.to_json()
            if not report.passed:
                result.outcome = FAILED
                what = ("outputs differ from the ONNX Runtime fp32 reference" if report.same_reference
                        else f"{case.precision} parity failed")
                result.message = (
                    f"{case.key}: {what} (batch {case.batch}, seed {settings.seed}):\n{report.describe_failures()}\n"
                    f"If the difference is expected for this precision, set tolerances= in the model "
                    f"declaration of {spec.name!r}."
                )
                return
            if settings.hypothesis_examples:
                from trtperf.parity.hypothesis import check_property

                prop = check_property(engine, spec, case, settings, reference)
                result.parity["hypothesis"] = prop.to_json()
                if not prop.passed:
                    result.outcome = FAILED
                    result.message = prop.message
                    return
            if settings.no_timing:
                result.notes.append("no timing")
                return
            # One timing at a time per device, machine-wide (xdist workers, other sessions): issue 14.
            with device_timing_lock(result.device) as lock:
                self._time_and_judge(spec, case, settings, result, engine, inputs, reference, first, backend, request)
            result.environment["device_lock"] = lock.to_json()
            waited = lock.note()
            if waited:
                result.notes.append(waited)

    def _time_and_judge(self, spec: ModelSpec, case: Case, settings: Settings, result: CaseResult, engine: Engine,
                        inputs: dict[str, np.ndarray], reference: ReferenceRunner, first: dict[str, np.ndarray],
                        backend: Backend, request: BuildRequest) -> None:
        """Timing, parity of the timed path, and the verdict: the part that holds the device lock."""
        plan = TimingPlan.from_settings(settings)
        timed: list[list[dict[str, np.ndarray]] | None] = []  # parity through the timed path (issue 14)
        with watch_clocks(result.device) as clocks:  # GPU clocks/throttling, before, during, after
            runs = measure(lambda n: engine.make_workers(inputs, n), case.streams, plan,
                           after_run=lambda workers: timed.append(timed_outputs(workers)))
        record_clocks(clocks, result.environment, result.notes)
        result.timing_mode = engine.timing_mode()  # what was measured (cuda_graph auto decides per case)
        path = check_timed_path(timed, lambda got: reference.check(got, case.batch, settings.seed))
        result.parity = {**(result.parity or {}), "timed_path": path.to_json()}
        if path.failure is not None:
            result.outcome = FAILED
            why = describe_timed_path_failure(path.failure, case.streams, result.timing_mode, first)
            result.message = (f"{case.key}: {why}\nIf the difference is expected for this precision, "
                              f"set tolerances= in the model declaration of {spec.name!r}.")
            return
        result.notes.extend(n for n in getattr(engine, "notes", []) if n not in result.notes)
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
        path = self.cache.find(key)
        if path is None:
            return None
        return backend.load(BuiltEngine(path=path, cache_key=key, cache_hit=True, build_s=0.0), request)

    def update_baselines(self, results: list[CaseResult]) -> dict[str, int]:
        """Write the timed cases into their devices' files; returns cases written per file."""
        return record_results(self.store, results, trtperf.__version__)
