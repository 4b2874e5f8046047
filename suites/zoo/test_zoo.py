"""The zoo: real architectures nobody here wrote, built in code from `transformers` configs with random
weights (no downloads), to check that parity verdicts are right on real models (issue 11).

Install with ``pip install 'trtperf[zoo]'`` (adds ``transformers``); without it this file is skipped
with that hint. ``TRTPERF_ZOO_SIZE`` picks the input sizes: ``full`` (the architectures' native
resolution and sequence length, batches 1 and 32 for vision) for GPU runners, ``small`` (low resolution,
short sequences, batch 2) for CPU CI; unset, it is ``full`` where torch sees a CUDA GPU and ``small``
otherwise. The architectures (depth, width, weights) are the same at both sizes. suites/zoo/README.md
lists each model's inputs, outputs and how to read its parity.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import trtperf
from trtperf import InputSpec

transformers: Any = pytest.importorskip(
    "transformers", reason="the zoo needs transformers: pip install 'trtperf[zoo]' (or pip install transformers)")


def zoo_size() -> str:
    """``TRTPERF_ZOO_SIZE`` (small|full), else full with a CUDA GPU and small without."""
    size = os.environ.get("TRTPERF_ZOO_SIZE", "").strip().lower()
    if size in ("small", "full"):
        return size
    if size:
        raise ValueError(f"TRTPERF_ZOO_SIZE={size!r}: use 'small' or 'full'")
    return "full" if torch.cuda.is_available() else "small"


FULL = zoo_size() == "full"
IMAGE = 224 if FULL else 64          # vision resolution
SEGMENT_IMAGE = 512 if FULL else 64  # SegFormer's ADE20k resolution
TOKENS = 128 if FULL else 16         # text sequence length
VISION_BATCHES = (1, 32) if FULL else (2,)
TEXT_BATCHES = (1, 8) if FULL else (2,)
PRECISIONS = ("fp32", "fp16", "bf16")
COMMON: dict[str, Any] = {"precisions": PRECISIONS, "streams": (1,), "max_batch": 32 if FULL else 8}


def zoo_model(**declared: Any) -> Callable[[Callable[[], nn.Module]], trtperf.ModelSpec]:
    """``trtperf.model`` with the zoo's common settings (precisions, one stream, max_batch)."""
    decorate: Callable[[Callable[[], nn.Module]], trtperf.ModelSpec] = trtperf.model(**COMMON, **declared)
    return decorate


