"""One case through every stage: export -> precision -> build -> parity -> timing -> verdict.

Works without pytest: ``CaseRunner(settings).run(spec, case)`` returns a :class:`CaseResult`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import trtperf
from trtperf.backends import get_backend
from trtperf.backends.base import Backend, BuildRequest
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.cases import Case
from trtperf.config import Settings, default_cache_dir
from trtperf.engine import BuiltEngine, Engine
from trtperf.errors import CaseSkipped, TrtperfError, TrtperfUsageError
from trtperf.inputs import make_inputs
from trtperf.onnx_model import describe_source
from trtperf.parity.reference import ReferenceRunner
from trtperf.parity.timed_path import check_timed_path, describe_timed_path_failure
from trtperf.prepare import prepare
from trtperf.progress import DONE, TIMING, ProgressCallback, ProgressEvent
from trtperf.record.baselines import BaselineStore, record_results
from trtperf.record.results import BUILD_ONLY, FAILED, NO_TIMING, SKIPPED, CaseResult
from trtperf.spec import ModelSpec
from trtperf.timing.device_lock import device_timing_lock
from trtperf.timing.gpu import record_clocks, watch_clocks
from trtperf.timing.loop import TimingPlan, measure, timed_outputs
from trtperf.timing.machine_probe import MachineProbe
from trtperf.timing.stats import RunSamples
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
    if spec.is_onnx and not backend.runs_onnx_models:
        return (f"{spec.name!r} is declared from an ONNX file; the {case.backend} backend runs a torch module, "
                f"which this model does not have")
    reason = backend.skip_reason(settings) if settings is not None else backend.unavailable_reason()
    if reason is None:
        reason = backend.precision_unsupported(case.precision)
    return reason


MAX_MESSAGE_LINES = 24
MAX_MESSAGE_CHARS = 3000


@dataclass
class Stage:
    """The stage a case is in: export, precision, build, reference, parity, timing, verdict; and the
    wall seconds spent in each so far (where a verdict's seconds go: issue 14, item 5)."""

    name: str = "setup"
    seconds: dict[str, float] = field(default_factory=dict)
    since: float = field(default_factory=time.perf_counter)

    def enter(self, name: str) -> None:
        """Close the current stage's clock and start ``name``'s (a stage entered twice adds up)."""
        now = time.perf_counter()
        self.seconds[self.name] = self.seconds.get(self.name, 0.0) + now - self.since
        self.name, self.since = name, now

    def close(self) -> dict[str, float]:
        """The seconds per stage, the current one included (rounded to ms)."""
        self.enter(self.name)
        return {name: round(s, 3) for name, s in self.seconds.items()}


def one_screen(text: str, max_lines: int = MAX_MESSAGE_LINES, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to at most ``max_lines`` lines and about ``max_chars`` characters (head and tail kept)."""
    lines = text.strip().splitlines()
    if len(lines) > max_lines:
        head, tail = lines[: max_lines - 5], lines[-4:]
        lines = [*head, f"... ({len(lines) - len(head) - len(tail)} lines cut) ...", *tail]
    out = "\n".join(lines)
    if len(out) > max_chars:
        out = out[: max_chars - 400] + f"\n... ({len(out) - max_chars + 400} characters cut) ...\n" + out[-300:]
    return out


def failure_message(case: Case, stage: str, exc: BaseException) -> str:
    """One screen: the case id, the stage, and the cause (trtperf's own message, or the exception's
    type, text and the line that raised it)."""
    if isinstance(exc, TrtperfError):
        cause = str(exc)
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (raised at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
        text = str(exc).strip()
        cause = f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"
        if isinstance(exc, OSError):
            cause += "\nA file system error (disk full? permissions?), not a fault of the model."
    return one_screen(f"{case.key}: {stage} failed: {cause}")


def fail(result: CaseResult, stage: str, exc: BaseException) -> None:
    """Mark ``result`` failed in ``stage`` by ``exc`` (see :func:`failure_message`)."""
    result.outcome = FAILED
    result.failed_stage = stage
    result.message = failure_message(result.case, stage, exc)


def failed_result(case: Case, stage: str, exc: BaseException) -> CaseResult:
    """A FAILED result for a case that could not even start (e.g. the runner could not be made)."""
    result = CaseResult(case=case)
    fail(result, stage, exc)
    return result


class CaseRunner:
    """Runs cases with shared settings, cache, baselines and gate."""

    def __init__(
        self,
        settings: Settings,
        baseline_dir: Path,
        gate: Gate | None = None,
    ) -> None:
        self.settings = settings
        self.cache = ArtifactCache(settings.cache_dir or default_cache_dir(), key_file=settings.cache_key_file)
        self.store = BaselineStore(baseline_dir)
        self.gate: Gate = gate or StatisticalGate()
        self.family_size = 1
        """Timed cases in this session: the gate's Bonferroni split (set by the pytest plugin)."""
        self.progress: ProgressCallback | None = None
        """Called at each stage boundary of a case and after each timing run (trtperf.progress); None: silent."""
        self._exports: dict[Hashable, tuple[CacheEntry, str]] = {}

    def run(self, spec: ModelSpec, case: Case) -> CaseResult:
        """Every stage of ``case``; never raises an Exception: any failure in any stage (a factory that
        raises, an ONNX Runtime rejection, a native crash in an isolated step, a full disk) is a
        FAILED result whose message names the case, the stage and the cause (:func:`failure_message`)."""
        result = CaseResult(case=case)
        stage = Stage()
        try:
            settings = self.settings.with_model_overrides(spec.settings)
            backend = get_backend(case.backend, settings)
            result.device = backend.device().to_json()
            result.environment = backend.environment()
            if spec.is_onnx and not backend.runs_onnx_models:
                raise TrtperfUsageError(skip_reason(spec, case) or "")
            self._run_stages(spec, case, settings, result, stage)
        except CaseSkipped as exc:  # known not to run here (e.g. a precision this flavour cannot run)
            result.outcome = SKIPPED
            result.message = str(exc)
        except Exception as exc:  # containment: one case fails, the session goes on
            fail(result, stage.name, exc)
            if spec.is_onnx:
                source = describe_source(spec)
                result.message += "" if source in result.message else f"\n(model {spec.name!r}: {source})"
        finally:
            result.notes.extend(self.cache.take_repairs())
            result.stage_seconds = stage.close()
            self._emit(case, DONE)
        return result

    def _emit(self, case: Case, stage: str, detail: str = "", runs: Sequence[RunSamples] = (),
              planned: int = 0) -> None:
        if self.progress is None:
            return
        median = float(np.median([np.median(r.latencies) for r in runs])) * 1e3 if runs else None
        self.progress(ProgressEvent(case.key, stage, detail, len(runs), planned, median))

    def _run_stages(self, spec: ModelSpec, case: Case, settings: Settings, result: CaseResult, stage: Stage) -> None:
        def enter(name: str, detail: str = "") -> None:
            stage.enter(name)
            self._emit(case, name, detail or {"export": "cached" if spec.identity() in self._exports else "",
                                              "precision": case.precision, "build": case.backend}.get(name, ""))

        prepared = prepare(spec, case, settings, self.cache, exports=self._exports, on_stage=enter)
        spec = prepared.spec  # an ONNX-file model's inputs and outputs come from its graph
        backend, built, request = prepared.backend, prepared.built, prepared.request
        result.artifact = {"onnx_sha256": prepared.fp32.meta["sha256"],
                           "variant_sha256": prepared.variant.meta["sha256"], "engine_key": built.cache_key}
        result.notes.extend(prepared.notes)
        result.build = {"cache_hit": built.cache_hit, "build_s": built.build_s, "cache_key": built.cache_key,
                        **dict(built.info)}
        if settings.build_only:
            result.notes.append(BUILD_ONLY)
            return
        enter("reference", "engine from the cache" if built.cache_hit else f"engine built in {built.build_s:.1f} s")
        inputs = make_inputs(spec, case.batch, settings.seed, case.dim_values)
        # Parity two ways (issue 4): vs ORT on the same variant (faithful) and vs the fp32 reference (cost).
        reference = ReferenceRunner(spec, prepared.fp32, prepared.variant, case.precision, self.cache, case.backend)
        # Both references run (and are cached) here, so a failure names this stage.
        reference.fp32_outputs(case.batch, settings.seed, case.dim_values)
        reference.variant_outputs(case.batch, settings.seed, case.dim_values)
        reference.fp32_own_errors(case.batch, settings.seed, case.dim_values)  # the adaptive fp32 bound's scale
        enter("parity")
        with prepared.load() as engine:
            first = engine.infer(inputs)
            report = reference.check(first, case.batch, settings.seed, case.dim_values)
            result.timing_mode = engine.timing_mode()
            result.parity = report.to_json()
            if not report.passed:
                result.outcome = FAILED
                advice = ("" if report.cost.reference_not_finite else
                          f"\nIf the difference is expected for this precision, set tolerances= in the model "
                          f"declaration of {spec.name!r}.")
                result.message = (f"{case.key}: {report.headline()} (batch {case.batch}, seed {settings.seed}):\n"
                                  f"{report.describe_failures()}{advice}"
                                  + "".join(f"\nPrecision stage: {note}" for note in prepared.notes))
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
                result.notes.append(NO_TIMING)
                return
            enter("timing", f"{settings.record_runs if settings.update_baselines else settings.runs} runs")
            # One timing at a time per device, machine-wide (xdist workers, other sessions): issue 14.
            with device_timing_lock(result.device) as lock:
                self._time_and_judge(spec, case, settings, result, engine, inputs, reference, first, backend, request,
                                     enter)
            result.environment["device_lock"] = lock.to_json()
            waited = lock.note()
            if waited:
                result.notes.append(waited)

    def _time_and_judge(self, spec: ModelSpec, case: Case, settings: Settings, result: CaseResult, engine: Engine,
                        inputs: dict[str, np.ndarray], reference: ReferenceRunner, first: dict[str, np.ndarray],
                        backend: Backend, request: BuildRequest, enter: Callable[..., None]) -> None:
        """Timing, parity of the timed path, and the verdict: the part that holds the device lock."""
        # The first look; a recording takes more runs (Settings.record_runs), judging adds looks as needed.
        plan = TimingPlan.from_settings(settings)
        if settings.update_baselines:
            plan = replace(plan, runs=settings.record_runs)
        timed: list[list[dict[str, np.ndarray]] | None] = []  # parity through the timed path (issue 14)
        # CPU: the machine's own speed before each run, so a slower machine is not judged a slower engine.
        probe = MachineProbe() if result.device.get("kind") == "cpu" else None
        with watch_clocks(result.device) as clocks:  # GPU clocks/throttling, before, during, after
            runs = measure(lambda n: engine.make_workers(inputs, n), case.streams, plan,
                           on_run=lambda so_far: self._emit(case, TIMING, runs=so_far, planned=plan.runs),
                           after_run=lambda workers: timed.append(timed_outputs(workers)),
                           before_run=probe.sample if probe is not None else None)
        record_clocks(clocks, result.environment, result.notes)
        result.timing_mode = engine.timing_mode()  # what was measured (cuda_graph auto decides per case)
        path = check_timed_path(timed, lambda got: reference.check(got, case.batch, settings.seed, case.dim_values))
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
        enter("verdict")
        # Judged with the engine still loaded: re-measurement and the paired A/B time it again.
        hook = TimingHook(make_workers=lambda n: engine.make_workers(inputs, n), streams=case.streams,
                          plan=plan, runs=list(runs), batch=case.batch, inputs=inputs,
                          open_engine=lambda key: self._open_cached_engine(backend, request, key), probe=probe)
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


def baseline_file_lines(settings: Settings, baseline_dir: Path, backends: list[str]) -> list[str]:
    """One line per device the ``backends`` run on: the baseline file it is gated against, or that it
    is missing (then that device's cases record no verdict). For the session header."""
    by_device: dict[str, list[str]] = {}
    for name in backends:
        try:
            backend = get_backend(name, settings)
            if backend.skip_reason(settings) is not None:
                continue
            slug = backend.device().slug
        except Exception:  # a header line must not stop the session; the case reports it
            continue
        by_device.setdefault(slug, []).append(name)
    store = BaselineStore(baseline_dir)
    lines = []
    for slug, names in sorted(by_device.items()):
        path = store.path_for(slug)
        state = "" if path.is_file() else " (missing: no baseline gating for this device)"
        lines.append(f"trtperf: baseline for {', '.join(names)} on device {slug}: {path}{state}")
    return lines
