"""Measurement fidelity on a GPU: is trtperf's reported latency the latency of the engine?

For every suite model, batch and GPU backend available here (torch, torch_compile; tensorrt
when its backend runs here), the same callable that trtperf's worker times (``worker.launch``)
is measured again, in the same process, by an independent method, and the ratio is printed:

- warm: trtperf with default settings (median of per-iteration CUDA events in the shared
  loop; CUDA graphs where capture works and the delay kernel, issue 14) vs CUDA events around N
  back-to-back calls (per-call median over reps), the N calls queued behind a GPU delay kernel
  first so the GPU runs them back to back whatever the host's speed (the engine's GPU time).
- nodelay: as warm, trtperf without its delay kernel (the default before issue 14): on a
  launch-bound row the events then time the host, and the ratio shows by how much.
- cold: trtperf with ``l2_flush`` vs ``triton.testing.do_bench`` (zeroes 256 MB before each call).
- graph: trtperf with ``cuda_graph`` (replay of the captured inference) vs CUDA events around N
  back-to-back replays of the same graph.
- graph-k: as graph, with ``iterations_per_sample`` = 20 (20 replays per event pair).

Each round measures independent, trtperf, independent again (I T I: linear drift cancels), for
``--rounds`` rounds; the ratio is the median over rounds of trtperf / mean(I, I), and its min..max
shows the noise. The two independent measurements of a round also give a control ratio, I2 / I1:
the same method against itself. Where the control spreads as widely as trtperf's ratio, the
deviation is the machine's noise, not trtperf's bias. A row is launch-bound when the host takes
longer to enqueue one call than the GPU takes to run it: its latency is then the host's enqueue
speed (Python and driver calls), not the GPU's, and it moves with the host's load.

Goal: every ratio within 0.98..1.02. Also measured: the host overhead per iteration of
trtperf's loop (events + bookkeeping, with an empty launch), the GPU time of an empty event
pair, and the host time to enqueue one call (above the GPU time = launch-bound).

A second part ("features") runs the full pipeline (``CaseRunner``: export, parity against
ONNX Runtime, timing, GPU clocks) for precisions, streams, e2e, CUDA graphs and L2 flush of
the torch backends, so each GPU feature is exercised for real at least once.

Usage (GPU machine): ``python bench/fidelity.py --out DIR [--cache-dir DIR] [--backends ...]``.
Writes DIR/fidelity.json and DIR/fidelity.txt. Needs a CUDA GPU and triton.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trtperf.backends import get_backend  # noqa: E402
from trtperf.backends.base import Backend  # noqa: E402
from trtperf.cache import ArtifactCache  # noqa: E402
from trtperf.cases import Case  # noqa: E402
from trtperf.config import Settings  # noqa: E402
from trtperf.engine import Engine  # noqa: E402
from trtperf.inputs import make_inputs  # noqa: E402
from trtperf.prepare import prepare  # noqa: E402
from trtperf.spec import ModelSpec, load_suite  # noqa: E402
from trtperf.timing.loop import TimingPlan, measure  # noqa: E402
from trtperf.timing.stats import summarize  # noqa: E402

PLAN = TimingPlan(runs=2, warmup_s=0.1, min_time_s=0.2, min_iters=50)
ROUNDS = 5
INDEPENDENT_S = 0.2
"""Seconds of calls per independent warm measurement (trtperf's PLAN times about 0.4 s)."""
BLOCK = 20
MODES: dict[str, dict[str, Any]] = {"warm": {}, "nodelay": {"delay_kernel": False}, "cold": {"l2_flush": True},
                                    "graph": {"cuda_graph": "on"},
                                    "graph-k": {"cuda_graph": "on", "iterations_per_sample": BLOCK}}
TARGET = (0.98, 1.02)
GOAL = (0.99, 1.01)
"""Issue 14: reported latency / independent measurement on GPU-bound real-size cases."""


def suite_specs(suites: Path) -> Iterator[ModelSpec]:
    """The models of a suite file, or of every ``test_*.py`` in a folder."""
    for path in [suites] if suites.is_file() else sorted(suites.glob("test_*.py")):
        yield from load_suite(path)


def blocked_ms(fn: Callable[[], object], stream: Any, per_call_guess_ms: float, reps: int = 10) -> float:
    """Independent warm measurement: events around N back-to-back calls (no per-call events).

    About ``INDEPENDENT_S`` of calls in ``reps`` blocks, the median block's per-call time: as much
    data as trtperf's side gets, so a host hiccup weighs the same on both sides. Each block is
    queued behind ``torch.cuda._sleep`` lasting twice the host's time to enqueue it (measured), so the
    GPU runs the block back to back even where the host enqueues slower than the GPU runs.
    """
    import torch

    from trtperf.timing.cuda import sleep_cycles_per_second

    per_rep_ms = INDEPENDENT_S * 1e3 / reps
    calls = max(20, min(20000, int(per_rep_ms / max(per_call_guess_ms, 1e-3))))
    per_call = []
    with torch.cuda.device(stream.device), torch.cuda.stream(stream):
        for _ in range(10):
            fn()
        stream.synchronize()
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        host_s = time.perf_counter() - t0
        stream.synchronize()
        cycles = int(2 * host_s * sleep_cycles_per_second(stream.device.index or 0)) + 1
        for _ in range(reps):
            torch.cuda._sleep(cycles)  # type: ignore[no-untyped-call]
            start = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            start.record(stream)
            for _ in range(calls):
                fn()
            end.record(stream)
            end.synchronize()
            per_call.append(start.elapsed_time(end) / calls)
    return float(statistics.median(per_call))


def do_bench_ms(fn: Callable[[], object], stream: Any) -> float:
    """Independent cold measurement: Triton's do_bench (flushes L2 before every call), on ``stream``."""
    import torch
    import triton.testing

    with torch.cuda.device(stream.device), torch.cuda.stream(stream):
        return float(triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median"))


def host_enqueue_us(fn: Callable[[], object], stream: Any, calls: int = 200) -> float:
    """Host time to enqueue one call (before any synchronize), microseconds."""
    import torch

    with torch.cuda.device(stream.device), torch.cuda.stream(stream):
        for _ in range(5):
            fn()
        stream.synchronize()
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        host = time.perf_counter() - t0
        stream.synchronize()
    return host / calls * 1e6


def loop_overhead(device_index: int) -> dict[str, float]:
    """trtperf's loop with an empty launch: host cost per iteration, GPU time of an event pair."""
    import torch

    from trtperf.timing.cuda import CudaEventWorker

    with torch.cuda.device(device_index):
        worker = CudaEventWorker(lambda: None, torch.cuda.Stream())  # type: ignore[no-untyped-call]
        worker.run(200)
        n = 5000
        t0 = time.perf_counter()
        gpu = worker.run(n)
        host = time.perf_counter() - t0
        worker.close()
    return {"host_us_per_iteration": host / n * 1e6, "gpu_us_empty_event_pair": statistics.median(gpu) * 1e6}


def trtperf_ms(engine: Engine, inputs: dict[str, Any], batch: int) -> float:
    runs = measure(lambda n: engine.make_workers(inputs, n), 1, PLAN)
    return summarize(runs, batch).median_ms


def fidelity_rows(specs: list[ModelSpec], backends: list[str], cache: ArtifactCache, base: Settings,
                  log: Callable[[str], None], rounds: int = ROUNDS, modes: tuple[str, ...] = tuple(MODES),
                  batches: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for spec in specs:
        for name in backends:
            backend: Backend = get_backend(name, base)
            reason = backend.unavailable_reason() or backend.precision_unsupported("fp32")
            if reason is None and backend.device().kind != "gpu":
                reason = "not on a GPU here"
            if reason:
                log(f"skip {spec.name} {name}: {reason}")
                continue
            for batch in spec.batches:
                if batches and batch not in batches:
                    continue
                inputs = make_inputs(spec, batch, base.seed)
                row: dict[str, Any] = {"model": spec.name, "backend": name, "precision": "fp32", "batch": batch}
                for mode in modes:
                    overrides = MODES[mode]
                    settings = dataclasses.replace(base, **overrides)
                    case = Case(spec.name, name, "fp32", batch, 1)
                    try:
                        prepared = prepare(spec, case, settings, cache)
                        ours_all, theirs_all, ratios, controls = [], [], [], []
                        method = "triton do_bench (L2 flushed)" if mode == "cold" else "events around N calls"
                        with prepared.load() as engine:
                            guess = trtperf_ms(engine, inputs, batch)  # also warms the engine up
                            for _ in range(rounds):  # I T I per round
                                (worker,) = engine.make_workers(inputs, 1)
                                launch, stream = worker.launch, worker.stream  # type: ignore[attr-defined]

                                def independent() -> float:
                                    return (do_bench_ms(launch, stream) if mode == "cold"  # noqa: B023
                                            else blocked_ms(launch, stream, guess))  # noqa: B023

                                try:
                                    before = independent()
                                finally:
                                    worker.close()
                                ours = trtperf_ms(engine, inputs, batch)
                                (worker,) = engine.make_workers(inputs, 1)
                                launch, stream = worker.launch, worker.stream  # type: ignore[attr-defined]
                                try:
                                    after = independent()
                                    if mode == "warm" and "host_enqueue_us" not in row:
                                        row["host_enqueue_us"] = host_enqueue_us(launch, stream)
                                finally:
                                    worker.close()
                                theirs = (before + after) / 2
                                ours_all.append(ours)
                                theirs_all.append(theirs)
                                ratios.append(ours / theirs)
                                controls.append(after / before)
                        row[mode] = {"trtperf_ms": statistics.median(ours_all),
                                     "independent_ms": statistics.median(theirs_all),
                                     "ratio": statistics.median(ratios), "ratio_min": min(ratios),
                                     "ratio_max": max(ratios), "rounds": ratios, "method": method,
                                     "control": statistics.median(controls), "control_min": min(controls),
                                     "control_max": max(controls), "control_rounds": controls}
                    except Exception as exc:
                        row[mode] = {"error": f"{type(exc).__name__}: {exc}"}
                        log(traceback.format_exc())
                    log(f"{spec.name:12s} {name:14s} b{batch:<3d} {mode:5s} {_fmt(row[mode])}")
                # Launch-bound: the host needs longer to enqueue one call than the GPU needs to run
                # it (the GPU time of the work is the graph replay's).
                gpu_ms = (row.get("graph", {}).get("independent_ms") or row.get("warm", {}).get("independent_ms"))
                if gpu_ms is not None and "host_enqueue_us" in row:
                    row["launch_bound"] = row["host_enqueue_us"] >= gpu_ms * 1e3
                rows.append(row)
    return rows


def _fmt(cell: dict[str, Any]) -> str:
    if "error" in cell:
        return f"ERROR {cell['error'][:80]}"
    flag = "" if TARGET[0] <= cell["ratio"] <= TARGET[1] else "  <-- outside 0.98..1.02"
    control = (f"  control {cell['control']:.4f} ({cell['control_min']:.3f}..{cell['control_max']:.3f})"
               if "control" in cell else "")
    return f"trtperf {cell['trtperf_ms']:.4f} ms  independent {cell['independent_ms']:.4f} ms  " \
           f"ratio {cell['ratio']:.4f} ({cell['ratio_min']:.3f}..{cell['ratio_max']:.3f}){control}{flag}"


FEATURE_CASES: list[tuple[str, str, int, dict[str, Any]]] = [
    # (backend, precision, streams, settings overrides)
    *[(b, p, 1, {}) for b in ("torch", "torch_compile") for p in ("fp32", "tf32", "fp16", "bf16")],
    ("torch", "fp16", 2, {}),
    ("torch_compile", "fp16", 2, {}),
    ("torch", "fp16", 1, {"cuda_graph": "on"}),
    ("torch_compile", "fp16", 2, {"cuda_graph": "on"}),
    ("torch", "fp16", 1, {"l2_flush": True}),
    ("torch", "fp16", 1, {"timing_mode": "e2e"}),
    ("torch_compile", "bf16", 1, {"timing_mode": "e2e", "cuda_graph": "on"}),
]


def feature_rows(specs: list[ModelSpec], base: Settings, baseline_dir: Path,
                 log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Full pipeline (parity included) over the GPU features of the torch backends."""
    from trtperf.pipeline import CaseRunner

    rows = []
    for spec in specs:
        batch = max(spec.batches)
        wide = dataclasses.replace(spec, precisions=("fp32", "tf32", "fp16", "bf16"), streams=(1, 2))
        for backend, precision, streams, overrides in FEATURE_CASES:
            settings = dataclasses.replace(base, **overrides)
            runner = CaseRunner(settings, baseline_dir)
            case = Case(spec.name, backend, precision, batch, streams)
            started = time.perf_counter()
            try:
                result = runner.run(wide, case)
                stats = result.stats or {}
                parity = result.parity or {}
                worst = max((o.get("max_abs", 0.0) for o in parity.get("outputs", [])), default=None)
                row = {"case": case.key, "settings": overrides, "outcome": result.outcome,
                       "message": result.message[:300], "median_ms": stats.get("median_ms"),
                       "p99_ms": stats.get("p99_ms"), "throughput": stats.get("throughput"),
                       "parity_passed": parity.get("passed"), "parity_max_abs": worst,
                       "timing_mode": result.timing_mode, "build": result.build,
                       "gpu_clocks": result.environment.get("gpu_clocks"), "notes": result.notes}
            except Exception as exc:
                row = {"case": case.key, "settings": overrides, "outcome": "error",
                       "message": f"{type(exc).__name__}: {exc}"}
                log(traceback.format_exc())
            row["wall_s"] = time.perf_counter() - started
            rows.append(row)
            log(f"{row['case']:36s} {json.dumps(overrides):42s} {row['outcome']:7s} "
                f"median {row.get('median_ms')} ms  parity {row.get('parity_max_abs')}  "
                f"{str(row.get('message', ''))[:120]}")
    return rows


def render(document: dict[str, Any]) -> str:
    modes = tuple(document.get("modes", MODES))
    lines = [f"trtperf measurement fidelity on {document['device']['name']} "
             f"(driver {document['device']['facts'].get('driver')}, torch {document['torch']}, "
             f"triton {document['triton']}), {document['created']}",
             f"trtperf plan: {document['plan']}; {document.get('rounds', 3)} rounds per mode",
             "",
             "loop overhead (empty launch): host {host_us_per_iteration:.2f} us/iteration, "
             "GPU {gpu_us_empty_event_pair:.2f} us per empty event pair".format(**document["loop_overhead"]),
             "",
             "ratio = trtperf / independent, median of rounds (min..max); ms = trtperf's median; "
             "enqueue = host us to enqueue one eager/compiled call;",
             "control (table below) = the independent method against itself in the same rounds (I2 / I1)",
             f"{'model':12s} {'backend':14s} {'batch':>5s} {'bound':7s} | "
             + " | ".join(f"{m + ' ratio':>25s} {m + ' ms':>11s}" for m in modes) + f" | {'enqueue us':>10s}"]
    for row in document["fidelity"]:
        cells = []
        for mode in modes:
            cell = row.get(mode, {})
            if "ratio" not in cell:
                cells.append(f"{'error':>25s} {'-':>11s}")
            else:
                ratio = f"{cell['ratio']:.4f} ({cell['ratio_min']:.3f}..{cell['ratio_max']:.3f})"
                cells.append(f"{ratio:>25s} {cell['trtperf_ms']:>11.4f}")
        enqueue = row.get("host_enqueue_us")
        bound = {True: "launch", False: "gpu"}.get(row.get("launch_bound"), "?")  # type: ignore[call-overload]
        lines.append(f"{row['model']:12s} {row['backend']:14s} {row['batch']:5d} {bound:7s} | " + " | ".join(cells)
                     + f" | {'-' if enqueue is None else f'{enqueue:.1f}':>10s}")

    def tally(label: str, keep: Callable[[dict[str, Any], str], bool]) -> str:
        ratios = [row[m]["ratio"] for row in document["fidelity"] for m in modes
                  if "ratio" in row.get(m, {}) and keep(row, m)]
        if not ratios:
            return f"{label}: none"
        inside = sum(TARGET[0] <= r <= TARGET[1] for r in ratios)
        tight = sum(GOAL[0] <= r <= GOAL[1] for r in ratios)
        return (f"{label}: {tight} of {len(ratios)} within {GOAL[0]}..{GOAL[1]} (issue 14's goal), {inside} within "
                f"{TARGET[0]}..{TARGET[1]}; min {min(ratios):.4f}, "
                f"max {max(ratios):.4f}, median {statistics.median(ratios):.4f}")

    lines += ["", "control: independent method vs itself, median of rounds (min..max)",
              f"{'model':12s} {'backend':14s} {'batch':>5s} | " + " | ".join(f"{m:>25s}" for m in modes)]
    for row in document["fidelity"]:
        cells = []
        for mode in modes:
            cell = row.get(mode, {})
            text = (f"{cell['control']:.4f} ({cell['control_min']:.3f}..{cell['control_max']:.3f})"
                    if "control" in cell else "-")
            cells.append(f"{text:>25s}")
        lines.append(f"{row['model']:12s} {row['backend']:14s} {row['batch']:5d} | " + " | ".join(cells))

    def spread(cell: dict[str, Any], low: str, high: str) -> float:
        return float(cell[high] / cell[low])

    graph = ("graph", "graph-k")
    lines += ["",
              tally("all ratios", lambda r, m: True),
              tally("GPU-bound (graph replays, or eager rows not launch-bound)",
                    lambda r, m: m in graph or r.get("launch_bound") is False),
              tally("launch-bound eager/compiled rows", lambda r, m: m not in graph and r.get("launch_bound") is True),
              tally("graph-k (20 replays per event pair)", lambda r, m: m == "graph-k"),
              tally("tensorrt rows", lambda r, m: r["backend"] == "tensorrt"),
              tally("rows whose control (method vs itself) spans under 4 %",
                    lambda r, m: "control" in r[m] and spread(r[m], "control_min", "control_max") < 1.04),
              tally("rows whose control spans 4 % or more (the machine's noise exceeds the goal)",
                    lambda r, m: "control" in r[m] and spread(r[m], "control_min", "control_max") >= 1.04)]
    lines += ["", "features (full pipeline: parity vs ONNX Runtime, timing, GPU clocks):"]
    for row in document["features"]:
        median = row.get("median_ms")
        clocks = row.get("gpu_clocks") or {}
        lines.append(f"  {row['case']:38s} {json.dumps(row['settings']):44s} {row['outcome']:7s} "
                     f"median {'-' if median is None else f'{median:.4f}'} ms  "
                     f"parity max|err| {row.get('parity_max_abs')}  "
                     f"SM {clocks.get('sm_mhz_min')}-{clocks.get('sm_mhz_max')} MHz throttled={clocks.get('throttled')}"
                     + (f"  {row['message'][:160]}" if row.get("message") else ""))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/trtperf-fidelity-cache"))
    parser.add_argument("--backends", default="torch,torch_compile,tensorrt")
    parser.add_argument("--no-features", action="store_true")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"I T I rounds per mode (default {ROUNDS})")
    parser.add_argument("--models", default="", help="comma-separated suite model names (default: all)")
    parser.add_argument("--suite", type=Path, default=ROOT / "suites",
                        help="a suite file or folder (default suites/; the zoo: suites/zoo/test_zoo.py)")
    parser.add_argument("--batches", default="", help="comma-separated batch sizes (default: each model's)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("bench/fidelity.py needs a CUDA GPU; none is visible to torch here.", file=sys.stderr)
        return 2
    import triton

    args.out.mkdir(parents=True, exist_ok=True)
    log_file = (args.out / "fidelity.log").open("w")

    def log(text: str) -> None:
        print(text, flush=True)
        log_file.write(text + "\n")
        log_file.flush()

    base = Settings(cache_dir=args.cache_dir)
    cache = ArtifactCache(args.cache_dir)
    wanted = {m for m in args.models.split(",") if m}
    specs = [s for s in suite_specs(args.suite) if not wanted or s.name in wanted]
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown --modes {unknown}; choose from {', '.join(MODES)}")
    batches = tuple(int(b) for b in args.batches.split(",") if b)
    names = [b for b in args.backends.split(",") if b]
    known = [b for b in names if _known(b, log)]
    device = get_backend("torch").device()
    document: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": device.to_json(),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "plan": dataclasses.asdict(PLAN),
        "loop_overhead": loop_overhead(torch.cuda.current_device()),
    }
    log(f"loop overhead: {document['loop_overhead']}")
    document["rounds"] = args.rounds
    document["modes"] = list(modes)
    document["fidelity"] = fidelity_rows(specs, known, cache, base, log, args.rounds, modes, batches)
    document["features"] = [] if args.no_features else feature_rows(specs, base, args.out / "baselines-scratch", log)
    (args.out / "fidelity.json").write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    text = render(document)
    (args.out / "fidelity.txt").write_text(text)
    print(text)
    return 0


def _known(name: str, log: Callable[[str], None]) -> bool:
    try:
        get_backend(name)
    except Exception as exc:
        log(f"backend {name} not usable here: {type(exc).__name__}: {exc}")
        return False
    return True


if __name__ == "__main__":
    raise SystemExit(main())