class Outputs(nn.Module):
    """Calls a `transformers` model with its one keyword input and returns the named outputs as a tuple."""

    def __init__(self, model: nn.Module, input_name: str, outputs: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.input_name = input_name
        self.output_names = outputs

    def forward(self, values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        result = self.model(**{self.input_name: values}, return_dict=True)
        return tuple(getattr(result, name) for name in self.output_names)


def spread_constant_parameters(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter that ``transformers`` initializes to a constant (biases and normalization
    shifts at 0, normalization scales at 1) a seeded spread: N(0, 0.02) around 0, N(1, 0.05) around 1.

    Trained networks have no such constants; with them, faults such as a zeroed bias or a mis-applied
    normalization scale would change nothing, and parity would never be tested on them.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            first = parameter.reshape(-1)[:1]
            if parameter.numel() > 1 and bool((parameter == first).all()) and float(first) in (0.0, 1.0):
                noise = torch.randn(parameter.shape, generator=generator)
                parameter.copy_(noise * 0.02 if float(first) == 0.0 else 1.0 + noise * 0.05)
    return model


def calibrate_batch_norm(model: nn.Module, shape: tuple[int, ...], low: float = -2.0, high: float = 2.0) -> nn.Module:
    """Set every batch norm's running mean and variance to the statistics of its input over one seeded
    batch of ``shape`` drawn from [low, high), as training would have, and return the model in eval mode.

    With random weights and the initial running statistics (mean 0, variance 1) a batch norm in eval
    mode normalizes nothing: activations shrink or grow by a constant factor at every block (MobileNetV2's
    logits come out ~1e-9, where every parity check is vacuous). Calibrated, every normalized activation
    has unit scale, as in a trained network. Constant parameters are spread first
    (:func:`spread_constant_parameters`).
    """
    spread_constant_parameters(model)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average over the calibration batch
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(shape, generator=generator) * (high - low) + low
    model.train()
    with torch.no_grad():
        model(batch)
    return model.eval()


def _image(channels: int = 3, size: int = IMAGE) -> list[InputSpec]:
    # Normalized pixels: ImageNet mean/std normalization maps [0, 1] to about [-2.1, 2.6].
    return [InputSpec("pixel_values", ("batch", channels, size, size), low=-2.0, high=2.0)]


def _tokens(vocab: int) -> list[InputSpec]:
    return [InputSpec("input_ids", ("batch", TOKENS), dtype="int64", low=0, high=vocab)]


@zoo_model(inputs=_image(), outputs=["logits"], batches=VISION_BATCHES)
def resnet50() -> nn.Module:
    """ResNet-50 v1.5 (bottleneck blocks 3-4-6-3), 1000 ImageNet classes."""
    config = transformers.ResNetConfig(num_labels=1000)  # the defaults are ResNet-50
    model = transformers.ResNetForImageClassification(config)
    return Outputs(calibrate_batch_norm(model, (8, 3, IMAGE, IMAGE)), "pixel_values", ("logits",))


@zoo_model(inputs=_image(), outputs=["logits"], batches=VISION_BATCHES)
def mobilenet_v2() -> nn.Module:
    """MobileNetV2 1.0 (inverted residuals, depthwise convolutions, ReLU6), 1000 classes."""
    config = transformers.MobileNetV2Config(image_size=IMAGE, num_labels=1000)
    model = transformers.MobileNetV2ForImageClassification(config)
    return Outputs(calibrate_batch_norm(model, (8, 3, IMAGE, IMAGE)), "pixel_values", ("logits",))


@zoo_model(inputs=_image(), outputs=["logits"], batches=VISION_BATCHES)
def vit_b16() -> nn.Module:
    """ViT-B/16: 12 layers, width 768, 12 heads, 16x16 patches, 1000 classes."""
    config = transformers.ViTConfig(image_size=IMAGE, patch_size=16, num_labels=1000, attn_implementation="eager")
    model = spread_constant_parameters(transformers.ViTForImageClassification(config))
    return Outputs(model, "pixel_values", ("logits",))


@zoo_model(inputs=_image(size=SEGMENT_IMAGE), outputs=["logits"], batches=VISION_BATCHES[:1] if FULL else (2,))
def segformer_b0() -> nn.Module:
    """SegFormer-B0 (Mix Transformer encoder, all-MLP decoder that upsamples every stage to 1/4), 150 classes."""
    config = transformers.SegformerConfig(num_labels=150)  # the defaults are MiT-b0
    model = transformers.SegformerForSemanticSegmentation(config)  # one batch norm, in the decode head
    return Outputs(calibrate_batch_norm(model, (8, 3, SEGMENT_IMAGE, SEGMENT_IMAGE)), "pixel_values", ("logits",))


@zoo_model(inputs=_tokens(30522), outputs=["last_hidden_state", "pooler_output"], batches=TEXT_BATCHES)
def bert_base() -> nn.Module:
    """BERT-base encoder: 12 layers, width 768, 12 heads, vocabulary 30522; no attention mask (all tokens)."""
    config = transformers.BertConfig(attn_implementation="eager")
    model = spread_constant_parameters(transformers.BertModel(config))
    return Outputs(model, "input_ids", ("last_hidden_state", "pooler_output"))


@zoo_model(inputs=_tokens(50257), outputs=["logits"], batches=TEXT_BATCHES)
def gpt2() -> nn.Module:
    """GPT-2 small decoder: 12 causal layers, width 768, vocabulary 50257; next-token logits, no KV cache."""
    config = transformers.GPT2Config(use_cache=False, attn_implementation="eager")
    model = spread_constant_parameters(transformers.GPT2LMHeadModel(config))
    return Outputs(model, "input_ids", ("logits",))
