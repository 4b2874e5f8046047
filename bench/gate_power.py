"""Measure the statistical gate on real runs: A/A false alarms and detection of injected slowdowns.

Every comparison times a real engine through trtperf's own timing loop and judges it with the
same code the pytest plugin uses (``trtperf.gate.judge_paired`` / ``judge_adaptively``):

* ``paired`` (same job): baseline and candidate engines interleaved ABBA in this process;
* ``stored``: baseline blocks recorded first by a *separate process* (an "earlier job"), then
  each candidate judged against one of them, with re-measurement and confirmation, as in CI.

A/A = the candidate is the same artifact, loaded separately. A slowdown of x = the candidate's
workers do real extra work inside the timed call: on CPU each inference is followed by a busy
loop (it occupies the core; no sleep) lasting x times that inference's own duration, so the
slowdown stays x even when machine load changes the inference time; on a GPU,
``torch.cuda._sleep`` cycles worth x times the calibrated baseline median are enqueued on the
worker's stream after each inference, inside its CUDA-event window.
Comparisons of all levels are shuffled together so drift during the bench hits every level.

Designs (issue 14, item 5): ``--designs new,old`` judges every level with both the sequential
design of today's defaults (``new``: short looks of ``Settings.runs`` runs, more only while undecided)
and the old defaults (``old``: ``trtperf.config.OLD_DESIGN``), shuffled together in one job, so their
false alarms, detection and seconds per verdict compare side by side. ``--runs``, ``--remeasure``,
``--warmup``, ``--min-time`` and ``--min-iters``, when given, override every design's value.

CPU (this machine)::

    python bench/gate_power.py --backend onnxruntime --model cnn --batch 1 --streams 1 --aa 50 --per-level 20 \\
        --designs new,old --modes paired

GPU (H100/H200, torch backend; same-job and stored-baseline figures)::

    python bench/gate_power.py --backend torch --model cnn --batch 8 --streams 1 --cuda-graph --aa 50 \\
        --slowdowns 0.02:50 --threshold 0.01 --effect-floor 0.005

(a 2 % regression is only "regressed" when the minimum effect is below 2 %: hence --threshold 1 %.)

Results: bench/results/gate_power-<device>-<backend>-<model>.{json,txt}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trtperf.backends import get_backend
from trtperf.cache import ArtifactCache
from trtperf.cases import Case
from trtperf.config import BASELINE_MIN_RUNS, OLD_DESIGN, Settings, default_cache_dir
from trtperf.engine import Engine, Worker
from trtperf.errors import TrtperfUsageError
from trtperf.inputs import make_inputs
from trtperf.prepare import prepare
from trtperf.spec import ModelSpec, find_model
from trtperf.timing.cuda import CudaEventWorker
from trtperf.timing.loop import CallableWorker, TimingPlan, measure
from trtperf.verdict.gate import Adaptive, GateParams, StatisticalGate, judge_adaptively, judge_paired
from trtperf.verdict.paired import measure_interleaved

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def load_spec(name: str) -> ModelSpec:
    """The ModelSpec called ``name`` from suites/test_*.py."""
    try:
        return find_model(sorted((ROOT / "suites").glob("test_*.py")), name)
    except TrtperfUsageError as exc:
        raise SystemExit(str(exc)) from None


@dataclasses.dataclass
class Loaded:
    engine: Engine
    inputs: dict[str, np.ndarray]
    device: dict[str, Any]


def load_engine(args: argparse.Namespace) -> Loaded:
    spec = load_spec(args.model)
    settings = Settings(cache_dir=args.cache_dir, cuda_graph="on" if args.cuda_graph else "off")
    cache = ArtifactCache(args.cache_dir or default_cache_dir())
    backend = get_backend(args.backend, settings)
    reason = backend.unavailable_reason()
    if reason:
        raise SystemExit(f"backend {args.backend} cannot run here: {reason}")
    case = Case(model=spec.name, backend=args.backend, precision=args.precision, batch=args.batch,
                streams=args.streams)
    prepared = prepare(spec, case, settings, cache)
    return Loaded(prepared.load(), make_inputs(spec, args.batch, 0), backend.device().to_json())


# --- injected slowdowns: real extra work inside the timed call ------------------------------------

def _spin_until(deadline: float) -> None:
    """Busy work (not a sleep) until ``perf_counter`` reaches ``deadline``."""
    x = 0
    while time.perf_counter() < deadline:
        for i in range(20):
            x ^= i


def _time_gpu_sleep(cycles: int) -> float:
    """Median seconds between CUDA events around one ``torch.cuda._sleep(cycles)``."""
    import torch

    times = []
    for _ in range(7):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        start.record()
        torch.cuda._sleep(cycles)  # type: ignore[no-untyped-call]
        end.record()
        end.synchronize()
        times.append(float(start.elapsed_time(end)) / 1e3)
    return float(statistics.median(times))


def calibrate_gpu_sleep() -> tuple[float, float]:
    """(fixed seconds per sleep kernel, seconds per cycle): time = fixed + cycles * per_cycle.

    The fixed part (the extra kernel's launch gap, ~2 us on an H100) matters for small models: on
    the H100 run of 2026-11-27, "2 %" measured as 3.6 % on a 0.148 ms inference before it was counted.
    """
    small, large = 1_000, 2_000_000
    t_small, t_large = _time_gpu_sleep(small), _time_gpu_sleep(large)
    per_cycle = (t_large - t_small) / (large - small)
    return max(0.0, t_small - small * per_cycle), per_cycle


class Injector:
    """Wraps a backend's workers so that each inference does ``extra_s`` more real work."""

    def __init__(self) -> None:
        self._sleep: tuple[float, float] | None = None
        self.cycles: dict[float, int] = {}
        """GPU: sleep cycles per injected fraction, set by ``calibrate_injection`` (closed loop)."""

    def gpu_cycles(self, fraction: float, base_median_s: float) -> int:
        """Sleep cycles for ``fraction``: the calibrated count, else the open-loop estimate."""
        if fraction in self.cycles:
            return self.cycles[fraction]
        if self._sleep is None:
            self._sleep = calibrate_gpu_sleep()
        fixed_s, per_cycle_s = self._sleep
        # below the fixed cost: start from one cycle; calibrate_injection reports what it reaches
        return max(1, round((fraction * base_median_s - fixed_s) / per_cycle_s))

    @property
    def per_cycle_s(self) -> float:
        if self._sleep is None:
            self._sleep = calibrate_gpu_sleep()
        return self._sleep[1]

    def wrap(self, workers: Sequence[Worker], fraction: float, base_median_s: float) -> list[Worker]:
        if fraction <= 0:
            return list(workers)
        return [self._wrap_one(w, fraction, base_median_s) for w in workers]

    def _wrap_one(self, worker: Worker, fraction: float, base_median_s: float) -> Worker:
        if isinstance(worker, CallableWorker):
            infer, clock = worker._infer, time.perf_counter

            def slower() -> object:
                t0 = clock()
                out = infer()
                t1 = clock()
                _spin_until(t1 + fraction * (t1 - t0))
                return out

            worker._infer = slower
            return worker
        launch = getattr(worker, "_launch", None)
        if launch is not None and hasattr(worker, "stream"):  # trtperf.timing.cuda.CudaEventWorker
            import torch

            cycles = self.gpu_cycles(fraction, base_median_s)

            def slower_launch() -> None:
                launch()
                torch.cuda._sleep(cycles)  # type: ignore[no-untyped-call]  # on the current stream: the worker's, between its events

            worker._launch = slower_launch  # type: ignore[attr-defined]
            return worker
        raise SystemExit(f"cannot inject a slowdown into a {type(worker).__name__}; teach Injector._wrap_one")


# --- designs -------------------------------------------------------------------------------------

DESIGN_FIELDS = ("runs", "remeasure", "min_time", "min_iters", "warmup")
NEW_DESIGN = {f: getattr(Settings(), f) for f in DESIGN_FIELDS}


@dataclasses.dataclass(frozen=True)
class Design:
    """How a verdict is measured and judged: runs per look, looks, and each run's window."""

    name: str
    step: int
    plan: TimingPlan
    params: GateParams

    @property
    def record_runs(self) -> int:
        """Runs of a recorded baseline block, as the pytest plugin records them (Settings.record_runs)."""
        return max(self.step, BASELINE_MIN_RUNS)

    def describe(self) -> str:
        return (f"{self.name}: {self.step} runs/look, <= {self.params.looks} looks, windows "
                f"{self.plan.warmup_s:g} s warm-up + {self.plan.min_time_s:g} s (>= {self.plan.min_iters} iters), "
                f"alpha/look {self.params.alpha:.2g}")


def make_design(name: str, args: argparse.Namespace) -> Design:
    """``new`` (today's Settings defaults) or ``old`` (OLD_DESIGN); explicit flags override either."""
    presets = {"new": NEW_DESIGN, "old": OLD_DESIGN}
    if name not in presets:
        raise SystemExit(f"unknown design {name!r}; known: {', '.join(presets)}")
    values = dict(presets[name])
    for field in DESIGN_FIELDS:
        given = getattr(args, field)
        if given is not None:
            values[field] = given
    plan = TimingPlan(runs=int(values["runs"]), warmup_s=float(values["warmup"]),
                      min_time_s=float(values["min_time"]), min_iters=int(values["min_iters"]))
    params = GateParams(threshold=args.threshold, floor=args.effect_floor, confidence=args.confidence,
                        looks=1 + int(values["remeasure"]), family_size=1)
    return Design(name, int(values["runs"]), plan, params)


# --- comparisons -----------------------------------------------------------------------------------

def _medians(runs: Sequence[Any]) -> list[float]:
    return [float(np.median(r.latencies)) * 1e3 for r in runs]


@dataclasses.dataclass
class Bench:
    args: argparse.Namespace
    base: Loaded
    cand: Loaded
    plan: TimingPlan
    """Calibration's and warm-up's plan (the first design's windows)."""
    injector: Injector
    base_median_s: float

    def make(self, loaded: Loaded, slowdown: float) -> Callable[[int], list[Worker]]:
        return lambda n: self.injector.wrap(loaded.engine.make_workers(loaded.inputs, n), slowdown,
                                            self.base_median_s)

    def paired(self, design: Design, slowdown: float) -> Adaptive:
        make_a, make_b = self.make(self.base, 0.0), self.make(self.cand, slowdown)

        def measure_pair(n: int) -> tuple[list[float], list[float]]:
            a, b = measure_interleaved(make_a, make_b, self.args.streams, design.plan, n)
            return _medians(a), _medians(b)

        return judge_paired(StatisticalGate(), design.params, measure_pair, design.step)

    def stored(self, design: Design, slowdown: float, baseline: list[float]) -> Adaptive:
        make_b = self.make(self.cand, slowdown)

        def more(n: int) -> list[float]:
            return _medians(measure(make_b, self.args.streams, dataclasses.replace(design.plan, runs=n)))

        first = more(design.step)
        return judge_adaptively(StatisticalGate(), design.params, baseline, first, design.step, more=more)


def calibrate_injection(bench: Bench, levels: Sequence[float], pairs: int = 8,
                        tolerance: float = 0.001) -> dict[float, dict[str, Any]]:
    """GPU: adjust each level's sleep cycles until the measured slowdown is the nominal one.

    The open-loop estimate (fixed kernel cost + cycles x seconds per cycle, timed outside the
    model) misses how the extra kernel overlaps the inference's tail and the event gaps; so the
    slowdown is measured the way the gate will see it (interleaved runs of the unmodified engine
    and the slowed one, ratio of run medians) and the cycles corrected, at most 4 times, until it
    is within ``tolerance`` of nominal. Returns, per level, the cycles and the slowdown measured.
    """
    report: dict[float, dict[str, Any]] = {}
    (probe,) = bench.base.engine.make_workers(bench.base.inputs, 1)
    probe.close()
    if not isinstance(probe, CudaEventWorker):
        return report  # CPU: the busy loop is relative to each inference, no calibration needed
    injector, per_cycle_s = bench.injector, bench.injector.per_cycle_s
    for level in levels:
        cycles = injector.gpu_cycles(level, bench.base_median_s)
        history = []
        for _ in range(4):
            injector.cycles[level] = cycles
            a, b = measure_interleaved(bench.make(bench.base, 0.0), bench.make(bench.cand, level),
                                       bench.args.streams, bench.plan, pairs)
            base_ms, slow_ms = statistics.median(_medians(a)), statistics.median(_medians(b))
            measured = slow_ms / base_ms - 1
            history.append({"cycles": cycles, "measured": measured})
            if abs(measured - level) <= tolerance:
                break
            if cycles == 1 and measured > level:
                break  # one sleep kernel alone is more than the level: reported as measured
            # extra time is linear in the cycles; correct by the shortfall, in cycles
            cycles = max(1, cycles + round((level - measured) * base_ms / 1e3 / per_cycle_s))
        report[level] = {"cycles": injector.cycles[level], "measured": history[-1]["measured"], "history": history}
        print(f"calibrated +{level:.1%}: {injector.cycles[level]} cycles, measured +{history[-1]['measured']:.2%} "
              f"({len(history)} tries)", flush=True)
    return report


def record_blocks(args: argparse.Namespace, designs: Sequence[Design]) -> dict[str, list[list[float]]]:
    """Per design, baseline blocks of ``record_runs`` run medians each (the 'earlier job'), in that
    design's windows; the designs' blocks alternate so drift hits both."""
    loaded = load_engine(args)
    make = lambda n: loaded.engine.make_workers(loaded.inputs, n)  # noqa: E731
    blocks: dict[str, list[list[float]]] = {d.name: [] for d in designs}
    for _ in range(args.baseline_blocks):
        for d in designs:
            blocks[d.name].append(_medians(measure(make, args.streams,
                                                   dataclasses.replace(d.plan, runs=d.record_runs))))
    return blocks


def _rate_ci(k: int, n: int) -> tuple[float, float]:
    from scipy import stats

    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(ci.low), float(ci.high)


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    keys = sorted({(r.get("design", "args"), r["mode"], r["slowdown"]) for r in records})
    for design, mode, slowdown in keys:
        rs = [r for r in records if r.get("design", "args") == design and r["mode"] == mode
              and r["slowdown"] == slowdown]
        counts = {s: sum(1 for r in rs if r["status"] == s) for s in ("regressed", "inconclusive", "pass", "improved")}
        low, high = _rate_ci(counts["regressed"], len(rs))
        rows.append({
            "design": design, "mode": mode, "slowdown": slowdown, "n": len(rs), **counts,
            "regressed_rate": counts["regressed"] / len(rs), "rate_ci95": [low, high],
            "median_ratio": statistics.median(r["ratio"] for r in rs),
            "median_seconds": statistics.median(r["seconds"] for r in rs),
            "mean_seconds": statistics.fmean(r["seconds"] for r in rs),
            "max_seconds": max(r["seconds"] for r in rs),
            "median_runs_per_side": statistics.median(r["runs_candidate"] for r in rs),
        })
    return rows


def render(rows: list[dict[str, Any]], header: str) -> str:
    lines = [header, "",
             f"{'design':<6} {'mode':<7} {'inject':>6} {'n':>4} {'regr':>5} {'rate':>6} {'95% CI':>15} {'inconc':>6} "
             f"{'pass':>5} {'impr':>5} {'ratio':>6} {'s/verdict':>9} {'mean s':>6} {'max s':>6} {'runs':>5}"]
    for r in rows:
        lines.append(
            f"{r['design']:<6} {r['mode']:<7} {r['slowdown']:>6.0%} {r['n']:>4} {r['regressed']:>5} "
            f"{r['regressed_rate']:>6.1%} {r['rate_ci95'][0]:>7.1%}-{r['rate_ci95'][1]:<7.1%} {r['inconclusive']:>6} "
            f"{r['pass']:>5} {r['improved']:>5} {r['median_ratio']:>6.3f} {r['median_seconds']:>9.2f} "
            f"{r['mean_seconds']:>6.2f} {r['max_seconds']:>6.1f} {r['median_runs_per_side']:>5.0f}")
    lines.append("")
    lines.append("rate = share of comparisons judged REGRESSED (A/A: false alarms; injected: detection); "
                 "ratio = median ratio of run medians; s/verdict = median wall seconds per verdict (measuring "
                 "and judging, re-measurement and confirmation included), mean s its mean; runs = candidate "
                 "runs per side (median).")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", default="run", choices=["run", "record"])
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--model", default="cnn")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--streams", type=int, default=1)
    p.add_argument("--modes", default="paired,stored")
    p.add_argument("--aa", type=int, default=50, help="A/A comparisons per mode (default 50)")
    p.add_argument("--per-level", type=int, default=30, help="comparisons per injected slowdown and mode")
    p.add_argument("--slowdowns", default="0.02,0.05,0.10,0.20",
                   help="injected slowdowns, each 'x' (--per-level comparisons) or 'x:n' (n comparisons)")
    p.add_argument("--designs", default="new", help="comma-separated: new (today's defaults: sequential "
                   "looks), old (the defaults before issue 14 item 5); default new")
    p.add_argument("--runs", type=int, default=None, help="runs per side per look (default: the design's)")
    p.add_argument("--baseline-blocks", type=int, default=10, help="stored mode: baselines recorded by the earlier job")
    p.add_argument("--warmup", type=float, default=None, help="per run (default: the design's)")
    p.add_argument("--min-time", type=float, default=None, help="per run (default: the design's)")
    p.add_argument("--min-iters", type=int, default=None, help="per run (default: the design's)")
    p.add_argument("--threshold", type=float, default=0.05)
    p.add_argument("--effect-floor", type=float, default=0.01)
    p.add_argument("--confidence", type=float, default=0.99)
    p.add_argument("--remeasure", type=int, default=None, help="extra looks (default: the design's)")
    p.add_argument("--cuda-graph", action="store_true", help="GPU backends: time CUDA-graph replays")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None, help="output stem (default bench/results/gate_power-...)")
    p.add_argument("--blocks-file", type=Path, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def parse_levels(text: str, default_count: int) -> dict[float, int]:
    """'0.02:50,0.05' -> {0.02: 50, 0.05: default_count}."""
    counts: dict[float, int] = {}
    for item in (x.strip() for x in text.split(",")):
        if item:
            level, _, n = item.partition(":")
            counts[float(level)] = int(n) if n else default_count
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    designs = [make_design(name.strip(), args) for name in args.designs.split(",") if name.strip()]
    if args.command == "record":
        args.blocks_file.write_text(json.dumps(record_blocks(args, designs)))
        return 0
    modes = [m for m in args.modes.split(",") if m]
    counts = parse_levels(args.slowdowns, args.per_level)
    levels = list(counts)
    started = time.time()
    load_before = os.getloadavg()
    blocks: dict[str, list[list[float]]] = {}
    if "stored" in modes:  # the earlier job: a separate process records the baselines first
        blocks_file = Path(f"/tmp/gate_power_blocks_{os.getpid()}.json")
        cmd = [sys.executable, __file__, "record", "--blocks-file", str(blocks_file)] + [
            a for a in (argv if argv is not None else sys.argv[1:]) if a not in ("run", "record")]
        subprocess.run(cmd, check=True)
        blocks = json.loads(blocks_file.read_text())
        blocks_file.unlink()
    base, cand = load_engine(args), load_engine(args)
    plan = designs[0].plan
    warm = measure(lambda n: base.engine.make_workers(base.inputs, n), args.streams,
                   dataclasses.replace(plan, runs=3))
    base_median_s = statistics.median(_medians(warm)) / 1e3
    bench = Bench(args, base, cand, plan, Injector(), base_median_s)
    calibration = calibrate_injection(bench, levels)
    jobs = [(d, mode, 0.0) for d in designs for mode in modes for _ in range(args.aa)]
    jobs += [(d, mode, x) for d in designs for mode in modes for x, n in counts.items() for _ in range(n)]
    random.Random(args.seed).shuffle(jobs)
    records: list[dict[str, Any]] = []
    slug = f"{base.device['slug']}-{args.backend}-{args.model}-b{args.batch}-s{args.streams}"
    stem = args.out or RESULTS / f"gate_power-{slug}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    for index, (design, mode, slowdown) in enumerate(jobs):
        t0 = time.perf_counter()
        if mode == "paired":
            out = bench.paired(design, slowdown)
        else:
            mine = blocks[design.name]
            out = bench.stored(design, slowdown, mine[index % len(mine)])
        seconds = time.perf_counter() - t0
        v = out.verdict
        records.append({"design": design.name, "mode": mode, "slowdown": slowdown, "status": v.status,
                        "ratio": v.ratio, "low": v.ratio_low, "high": v.ratio_high, "p": v.p_value, "looks": v.looks,
                        "runs_baseline": v.runs_baseline, "runs_candidate": v.runs_candidate,
                        "seconds": seconds, "note": v.note})
        print(f"[{index + 1}/{len(jobs)}] {design.name:<4} {mode:<6} +{slowdown:.0%}: {v.status:<12} x{v.ratio:.3f} "
              f"[{v.ratio_low:.3f}, {v.ratio_high:.3f}] runs {v.runs_baseline}/{v.runs_candidate} looks {v.looks} "
              f"{seconds:.2f}s", flush=True)
        if index % 10 == 9 or index == len(jobs) - 1:  # partial results survive an interrupted bench
            write_outputs(stem, args, designs, base, base_median_s, records, load_before, started,
                          done=index == len(jobs) - 1, calibration=calibration)
    return 0


def write_outputs(stem: Path, args: argparse.Namespace, designs: Sequence[Design], base: Loaded,
                  base_median_s: float, records: list[dict[str, Any]], load_before: tuple[float, float, float],
                  started: float, done: bool, calibration: dict[float, dict[str, Any]] | None = None) -> None:
    rows = summarize(records)
    header = (f"gate_power: {args.backend} {args.model} b{args.batch} s{args.streams} on {base.device['name']} "
              f"({os.cpu_count()} logical cores); baseline median {base_median_s * 1e3:.4f} ms; "
              f"threshold {args.threshold:.1%}, floor {args.effect_floor:.1%}, confidence {args.confidence} "
              f"(one case); "
              f"designs: {'; '.join(d.describe() for d in designs)}; "
              f"modes {args.modes} (stored: {args.baseline_blocks} baselines per design from a separate earlier "
              f"process); load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}; "
              f"{time.time() - started:.0f} s total")
    if calibration:
        header += "; injection calibrated to " + ", ".join(
            f"+{level:.0%} -> measured +{c['measured']:.2%} ({c['cycles']} sleep cycles)"
            for level, c in sorted(calibration.items()))
    text = render(rows, header)
    meta = {"args": {k: str(v) for k, v in vars(args).items()}, "device": base.device, "python": sys.version,
            "platform": platform.platform(), "base_median_ms": base_median_s * 1e3,
            "designs": {d.name: {"step": d.step, "plan": dataclasses.asdict(d.plan),
                                 "params": dataclasses.asdict(d.params)} for d in designs},
            "injection_calibration": {str(k): v for k, v in (calibration or {}).items()},
            "load_average": [load_before, os.getloadavg()], "seconds": time.time() - started}
    Path(f"{stem}.json").write_text(json.dumps({"meta": meta, "summary": rows, "comparisons": records},
                                               indent=1, sort_keys=True) + "\n")
    Path(f"{stem}.txt").write_text(text if done else "PARTIAL (bench still running)\n" + text)
    if done:
        print(text)


if __name__ == "__main__":
    sys.exit(main())
