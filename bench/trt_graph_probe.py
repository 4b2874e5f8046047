"""Which way of using CUDA graphs gives TensorRT-RTX's right answer (issue 14, item 2). GPU only.

Exports a transformers ResNet-50 (``ResNetForImageClassification(ResNetConfig())``, random weights,
seed 0) with trtperf's exporter, builds fp32 TensorRT-RTX plans (profile 1..32, opt = the batch), with
and without ``BuilderFlag.REQUIRE_USER_ALLOCATION``, and runs each batch through several launch paths:

- ``stream``: plain ``execute_async_v3`` (no graph);
- ``capture_now``: torch CUDA-graph capture right after the first enqueue (trtperf <= issue 14);
- ``capture_warm``: capture after 20 enqueues and a 2 s pause (lazy kernel specialization done);
- ``capture_eager``: runtime config with ``dynamic_shapes_kernel_specialization_strategy = EAGER``;
- ``capture_user_alloc``: plan built with REQUIRE_USER_ALLOCATION (``is_stream_capturable`` printed);
- ``rtx_whole_graph``: runtime config ``cuda_graph_strategy = WHOLE_GRAPH_CAPTURE`` (RTX's own graphs).

Each path's outputs (after 1 and after 10 launches, outputs poisoned with NaN first) are compared with
ONNX Runtime on the same ONNX; its GPU time is the median of 200 launches (CUDA events). Prints a table
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
        for user_alloc in (False, True):
            options = BuildOptions(profile=profile_shapes(spec, batch, None), require_user_allocation=user_alloc)
            t0 = time.perf_counter()
            plans[user_alloc] = build_plan(flavour, onnx_path, options).plan
            print(f"b{batch} build user_alloc={user_alloc} {time.perf_counter() - t0:.1f} s", flush=True)
        for path in ("stream", "capture_now", "capture_warm", "capture_eager", "capture_user_alloc",
                     "rtx_whole_graph"):
            with capture_errors() as captured:
                row = run_path(torch, trt, runtime, plans[path == "capture_user_alloc"], path, x, ref)
            row.update(batch=batch, path=path, trt_errors=captured.errors[-3:])
            results.append(row)
            print(json.dumps(row), flush=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"device": torch.cuda.get_device_name(), "trt": flavour.version,
                                    "torch": torch.__version__, "rows": results}, indent=1))
    print(f"{'batch':>5} {'path':<20} {'capturable':>10} {'err@1':>10} {'err@10':>10} {'gpu_ms':>8}")
    for r in results:
        print(f"{r['batch']:>5} {r['path']:<20} {r.get('capturable')!s:>10} {r.get('max_abs_1', 'n/a')!s:>10.8} "
              f"{r.get('max_abs_10', 'n/a')!s:>10.8} {r.get('gpu_ms', 'n/a')!s:>8.6}")


def run_path(torch: Any, trt: Any, runtime: Any, plan: bytes, path: str, x: np.ndarray,
             ref: np.ndarray) -> dict[str, Any]:
    engine = runtime.deserialize_cuda_engine(plan)
    config = engine.create_runtime_config()
    if path == "capture_eager":
        config.dynamic_shapes_kernel_specialization_strategy = trt.DynamicShapesKernelSpecializationStrategy.EAGER
    if path == "rtx_whole_graph":
        config.cuda_graph_strategy = trt.CudaGraphStrategy.WHOLE_GRAPH_CAPTURE
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

    with torch.cuda.stream(stream):
        enqueue()
    stream.synchronize()
    launch = enqueue
    if path.startswith("capture"):
        if path == "capture_warm":
            with torch.cuda.stream(stream):
                for _ in range(20):
                    enqueue()
            stream.synchronize()
            time.sleep(2.0)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
                enqueue()
        except RuntimeError as exc:
            row["error"] = f"capture failed: {str(exc).splitlines()[0][:200]}"
            return row
        launch = graph.replay
    for count in (1, 10):
        with torch.cuda.stream(stream):
            out.fill_(float("nan"))
            for _ in range(count):
                launch()
        stream.synchronize()
        got = out.cpu().numpy()
        row[f"max_abs_{count}"] = float(np.nanmax(np.abs(got - ref))) if not np.isnan(got).all() else "all NaN"
        row[f"nan_{count}"] = int(np.isnan(got).sum())
    with torch.cuda.stream(stream):
        for _ in range(20):
            launch()
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(200)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(200)]
        for s, e in zip(starts, ends, strict=True):
            s.record(stream)
            launch()
            e.record(stream)
    stream.synchronize()
    row["gpu_ms"] = round(statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends, strict=True)), 5)
    with torch.cuda.stream(stream):
        out.fill_(float("nan"))
        launch()
    stream.synchronize()
    row["max_abs_after_timing"] = float(np.nanmax(np.abs(out.cpu().numpy() - ref)))
    return row


if __name__ == "__main__":
    main()
