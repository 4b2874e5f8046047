"""Which way of using CUDA graphs gives TensorRT-RTX's right answer (issue 14, item 2). GPU only.

Exports a transformers ResNet-50 (``ResNetForImageClassification(ResNetConfig())``, random weights,
seed 0) with trtperf's exporter, builds fp32 TensorRT-RTX plans (profile 1..32, opt = the batch), with
and without internal auxiliary streams (``max_aux_streams = 0``), and runs each batch with each
kernel-specialization strategy (``lazy``: RTX's default, ``eager``, ``none``), launched plain
(``execute_async_v3``) or as a torch-captured CUDA graph.

Each path's outputs (after 1, 10 and 300 launches, outputs poisoned with NaN first, and once more
after a 2 s pause and 200 timed launches) are compared with ONNX Runtime on the same ONNX; its GPU
time is the median of those 200 launches (CUDA events). The first run of this script (before
issue 14's fix; bench/results/trt_graph_probe_h200_1.json) compared REQUIRE_USER_ALLOCATION (needs
a USER_MANAGED context) and ``cuda_graph_strategy = WHOLE_GRAPH_CAPTURE`` too. Prints a table
and writes JSON to ``$OUT/trt_graph_probe.json`` (or the path given as the first argument).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def main() -> None:
    import onnxruntime as ort
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification

    from trtperf.export import export_onnx
    from trtperf.spec import InputSpec, ModelSpec
    from trtperf.trt.api import activate, capture_errors, logger, trt
    from trtperf.trt.build import BuildOptions, build_plan, profile_shapes

    out_path = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", ".")) / "trt_graph_probe.json"
    flavour = activate("auto")
    assert not isinstance(flavour, str), flavour
    torch.manual_seed(0)
    # PROBE_TINY=1: a 2-stage ResNet for a dry run of this script (e.g. on a CPU, up to the first GPU call).
    config = ResNetConfig(depths=[1, 1], hidden_sizes=[16, 32], embedding_size=16) if os.environ.get(
        "PROBE_TINY") else ResNetConfig()
    model = ResNetForImageClassification(config).eval()  # type: ignore[no-untyped-call]

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(pixel_values=x).logits  # type: ignore[no-any-return]

    spec = ModelSpec(name="resnet50", factory=Logits, inputs=(InputSpec("x", ("batch", 3, 224, 224)),),
                     outputs=("logits",), batches=(1, 32), max_batch=32)
    tmp = Path(tempfile.mkdtemp())
    onnx_path = tmp / "resnet50.onnx"
    t0 = time.perf_counter()
    with torch.no_grad():
        export_onnx(spec, Logits().eval(), onnx_path)
    print(f"export {time.perf_counter() - t0:.1f} s", flush=True)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    results: list[dict[str, Any]] = []
    runtime = trt.Runtime(logger())
    for batch in (1, 32):
        rng = np.random.default_rng(batch)
        x = rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)
        ref = session.run(None, {"x": x})[0]
        plans = {}
        for variant in ("default", "no_aux_streams"):
            options = BuildOptions(profile=profile_shapes(spec, batch, None),
                                   max_aux_streams=0 if variant == "no_aux_streams" else None)
            t0 = time.perf_counter()
            plans[variant] = build_plan(flavour, onnx_path, options).plan
            print(f"b{batch} build {variant} {time.perf_counter() - t0:.1f} s", flush=True)
        paths = [(spec_, graph, "default") for spec_ in ("lazy", "eager", "none") for graph in (False, True)]
        paths += [("lazy", False, "no_aux_streams"), ("eager", True, "no_aux_streams")]
        for strategy, graph, variant in paths:
            with capture_errors() as captured:
                row = run_path(torch, trt, runtime, plans[variant], strategy, graph, x, ref)
            row.update(batch=batch, strategy=strategy, graph=graph, plan=variant, trt_errors=captured.errors[-3:])
            results.append(row)
            print(json.dumps(row), flush=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"device": torch.cuda.get_device_name(), "trt": flavour.version,
                                    "torch": torch.__version__, "rows": results}, indent=1))
    print(f"{'batch':>5} {'strategy':<8} {'graph':<6} {'plan':<15} {'err@1':>9} {'err@10':>9} {'err@300':>9} "
          f"{'after':>9} {'gpu_ms':>8}")
    for r in results:
        cells = [f"{r.get(k, float('nan')):>9.4g}" if isinstance(r.get(k), float) else f"{r.get(k)!s:>9}"
                 for k in ("max_abs_1", "max_abs_10", "max_abs_300", "max_abs_after_timing")]
        print(f"{r['batch']:>5} {r['strategy']:<8} {r['graph']!s:<6} {r['plan']:<15} {' '.join(cells)} "
              f"{r.get('gpu_ms', 'n/a')!s:>8}")


def run_path(torch: Any, trt: Any, runtime: Any, plan: bytes, strategy: str, graph: bool, x: np.ndarray,
             ref: np.ndarray) -> dict[str, Any]:
    """One context with ``strategy`` kernel specialization; launches plain or as a captured graph."""
    engine = runtime.deserialize_cuda_engine(plan)
    config = engine.create_runtime_config()
    config.dynamic_shapes_kernel_specialization_strategy = getattr(
        trt.DynamicShapesKernelSpecializationStrategy, strategy.upper())
    context = engine.create_execution_context(config)
    if context is None:
        return {"error": "no context"}
    stream = torch.cuda.Stream()
    xin = torch.from_numpy(x).cuda()
    out = torch.empty(ref.shape, dtype=torch.float32, device="cuda")
    context.set_input_shape("x", tuple(x.shape))
    context.set_tensor_address("x", xin.data_ptr())
    context.set_tensor_address("logits", out.data_ptr())
    row: dict[str, Any] = {"capturable": bool(context.is_stream_capturable(stream.cuda_stream))}

    def enqueue() -> None:
        assert context.execute_async_v3(stream.cuda_stream)

    t0 = time.perf_counter()
    with torch.cuda.stream(stream):
        enqueue()
    stream.synchronize()
    row["first_inference_s"] = round(time.perf_counter() - t0, 3)
    launch = enqueue
    if graph:
        cuda_graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(cuda_graph, stream=stream, capture_error_mode="thread_local"):
                enqueue()
        except RuntimeError as exc:
            row["error"] = f"capture failed: {str(exc).splitlines()[0][:200]}"
            return row
        launch = cuda_graph.replay

    def error_after(count: int) -> float | str:
        with torch.cuda.stream(stream):
            out.fill_(float("nan"))
            for _ in range(count):
                launch()
        stream.synchronize()
        got = out.cpu().numpy()
        return "all NaN" if np.isnan(got).all() else float(np.nanmax(np.abs(got - ref)))

    row["max_abs_1"] = error_after(1)
    row["max_abs_10"] = error_after(10)
    row["max_abs_300"] = error_after(300)
    time.sleep(2.0)
    with torch.cuda.stream(stream):
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(200)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(200)]
        for s, e in zip(starts, ends, strict=True):
            s.record(stream)
            launch()
            e.record(stream)
    stream.synchronize()
    row["gpu_ms"] = round(statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends, strict=True)), 5)
    row["max_abs_after_timing"] = error_after(1)
    return row


if __name__ == "__main__":
    main()
