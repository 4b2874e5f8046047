"""Two CUDA graphs of one torch module replayed at once on two streams: which way works (issue 14).

The example cnn (conv+bn+relu) at 2 streams with CUDA graphs hit "an illegal memory access" on an
H200 (torch 2.11): both graphs captured in the main thread, replayed from two threads. Each
variant runs in its own process (an illegal access poisons the CUDA context) and reports ok/error:

- ``main_capture``: trtperf's way before the fix: capture both in the main thread, replay from two threads;
- ``main_capture_serial``: same graphs, replayed one after the other from the main thread;
- ``thread_capture``: each graph captured (and replayed) by its own long-lived thread;
- ``no_cudnn``: like ``main_capture`` with cuDNN off (diagnosis only);
- ``eager``: no graphs, two threads launching the module.

Usage: python bench/torch_graph_streams_probe.py [VARIANT] (no argument: every variant, as subprocesses).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

VARIANTS = ("main_capture", "main_capture_serial", "thread_capture", "no_cudnn", "eager")


def run_variant(variant: str) -> dict[str, Any]:
    import torch

    from trtperf.spec import find_model

    suites = sorted((Path(__file__).resolve().parents[1] / "suites").glob("test_*.py"))
    module = find_model(suites, "cnn").build_module().cuda().eval()
    if variant == "no_cudnn":
        torch.backends.cudnn.enabled = False
    streams = [torch.cuda.Stream() for _ in range(2)]  # type: ignore[no-untyped-call]
    inputs = [torch.randn(8, 3, 64, 64, device="cuda") for _ in range(2)]
    graphs: list[Any] = [None, None]
    outs: list[Any] = [None, None]

    def capture(i: int) -> None:
        with torch.cuda.stream(streams[i]):
            for _ in range(3):
                module(inputs[i])
        streams[i].synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=streams[i], capture_error_mode="thread_local"):
            outs[i] = module(inputs[i])
        streams[i].synchronize()
        graphs[i] = graph

    def replay(i: int, n: int = 2000) -> None:
        with torch.cuda.stream(streams[i]):
            for _ in range(n):
                if graphs[i] is None:
                    outs[i] = module(inputs[i])
                else:
                    graphs[i].replay()
        streams[i].synchronize()

    with torch.no_grad():
        if variant == "thread_capture":
            ready = threading.Barrier(3)

            def own(i: int) -> None:
                capture(i)
                ready.wait()
                replay(i)

            threads = [threading.Thread(target=own, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            ready.wait()
            for t in threads:
                t.join()
        else:
            if variant != "eager":
                capture(0)
                capture(1)
            if variant == "main_capture_serial":
                for _ in range(10):
                    replay(0, 200)
                    replay(1, 200)
            else:
                threads = [threading.Thread(target=replay, args=(i,)) for i in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        torch.cuda.synchronize()
        expected = [module(x) for x in inputs]
        torch.cuda.synchronize()
    error = max(float((o - e).abs().max()) for o, e in zip(outs, expected, strict=True))
    return {"variant": variant, "ok": True, "max_abs_vs_eager": error}


def main() -> None:
    if len(sys.argv) > 1:
        print(json.dumps(run_variant(sys.argv[1])), flush=True)
        return
    rows = []
    for variant in VARIANTS:
        proc = subprocess.run([sys.executable, __file__, variant], capture_output=True, text=True, timeout=120)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        row = json.loads(lines[-1]) if lines and proc.returncode == 0 else {
            "variant": variant, "ok": False, "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:300]}
        rows.append(row)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
