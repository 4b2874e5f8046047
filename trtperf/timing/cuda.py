"""The GPU side of the shared timing loop: a worker that times inferences with CUDA events.

Used by every GPU backend (tensorrt, torch). A backend provides ``launch()``, which enqueues one
inference on the worker's stream (``execute_async_v3`` for TensorRT, a module call under
``torch.cuda.stream`` for torch, or a CUDA-graph replay). Per iteration the worker records a
start event, launches, records an end event; the GPU time of an inference is the elapsed time
between its two events. It synchronizes once per ``run`` call, not per iteration, so the host
keeps the stream fed as trtexec does; host latency from enqueue to completion is measured by
``host_latency`` mode (one synchronize per iteration) when asked.

Short inferences (``iterations_per_sample`` k > 1): an event pair costs about 2 us of GPU time
on an H100 (bench/fidelity.py), a 14 % bias for a 15 us inference. Then k inferences run
between one event pair and each of them is reported as their mean, so counts and throughput
stay per inference while the event cost is amortized; percentiles then describe means of k
(the reference's advice for work under ~50 us: regression-statistics.md, section 2).

Enqueue time: the host time from before the start event to after the end event is kept per
inference (``enqueue_samples``, trtexec's "Enqueue Time"). When it approaches the GPU time the
GPU waits for the host, and the latency measures the host (Python, driver), not the engine.

Launch-bound hosts (``delay_kernel``, on by default): where Python and the driver enqueue an
inference slower than the GPU runs it, the GPU reaches a start event before the host has enqueued
the work behind it, and the event pair times the host. So, as nvbench's blocking kernel does, each
``run`` call first enqueues a GPU delay kernel (``torch.cuda._sleep``, a clock-cycle spin that
touches no memory, so the L2 stays warm) sized to cover the host's enqueue time of the whole chunk:
the GPU starts the chunk only once it is queued, and runs its inferences back to back, as a
GPU-bound loop does. The delay itself lies outside every event pair. Its length comes from this
worker's own enqueue times (``DELAY_MARGIN`` times their median per inference, plus
``DELAY_FLOOR_S``), so it costs little where the host is fast.

Cold-cache latency (``l2_flush``): before each iteration, outside its two events, the worker
zeroes a buffer twice the size of the GPU's L2 on the same stream, as nvbench's cold mode and
Triton's ``do_bench`` do, so each inference starts with its weights and inputs evicted from L2.

torch is the CUDA binding here (streams, events, buffers, graphs), so no pycuda/cuda-python is
needed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

from trtperf.engine import OutputProbe
from trtperf.timing.mode import MeasurementMode

L2_FLUSH_MIN_BYTES = 64 << 20
"""Flush buffer floor, for devices whose L2 size torch does not report."""

DELAY_MARGIN = 2.0
"""Delay per chunk = DELAY_MARGIN x the chunk's expected host enqueue time + DELAY_FLOOR_S: twice the
median, because single launches vary (a driver call, a Python GC pause) and a GPU that catches up
with the host inside the chunk times the host again."""
DELAY_FLOOR_S = 20e-6
DELAY_FIRST_S = 200e-6
"""Host enqueue time assumed per inference before this worker has measured any."""
DELAY_MAX_S = 0.1
"""Cap per chunk: the loop's chunks hold about 50 ms of work (trtperf.timing.loop)."""

_SLEEP_CYCLES_PER_S: dict[int, float] = {}


