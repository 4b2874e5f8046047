"""The verdict stage of one case: baseline lookup, the statistical gate, re-measurement, notes.

``CaseRunner`` calls :func:`judge_case` while the candidate engine is still loaded, handing it
a :class:`TimingHook`: re-measurement (more runs) and the same-job A/B against the baseline's
own engine both time the engine again without reloading or rebuilding it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from trtperf.config import Settings
from trtperf.engine import Engine
from trtperf.errors import TrtperfError
from trtperf.record.baselines import RAW_PER_RUN, RAW_RUNS, BaselineStore, entry_problem
from trtperf.record.results import FAILED, PASSED, CaseResult
from trtperf.timing.loop import TimingPlan, measure
from trtperf.timing.machine_probe import (
    PROBE_KEY,
    MachineProbe,
    explained_by_machine,
    improvement_explained_by_machine,
    improvement_hides_slowdown,
    machine_note,
    machine_ratio,
    plausible_machine_ratio,
    slower_machine_only,
)
from trtperf.timing.mode import mismatch_advice
from trtperf.timing.stats import LAUNCH_BOUND_RATIO, RunSamples, enqueue_median_ms, summarize
from trtperf.verdict.gate import (
    Gate,
    GateParams,
    MeasurePaired,
    Status,
    Verdict,
    judge_adaptively,
    timing_mode_difference,
)
from trtperf.verdict.paired import MakeWorkers, measure_interleaved
from trtperf.verdict.statistics import VERSION_KEYS, environment_differences


@dataclass
class TimingHook:
    """How to time the loaded candidate again, and how to open the baseline's own engine.

    ``open_engine(engine_key)`` returns the loaded engine of a cached artifact, or None when it
    is no longer in the cache.
    """

    make_workers: MakeWorkers
    streams: int
    plan: TimingPlan
    runs: list[RunSamples]
    batch: int
    inputs: Any
    open_engine: Callable[[str], Engine | None]
    probe: MachineProbe | None = None
    """CPU cases: the machine probe, sampled before each run of the candidate (first look and more)."""


def params_from_settings(settings: Settings, family_size: int) -> GateParams:
    """The gate parameters of one case (settings already carry the model's overrides)."""
    return GateParams(threshold=settings.threshold, floor=settings.effect_floor, confidence=settings.confidence,
                      looks=1 + settings.remeasure, family_size=max(1, family_size))


def _sig(value: float) -> float:
    return float(f"{value:.6g}")


def run_details(runs: Sequence[RunSamples]) -> dict[str, Any]:
    """Per-run p90/p99/CV and bounded raw samples (ms): stored with the baseline (schema 2)."""
    p90, p99, cv, raw = [], [], [], []
    for index, run in enumerate(runs):
        ms = np.asarray(run.latencies, dtype=np.float64) * 1e3
        q90, q99 = np.quantile(ms, [0.90, 0.99], method="linear")
        p90.append(_sig(float(q90)))
        p99.append(_sig(float(q99)))
        mean = float(ms.mean())
        cv.append(_sig(float(ms.std(ddof=1)) / mean) if ms.size > 1 and mean > 0 else 0.0)
        if index < RAW_RUNS:
            step = max(1, -(-ms.size // RAW_PER_RUN))  # evenly spaced, at most RAW_PER_RUN
            raw.append([_sig(float(v)) for v in ms[::step][:RAW_PER_RUN]])
    return {
        "run_p90_ms": p90,
        "run_p99_ms": p99,
        "run_cv": cv,
        "warmup_unstable_runs": sum(1 for r in runs if not r.warmup_stable),
        "raw_ms": raw,
        "raw_note": f"first {RAW_RUNS} runs, evenly spaced, at most {RAW_PER_RUN} samples each",
    }


SHORT_GPU_INFERENCE_S = 50e-6
"""Below this, one CUDA-event pair per inference (2-3.5 us of GPU time on an H100,
bench/results/fidelity-h100-*.txt) biases the latency by several percent."""


def stability_notes(runs: Sequence[RunSamples], settings: Settings, graph_replays: bool = False,
                    delay_kernel: bool = False) -> list[str]:
    """Warnings that make a measurement less trustworthy (issue 6, item 3). ``graph_replays``: the timed
    launches were CUDA-graph replays; ``delay_kernel``: a delay kernel queued each chunk ahead of the GPU
    (the result's timing mode says both)."""
    cv_warn = settings.cv_warn
    notes = []
    unstable = sum(1 for r in runs if not r.warmup_stable)
    if unstable:
        notes.append(f"warm-up did not settle in {unstable} of {len(runs)} runs; raise --trtperf-warmup")
    # Robust spread (IQR / median, as torch's adaptive_autorange): a few spikes must not dominate.
    spreads = [float(np.subtract(*np.percentile(r.latencies, [75, 25])) / np.median(r.latencies))
               for r in runs if len(r.latencies) > 3 and np.median(r.latencies) > 0]
    if spreads and float(np.median(spreads)) > cv_warn:
        notes.append(f"high within-run spread: IQR/median {float(np.median(spreads)):.1%} (> {cv_warn:.0%}); "
                     f"a noisy machine: pin cores, lock clocks")
    note = launch_bound_note(runs, graph_replays, delay_kernel)
    if note:
        notes.append(note)
    pooled = [v for r in runs for v in r.latencies]
    on_gpu = any(r.enqueue for r in runs)
    # l2_flush times one cold inference per event pair by design: no advice to batch them
    one_per_pair = settings.iterations_per_sample == 1 and not settings.l2_flush
    if on_gpu and one_per_pair and pooled and float(np.median(pooled)) < SHORT_GPU_INFERENCE_S:
        notes.append(f"short inference ({float(np.median(pooled)) * 1e6:.1f} us): each CUDA-event pair adds ~2-3 us; "
                     f"--trtperf-iterations-per-sample 20 times 20 inferences per pair (medians of means)")
    return notes


def launch_bound_note(runs: Sequence[RunSamples], cuda_graph: bool = False, delay_kernel: bool = False) -> str | None:
    """trtexec's "bound by Enqueue Time" warning: the host enqueues an inference slower than the GPU runs it.

    Without the delay kernel the GPU then waits for the host inside the timed samples ("launch-bound": the
    latency follows the host). With it (``delay_kernel``) the samples are the GPU's, and the note only says
    that back-to-back calls from this host would be host-bound ("host-bound launches")."""
    enqueue_ms = enqueue_median_ms(runs)
    pooled = [v for r in runs for v in r.latencies]
    if enqueue_ms is None or not pooled:
        return None
    gpu_ms = float(np.median(pooled)) * 1e3
    if enqueue_ms <= LAUNCH_BOUND_RATIO * gpu_ms:
        return None
    advice = ("even with CUDA-graph replay" if cuda_graph
              else "--trtperf-cuda-graph on replays a captured graph instead")
    if delay_kernel:
        return (f"host-bound launches: the host took {enqueue_ms:.4f} ms to enqueue each inference vs {gpu_ms:.4f} "
                f"ms on the GPU ({advice}); the latency is still the GPU's (a delay kernel queued each chunk of "
                f"inferences ahead of the GPU), but back-to-back calls from this host would run at the host's pace")
    return (f"launch-bound: the host took {enqueue_ms:.4f} ms to enqueue each inference vs {gpu_ms:.4f} ms on "
            f"the GPU (over {LAUNCH_BOUND_RATIO:.0%}, trtexec's 'bound by Enqueue Time'): the GPU may wait for the "
            f"host, so this latency may follow the host's speed (Python, driver) more than the engine's; {advice}")


def _check_machine(verdict: Verdict, baseline_env: dict[str, Any], candidate_env: dict[str, Any],
                   threshold: float, same_engine: bool = False) -> Verdict:
    """A stored-baseline verdict in the light of the CPU machine probe: a regression the machine's own
    slowdown explains becomes inconclusive (:func:`explained_by_machine`), an improvement its speed-up explains
    a pass (:func:`improvement_explained_by_machine`) or, where it more than explains it, inconclusive
    (:func:`improvement_hides_slowdown`), and a regression of an unchanged engine
    (``same_engine``, and none of :data:`VERSION_KEYS` differs) on a machine that slowed is inconclusive too
    (:func:`slower_machine_only`); a probe that moved by the threshold or more is noted. A paired A/B needs
    none of this (both engines ran in this job, interleaved)."""
    machine = machine_ratio(baseline_env, candidate_env)
    if machine is None or verdict.paired or verdict.ratio is None:
        return verdict
    if not plausible_machine_ratio(machine):  # a disturbed probe vetoes nothing
        return verdict.with_note(machine_note(verdict.ratio, machine, False))
    if verdict.status == Status.IMPROVED:
        # The gate's own note ("consider recording a new baseline") no longer holds: replaced, not appended.
        if improvement_explained_by_machine(verdict.ratio, machine, threshold):
            return replace(verdict, status=Status.PASS, note=machine_note(verdict.ratio, machine, True))
        if improvement_hides_slowdown(verdict.ratio, machine, threshold):
            return replace(verdict, status=Status.INCONCLUSIVE,
                           note=machine_note(verdict.ratio, machine, False, hides=True))
    if verdict.status == Status.REGRESSED:
        if explained_by_machine(verdict.ratio, machine, threshold):
            return replace(verdict, status=Status.INCONCLUSIVE).with_note(machine_note(verdict.ratio, machine, True))
        unchanged = same_engine and all(baseline_env.get(k) == candidate_env.get(k) for k in VERSION_KEYS)
        if unchanged and slower_machine_only(verdict.ratio, machine, threshold):
            return replace(verdict, status=Status.INCONCLUSIVE).with_note(
                machine_note(verdict.ratio, machine, False, unchanged=True))
    if abs(machine - 1.0) >= threshold:
        return verdict.with_note(machine_note(verdict.ratio, machine, False))
    return verdict


def _paired_measure(hook: TimingHook, baseline_engine: Engine) -> MeasurePaired:
    def measure_pair(n: int) -> tuple[list[float], list[float]]:
        base, cand = measure_interleaved(lambda k: baseline_engine.make_workers(hook.inputs, k), hook.make_workers,
                                         hook.streams, hook.plan, n)
        hook.runs.extend(cand)
        return _medians(base), _medians(cand)

    return measure_pair


def _medians(runs: Sequence[RunSamples]) -> list[float]:
    return [float(np.median(r.latencies)) * 1e3 for r in runs]


def judge_case(
    result: CaseResult,
    settings: Settings,
    store: BaselineStore,
    gate: Gate,
    family_size: int,
    hook: TimingHook,
) -> None:
    """Judge the case, re-measuring through ``hook`` when needed; fills result.stats/verdict/outcome."""
    case = result.case
    slug = result.device["slug"]
    result.samples = run_details(hook.runs)
    if hook.probe is not None and hook.probe.per_run_us:  # recorded with the baseline, compared when judged
        result.environment[PROBE_KEY] = hook.probe.to_json()
    warnings = stability_notes(hook.runs, settings, bool(result.timing_mode.get("cuda_graph")),
                               bool(result.timing_mode.get("delay_kernel")))
    entry = store.entry(slug, case.key, lenient=settings.update_baselines)
    replaced = entry_problem(entry) if entry is not None and settings.update_baselines else None
    if entry is None or replaced:
        # Updating replaces a malformed entry instead of failing on it (the advice it gives).
        why = f"malformed baseline entry replaced ({replaced})" if replaced else "no baseline"
        result.stats = summarize(hook.runs, hook.batch).to_json()
        result.verdict = Verdict(Status.NO_BASELINE, note="; ".join([why, *warnings])).to_json()
        if result.outcome != FAILED:
            result.outcome = PASSED
        return
    path = store.path_for(slug)
    baseline = store.run_medians(slug, case.key, entry)
    result.baseline = {"stats": entry["stats"], "recorded_at": entry.get("recorded_at"),
                       "environment": entry.get("environment", {}), "artifact": entry.get("artifact", {}),
                       "file": str(path)}
    difference = timing_mode_difference(entry.get("timing_mode", {}), result.timing_mode)
    if difference:
        result.stats = summarize(hook.runs, hook.batch).to_json()
        result.verdict = Verdict(Status.MISMATCH, note=difference).to_json()
        if not settings.update_baselines:
            result.outcome = FAILED
            result.message = (
                f"{case.key}: the baseline in {path} was measured in another timing mode ({difference}); "
                f"{mismatch_advice(entry.get('timing_mode', {}), result.timing_mode)}."
            )
        return
    params = params_from_settings(settings, family_size)
    more = None
    if not settings.update_baselines:  # updating records; it does not need a decided verdict
        def more(n: int) -> list[float]:
            new = measure(hook.make_workers, hook.streams, replace(hook.plan, runs=n),
                          before_run=hook.probe.sample if hook.probe is not None else None)
            hook.runs.extend(new)
            return _medians(new)

    with ExitStack() as stack:
        paired = None
        first = gate.judge(baseline, _medians(hook.runs), params)
        base_key = str(entry.get("artifact", {}).get("engine_key", ""))
        if (more is not None and settings.paired and first.status in (Status.REGRESSED, Status.INCONCLUSIVE)
                and base_key
                and base_key != result.artifact.get("engine_key")):
            try:
                engine = hook.open_engine(base_key)
            except TrtperfError as exc:
                engine = None
                warnings.append(f"baseline engine {base_key[:12]} could not be loaded for a paired A/B ({exc})")
            except Exception as exc:  # a stale artifact (e.g. another TensorRT version) must not fail the case
                engine = None
                warnings.append(f"baseline engine {base_key[:12]} could not be loaded for a paired A/B "
                                f"({type(exc).__name__}: {exc})")
            if engine is not None:
                stack.enter_context(engine)
                paired = _paired_measure(hook, engine)
            elif not any("paired" in w for w in warnings):
                warnings.append(f"baseline engine {base_key[:12]} is no longer in the cache: no paired A/B")
        adaptive = judge_adaptively(gate, params, baseline, _medians(hook.runs), settings.runs, more, paired,
                                    first=first)
    verdict = adaptive.verdict
    same_engine = bool(base_key) and base_key == result.artifact.get("engine_key")
    if hook.probe is not None and hook.probe.per_run_us:
        result.environment[PROBE_KEY] = hook.probe.to_json()
        verdict = _check_machine(verdict, entry.get("environment", {}), result.environment, settings.threshold,
                                 same_engine)
    if verdict.status == Status.REGRESSED and same_engine:
        # Not paired on purpose: against the same engine a same-job A/B would hide a driver, runtime or
        # machine regression, which only the stored baseline can show. Say where the change must be.
        warnings.append("engine unchanged since the baseline (same artifact): the slowdown comes from the machine "
                        "or the software below the engine (driver, runtime, load, clocks), not from the model")
    # Clock/throttle facts (GPU backends): visible on every verdict, paired or not.
    env_notes = environment_differences(entry.get("environment", {}), result.environment)
    for note in [*env_notes, *warnings]:
        verdict = verdict.with_note(note)
    stats = summarize(hook.runs, hook.batch)
    result.stats = stats.to_json()
    result.samples = run_details(hook.runs)
    result.verdict = verdict.to_json()
    if verdict.paired and adaptive.paired_baseline:  # what the verdict's ratio compares with, for the tables
        result.baseline["paired_median_ms"] = float(np.median(adaptive.paired_baseline))
    if verdict.failed and not settings.update_baselines:
        result.outcome = FAILED
        base_runs = adaptive.paired_baseline if verdict.paired else baseline
        where = "paired A/B: the baseline's engine re-measured in this job" if verdict.paired else "stored baseline"
        result.message = (
            f"{case.key}: latency {verdict.status}: median {stats.median_ms:.4g} ms vs baseline "
            f"{float(np.median(base_runs)):.4g} ms (x{verdict.ratio:.3f}, CI {verdict.ratio_low:.3f}-"
            f"{verdict.ratio_high:.3f}, p {verdict.p_value:.2g}, {verdict.runs_baseline} vs {verdict.runs_candidate} "
            f"runs, {where}; {verdict.note + '; ' if verdict.note else ''}test: {verdict.test}) in {path}. "
            f"If the slowdown is intended, record it with "
            f"`pytest <your suites> -k '{case.model}' --trtperf-update-baselines` (with this run's other "
            f"--trtperf options, e.g. the same --trtperf-baseline-dir)."
        )
    elif result.outcome != FAILED:
        result.outcome = PASSED

