"""The GPU side of the shared timing loop: a worker that times inferences with CUDA events.

Used by every GPU backend (tensorrt, torch). A backend provides ``launch()``, which enqueues one
inference on the worker's stream (``execute_async_v3`` for TensorRT, a module call under
``torch.cuda.stream`` for torch, or a CUDA-graph replay). Per iteration the worker records a
start event, launches, records an end event; the GPU time of an inference is the elapsed time
between its two events. It synchronizes once per ``run`` call, not per iteration, so the host
keeps the stream fed as trtexec does; host latency from enqueue to completion is measured by
``host_latency`` mode (one synchronize per iteration) when asked.

torch is the CUDA binding here (streams, events, buffers), so no pycuda/cuda-python is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class CudaEventWorker:
    """One stream's worker. ``launch`` must enqueue exactly one inference on ``stream``."""

    def __init__(
        self,
        launch: Callable[[], None],
        stream: Any,
        *,
        host_latency: bool = False,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        import torch

        self._torch = torch
        self._launch = launch
        self.stream = stream
        self.host_latency = host_latency
        self._on_close = on_close
        self.host_samples: list[float] = []

    def run(self, iterations: int) -> list[float]:
        torch = self._torch
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(iterations)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(iterations)]
        launch = self._launch
        with torch.cuda.stream(self.stream):
            for start, end in zip(starts, ends, strict=True):
                t0 = time.perf_counter()
                start.record(self.stream)
                launch()
                end.record(self.stream)
                if self.host_latency:
                    end.synchronize()
                    self.host_samples.append(time.perf_counter() - t0)
        ends[-1].synchronize()
        return [start.elapsed_time(end) / 1e3 for start, end in zip(starts, ends, strict=True)]

    def close(self) -> None:
        self.stream.synchronize()
        if self._on_close is not None:
            self._on_close()