def sleep_cycles_per_second(device_index: int) -> float:
    """The rate of ``torch.cuda._sleep``'s spin on ``device_index``, in cycles per second, measured once
    per process with CUDA events (the SM clock; it differs between GPUs and clock states)."""
    rate = _SLEEP_CYCLES_PER_S.get(device_index)
    if rate is None:
        import torch

        cuda: Any = torch.cuda  # torch.cuda._sleep and friends carry no annotations
        cycles = 2_000_000
        with cuda.device(device_index):
            stream = cuda.Stream()
            with cuda.stream(stream):
                cuda._sleep(cycles // 10)  # first launch loads the kernel
                start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
                start.record(stream)
                cuda._sleep(cycles)
                end.record(stream)
            end.synchronize()
            rate = cycles / max(start.elapsed_time(end) / 1e3, 1e-9)
        _SLEEP_CYCLES_PER_S[device_index] = rate
    return rate


def delay_seconds(enqueue_s_per_inference: float | None, inferences: int) -> float:
    """The delay kernel's length ahead of ``inferences`` launches (pure; see ``DELAY_MARGIN``)."""
    per = DELAY_FIRST_S if enqueue_s_per_inference is None else enqueue_s_per_inference
    return min(DELAY_MAX_S, DELAY_MARGIN * per * inferences + DELAY_FLOOR_S)


def sample_blocks(iterations: int, per_sample: int) -> list[int]:
    """Inferences per event pair for ``iterations`` inferences, ``per_sample`` at a time."""
    full, rest = divmod(iterations, per_sample)
    return [per_sample] * full + ([rest] if rest else [])


def l2_flush_bytes(l2_cache_bytes: int) -> int:
    """Bytes to zero for an L2 flush: twice the L2 (its replacement policy is not strict LRU)."""
    return max(2 * l2_cache_bytes, L2_FLUSH_MIN_BYTES)


class CudaEventWorker:
    """One stream's worker. ``launch`` must enqueue exactly one inference on ``stream``."""

    def __init__(
        self,
        launch: Callable[[], None],
        stream: Any,
        *,
        host_latency: bool = False,
        on_close: Callable[[], None] | None = None,
        l2_flush: bool = False,
        iterations_per_sample: int = 1,
        output_probe: OutputProbe | None = None,
        delay_kernel: bool = False,
    ) -> None:
        import torch

        # The measurement mode holds the one rule for these fields (TrtperfUsageError on a conflict).
        MeasurementMode(l2_flush=l2_flush, iterations_per_sample=iterations_per_sample, delay_kernel=delay_kernel)
        self.iterations_per_sample = iterations_per_sample
        # host_latency times enqueue-to-completion per inference: a delay ahead of it would be timed too.
        self.delay_kernel = delay_kernel and not host_latency
        self._sleep_rate = sleep_cycles_per_second(stream.device.index or 0) if self.delay_kernel else 0.0
        self.delay_s: list[float] = []
        """Length of each delay kernel enqueued (seconds), for reports and tests."""
        self._recent_enqueue: deque[float] = deque(maxlen=200)
        """Host enqueue seconds per inference of the latest launches (the loop clears enqueue_samples)."""

        self._torch: Any = torch
        self._launch = launch
        self.stream = stream
        self.host_latency = host_latency
        self._on_close = on_close
        self.output_probe = output_probe
        """Reads back the outputs of the last launch (parity through the timed path); None: cannot."""
        self.host_samples: list[float] = []
        self.enqueue_samples: list[float] = []
        """Host seconds from before the start event to after the end event, per inference."""
        self._flush_buffer: Any = None
        if l2_flush:
            device = stream.device
            l2 = int(getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0))
            self._flush_buffer = torch.empty(l2_flush_bytes(l2) // 4, dtype=torch.int32, device=device)

    @property
    def launch(self) -> Callable[[], None]:
        """The callable this worker times (for independent measurements, e.g. bench/fidelity.py)."""
        return self._launch

    @property
    def l2_flush(self) -> bool:
        return self._flush_buffer is not None

    def run(self, iterations: int) -> list[float]:
        if self.iterations_per_sample > 1:
            return self._run_blocks(iterations)
        torch = self._torch
        launch = self._launch
        flush = self._flush_buffer
        # The stream's device, not this thread's current one (device 0 by default in a new
        # thread): events must live on the device whose stream records them.
        with torch.cuda.device(self.stream.device), torch.cuda.stream(self.stream):
            starts = [torch.cuda.Event(enable_timing=True) for _ in range(iterations)]
            ends = [torch.cuda.Event(enable_timing=True) for _ in range(iterations)]
            self._delay(iterations)
            for start, end in zip(starts, ends, strict=True):
                if flush is not None:
                    flush.zero_()  # on this stream, before the start event: not timed
                t0 = time.perf_counter()
                start.record(self.stream)
                launch()
                end.record(self.stream)
                self.enqueue_samples.append(time.perf_counter() - t0)
                self._recent_enqueue.append(self.enqueue_samples[-1])
                if self.host_latency:
                    end.synchronize()
                    self.host_samples.append(time.perf_counter() - t0)
        ends[-1].synchronize()
        return [start.elapsed_time(end) / 1e3 for start, end in zip(starts, ends, strict=True)]

    def _run_blocks(self, iterations: int) -> list[float]:
        """``iterations`` inferences, k between each event pair; each reported as its block's mean."""
        torch = self._torch
        launch = self._launch
        blocks = sample_blocks(iterations, self.iterations_per_sample)
        with torch.cuda.device(self.stream.device), torch.cuda.stream(self.stream):
            starts = [torch.cuda.Event(enable_timing=True) for _ in blocks]
            ends = [torch.cuda.Event(enable_timing=True) for _ in blocks]
            self._delay(iterations)
            for start, end, size in zip(starts, ends, blocks, strict=True):
                t0 = time.perf_counter()
                start.record(self.stream)
                for _ in range(size):
                    launch()
                end.record(self.stream)
                self.enqueue_samples.extend([(time.perf_counter() - t0) / size] * size)
                self._recent_enqueue.append(self.enqueue_samples[-1])
        ends[-1].synchronize()
        out: list[float] = []
        for start, end, size in zip(starts, ends, blocks, strict=True):
            out.extend([start.elapsed_time(end) / 1e3 / size] * size)
        return out

    def _delay(self, inferences: int) -> None:
        """Enqueue the delay kernel ahead of ``inferences`` launches (on the current stream)."""
        if not self.delay_kernel:
            return
        recent = sorted(self._recent_enqueue)
        per = recent[len(recent) // 2] if recent else None
        seconds = delay_seconds(per, inferences)
        self._torch.cuda._sleep(max(1, int(seconds * self._sleep_rate)))
        self.delay_s.append(seconds)

    def close(self) -> None:
        self.stream.synchronize()
        self._flush_buffer = None
        if self._on_close is not None:
            self._on_close()


def event_worker(launch: Callable[[], None], stream: Any, mode: MeasurementMode,
                 on_close: Callable[[], None] | None = None,
                 output_probe: OutputProbe | None = None) -> CudaEventWorker:
    """The timed worker of a GPU engine for ``mode``: every GPU backend makes its workers here, so
    no engine can drop a field of the measurement mode. ``output_probe`` lets parity read what the
    timed launch (a graph replay, on this worker's stream) wrote."""
    return CudaEventWorker(launch, stream, on_close=on_close, l2_flush=mode.l2_flush,
                           iterations_per_sample=mode.iterations_per_sample, output_probe=output_probe,
                           delay_kernel=mode.delay_kernel)


def capture_cuda_graph(launch: Callable[[], None], stream: Any, warmup: int = 3) -> Any:
    """Capture one ``launch()`` into a ``torch.cuda.CUDAGraph`` on ``stream``; time ``graph.replay``.

    Warm-up calls run first on the same (non-default) stream, as torch's graph docs require, so
    lazy initialization (cuBLAS handles, autotuning, allocator growth) happens outside the
    capture. Buffers that ``launch`` reads and writes must stay alive and in place while the
    graph is replayed: the graph replays the captured addresses.
    """
    import torch

    with torch.cuda.stream(stream):
        for _ in range(warmup):
            launch()
    stream.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
        launch()
    stream.synchronize()
    return graph
