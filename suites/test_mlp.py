"""A multilayer perceptron: GEMM + bias + activation chains, the simplest TensorRT workload."""

from __future__ import annotations

from torch import nn

import trtperf
from trtperf import InputSpec


@trtperf.model(
    inputs=[InputSpec("features", ("batch", 256))],
    outputs=["scores"],
    batches=(1, 32),
    precisions=("fp32", "int8", "fp8"),
    streams=(1, 2),
)
def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(256, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.GELU(),
        nn.Linear(512, 64),
    )
