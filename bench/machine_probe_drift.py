"""Does trtperf's CPU machine probe follow this machine's drift? (trtperf/timing/machine_probe.py)

For ``--seconds``, alternately: the probe (``probe_us``), then the median latency of 30 inferences of
an example suite's model on ONNX Runtime (one session, batch ``--batch``). Then, over every pair of
windows of ``--window`` samples at least 40 samples apart (as a baseline and a later rerun would be):
how the log ratio of the model's window medians follows the probe's (correlation, slope), and how much
of the ratio's spread dividing by the probe removes. A probe that follows the drift has slope ~1 and
a smaller spread after dividing.

    python bench/machine_probe_drift.py                      # the example cnn (fp32 export), b1, 200 s
    python bench/machine_probe_drift.py --suite suites/test_mlp.py --batch 32 --seconds 120

Results: bench/results/machine_probe_drift-<device>-<model>-b<batch>.txt
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from trtperf.cache import ArtifactCache
from trtperf.device import cpu_device
from trtperf.export import export_cached
from trtperf.inputs import make_inputs
from trtperf.spec import ModelSpec
from trtperf.timing.machine_probe import WORKLOAD, probe_us

ROOT = Path(__file__).resolve().parents[1]


def load_spec(suite: Path) -> ModelSpec:
    module_spec = importlib.util.spec_from_file_location(suite.stem, suite)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    specs = [v for v in vars(module).values() if isinstance(v, ModelSpec)]
    if not specs:
        raise SystemExit(f"{suite}: no trtperf model declared at module level")
    return specs[0]


def window_pairs(model: np.ndarray, probe: np.ndarray, window: int, gap: int = 40) -> np.ndarray:
    """(model ratio, probe ratio) of window medians for every pair of windows ``gap`` samples apart or more."""
    starts = range(0, len(model) - window, max(1, window // 2))
    pairs = [(np.median(model[j:j + window]) / np.median(model[i:i + window]),
              np.median(probe[j:j + window]) / np.median(probe[i:i + window]))
             for i in starts for j in starts if abs(i - j) >= gap]
    return np.asarray(pairs, dtype=np.float64)


def main() -> int:
    import onnxruntime as ort

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", type=Path, default=ROOT / "suites" / "test_cnn.py")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seconds", type=float, default=200.0)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--onnx", type=Path, default=None, help="time this ONNX file (e.g. a cached int8 engine of the "
                   "suite's model) instead of the suite model's fp32 export; its inputs are the suite model's")
    p.add_argument("--label", default="", help="added to the result file name (e.g. int8)")
    args = p.parse_args()
    spec = load_spec(args.suite)
    label = args.label or "fp32"
    with tempfile.TemporaryDirectory() as tmp:
        path = args.onnx if args.onnx is not None else export_cached(spec, ArtifactCache(Path(tmp))).path
        options = ort.SessionOptions()
        options.add_session_config_entry("session.x64quantprecision", "1")  # as trtperf's sessions
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feeds = make_inputs(spec, args.batch, 0)
        rows: list[tuple[float, float, float]] = []
        end = time.time() + args.seconds
        while time.time() < end:
            probe = probe_us()
            for _ in range(5):
                session.run(None, feeds)
            times = []
            for _ in range(30):
                t0 = time.perf_counter()
                session.run(None, feeds)
                times.append(time.perf_counter() - t0)
            rows.append((time.time(), probe, statistics.median(times) * 1e3))
    data = np.asarray(rows)
    pairs = window_pairs(data[:, 2], data[:, 1], args.window)
    log_r, log_p = np.log(pairs[:, 0]), np.log(pairs[:, 1])
    slope = float(np.polyfit(log_p, log_r, 1)[0])
    lines = [
        f"machine_probe_drift: {spec.name} {label} b{args.batch} ({path.name}) on ONNX Runtime {ort.__version__}, "
        f"device "
        f"{cpu_device().slug}; probe {WORKLOAD}; {len(rows)} samples over {args.seconds:.0f} s; windows of "
        f"{args.window} samples, {len(pairs)} window pairs at least 40 samples apart",
        f"model median {np.median(data[:, 2]):.4g} ms (CV {np.std(data[:, 2]) / np.mean(data[:, 2]):.1%}), probe "
        f"median {np.median(data[:, 1]):.4g} us (CV {np.std(data[:, 1]) / np.mean(data[:, 1]):.1%})",
        f"log window ratio, model vs probe: correlation {np.corrcoef(log_r, log_p)[0, 1]:.2f}, slope {slope:.2f}",
        f"SD of the model's log ratio {np.std(log_r):.3f}; after dividing by the probe {np.std(log_r - log_p):.3f}",
        f"pairs where the model looked > 10 % slower: {int(np.sum(pairs[:, 0] > 1.10))}; of those explained by the "
        f"probe (ratio / probe < 1.05, trtperf's default threshold): "
        f"{int(np.sum((pairs[:, 0] > 1.10) & (pairs[:, 0] / pairs[:, 1] < 1.05)))}",
    ]
    print("\n".join(lines))
    out = ROOT / "bench" / "results" / f"machine_probe_drift-{cpu_device().slug}-{spec.name}-{label}-b{args.batch}"
    out.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "summary": lines}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
