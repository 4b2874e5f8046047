"""A small image classifier with the patterns TensorRT fuses: conv+bn+relu, conv+relu+max_pool,
and a residual conv+add+relu."""

from __future__ import annotations

import torch
from torch import nn

import trtperf
from trtperf import InputSpec
from trtperf.parity.tolerance import classifier_tolerance


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.block = ResidualBlock(64)
        self.head = nn.Linear(64, num_classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.block(self.down(self.stem(image)))
        logits: torch.Tensor = self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
        return logits


def _randomize_batchnorm(module: nn.Module) -> nn.Module:
    # Fresh BatchNorm layers are identities; give them real statistics so folding them matters.
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            assert bn.running_mean is not None and bn.running_var is not None
            bn.running_mean.uniform_(-0.1, 0.1)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.1, 0.1)
    return module


@trtperf.model(
    inputs=[InputSpec("image", ("batch", 3, 64, 64), low=0.0, high=1.0)],
    outputs=["logits"],
    batches=(1, 8),
    # bf16 and fp8 run on GPU backends; ONNX Runtime's CPU skips them with the reason.
    precisions=("fp32", "fp16", "bf16", "int8", "fp8"),
    # Class scores: below fp32 the top-3 classes must agree (and cosine holds), not every logit.
    tolerances={f"{p}:logits": classifier_tolerance(p, top_k=3, min_agreement=0.9)
                for p in ("fp16", "bf16", "int8", "fp8")},
    streams=(1, 2),
)
def cnn() -> nn.Module:
    return _randomize_batchnorm(SmallCNN())
