"""The delay kernel on a real GPU: a host slower than the GPU is no longer timed (issue 14, item 3).

A launch that makes the host spend 300 us before it enqueues a few-microsecond kernel is the launch-bound
case in the small: without the delay kernel the GPU reaches the start event, waits for the host, and the
event pair times the host (~300 us); with it the chunk is queued before the GPU starts it, and the pair
times the kernel.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

HOST_S = 300e-6


def _slow_host_launch(buffer: Any) -> Callable[[], None]:
    def launch() -> None:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < HOST_S:  # the host's Python and driver work, made long
            pass
        buffer.add_(1.0)

    return launch


@pytest.mark.parametrize("per_sample", [1, 5])
def test_a_slow_host_is_timed_without_the_delay_kernel_and_not_with_it(per_sample: int) -> None:
    from trtperf.timing.cuda import CudaEventWorker

    stream = torch.cuda.Stream()  # type: ignore[no-untyped-call]
    buffer = torch.zeros(1024, device="cuda")
    medians = {}
    for delay in (False, True):
        worker = CudaEventWorker(_slow_host_launch(buffer), stream, delay_kernel=delay,
                                 iterations_per_sample=per_sample)
        worker.run(5)  # warm-up, and the worker's own enqueue estimate
        medians[delay] = statistics.median(worker.run(40))
        worker.close()
        assert bool(worker.delay_s) is delay
    def kernel() -> None:
        buffer.add_(1.0)

    kernel_alone = CudaEventWorker(kernel, stream, iterations_per_sample=per_sample)
    kernel_alone.run(5)
    kernel_s = statistics.median(kernel_alone.run(40))
    assert medians[False] > 0.8 * HOST_S, medians  # the host was timed
    assert medians[True] < kernel_s + 20e-6, (medians, kernel_s)  # the kernel was timed
