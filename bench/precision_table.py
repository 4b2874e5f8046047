"""The precision table of docs/notes/issue-4.md: every suite model x precision, measured for real.

For each model of suites/ and each precision: the variant trtperf makes (trtperf.precision), its
parity on ONNX Runtime CPU (cost: vs the fp32 reference; faithful: ORT's optimized engine vs ORT
running the same variant unoptimized), its median latency on ONNX Runtime CPU, and whether the
TensorRT-RTX builder (tensorrt_rtx_bindings, runs on the CPU) parses and builds it.

    python bench/precision_table.py [--batch 8] [--json out.json] [--cache-dir DIR]

Latency: ``--iters`` back-to-back inferences after a warm-up, one session with every core; the
median of those. A bench, not the gate: one machine, one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trtperf.backends.onnxruntime import OnnxRuntimeBackend, reference_session, run_session  # noqa: E402
from trtperf.cache import ArtifactCache, CacheEntry  # noqa: E402
from trtperf.export import export_cached  # noqa: E402
from trtperf.inputs import make_inputs  # noqa: E402
from trtperf.parity.compare import compare_outputs  # noqa: E402
from trtperf.parity.tolerance import cost_tolerance_for, faithful_tolerance_for  # noqa: E402
from trtperf.precision import precision_variant  # noqa: E402
from trtperf.precisions import PRECISIONS  # noqa: E402
from trtperf.spec import ModelSpec, load_suite  # noqa: E402

SUITES = ("test_cnn", "test_mlp", "test_transformer")


def load_specs() -> list[ModelSpec]:
    return [spec for name in SUITES for spec in load_suite(ROOT / "suites" / f"{name}.py")]


def session(path: Path, optimize: bool) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.log_severity_level = 3
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def median_ms(run: Callable[[], object], iters: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def rtx_build(path: Path, spec: ModelSpec, batch: int) -> str:
    """'built (N KiB)' or the parser's/builder's reason, from the TensorRT-RTX builder on this CPU."""
    try:
        trt: Any = importlib.import_module("tensorrt_rtx_bindings")
    except ImportError as exc:
        return f"not checked ({exc})"
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(path)):
        errors = [parser.get_error(i).desc() for i in range(parser.num_errors)]
        return "parse failed: " + "; ".join(errors)[:160]
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    for item in spec.inputs:
        profile.set_shape(item.name, item.concrete_shape(1), item.concrete_shape(batch),
                          item.concrete_shape(spec.max_batch))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    return f"built ({plan.nbytes // 1024} KiB)" if plan is not None else "build failed"


def worst(report: Any, key: str) -> float:
    values = [getattr(o, key) for o in report.outputs]
    return float(max(values) if key != "cosine" else min(values))


def _top1(got: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray], output: str) -> float:
    from trtperf.parity.compare import top_k_agreement

    return top_k_agreement(np.asarray(got[output], np.float64), np.asarray(ref[output], np.float64), 1)


def measure(spec: ModelSpec, precision: str, cache: ArtifactCache, fp32: CacheEntry, batch: int,
            iters: int) -> dict[str, Any]:
    row: dict[str, Any] = {"model": spec.name, "precision": precision}
    variant = precision_variant(spec, fp32, precision, cache)
    row["variant_kib"] = variant.path.stat().st_size // 1024
    row["rtx"] = rtx_build(variant.path, spec, batch) if precision != "tf32" else "tf32 is a build flag (same ONNX)"
    reason = OnnxRuntimeBackend().precision_unsupported(precision)
    # fp8: the onnxruntime backend skips it (its optimizer is unfaithful to fp8 Q/DQ); measure it here
    # with the basic optimizations only, which keep the graph's semantics.
    level = "ORT_ENABLE_BASIC" if precision == "fp8" else "ORT_ENABLE_ALL"
    row["ort_optimization"] = level
    if reason and precision != "fp8":
        row["ort"] = f"skipped: {reason}"
        return row
    inputs = make_inputs(spec, batch, seed=0)
    ref = run_session(reference_session(fp32.path), inputs)
    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        options.optimized_model_filepath = str(optimized)
        options.log_severity_level = 3
        ort.InferenceSession(str(variant.path), sess_options=options, providers=["CPUExecutionProvider"])
        engine = session(optimized, optimize=False)
        names = [o.name for o in engine.get_outputs()]
        got = dict(zip(names, engine.run(names, inputs), strict=True))
        variant_ref = run_session(reference_session(variant.path), inputs)
        cost = compare_outputs(got, ref, lambda n: cost_tolerance_for(spec, precision, n))
        faithful = compare_outputs(got, variant_ref, lambda n: faithful_tolerance_for(spec, precision, n))
        row.update(cost_max_abs=worst(cost, "max_abs"), cost_cosine=worst(cost, "cosine"), cost_passed=cost.passed,
                   faithful_max_abs=worst(faithful, "max_abs"), faithful_passed=faithful.passed,
                   top1=_top1(got, ref, spec.outputs[0]) if spec.name == "cnn" else None)
        one = make_inputs(spec, 1, seed=0)
        row["ms_b1"] = median_ms(lambda: engine.run(names, one), iters)
        row[f"ms_b{batch}"] = median_ms(lambda: engine.run(names, inputs), max(10, iters // 4))
    return row


def markdown(rows: list[dict[str, Any]], batch: int) -> str:
    head = (f"| model | precision | ORT CPU cost: max abs err / cosine (b{batch}) | faithful max abs err | "
            f"ORT CPU median ms b1 / b{batch} | TensorRT-RTX 1.7.1 builder |")
    lines = [head, "|" + " --- |" * 6]
    for r in rows:
        if "cost_max_abs" in r:
            cost = f"{r['cost_max_abs']:.2e} / {r['cost_cosine']:.6f}" + ("" if r["cost_passed"] else " (FAIL)")
            if r.get("top1") is not None:
                cost += f", top-1 agree {r['top1']:.0%}"
            faithful = f"{r['faithful_max_abs']:.1e}" + ("" if r["faithful_passed"] else " (FAIL)")
            ms = f"{r['ms_b1']:.3f} / {r[f'ms_b{batch}']:.3f}"
            if r["ort_optimization"] != "ORT_ENABLE_ALL":
                ms += f" ({r['ort_optimization']})"
        else:
            cost, faithful, ms = r["ort"], "-", "-"
        lines.append(f"| {r['model']} | {r['precision']} | {cost} | {faithful} | {ms} | {r['rtx']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "trtperf-precision-table")
    args = parser.parse_args()
    cache = ArtifactCache(args.cache_dir)
    rows = []
    for spec in load_specs():
        fp32 = export_cached(spec, cache)
        for precision in PRECISIONS:
            rows.append(measure(spec, precision, cache, fp32, args.batch, args.iters))
            print(json.dumps(rows[-1]), file=sys.stderr)
    print(markdown(rows, args.batch))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "cpu_count": os.cpu_count()}, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
