"""fp16/bf16 variants of real transformers architectures are valid, run, and raise no false range alarm.

Small configurations with random weights (no downloads): BERT with an attention mask, GPT-2 with
an attention mask, ViT, SegFormer (upsampling). Needs ``pip install trtperf[zoo]`` (transformers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import trtperf
from trtperf import InputSpec, ModelSpec
from trtperf.backends.onnxruntime import reference_session, run_session
from trtperf.cache import ArtifactCache
from trtperf.export import export_cached
from trtperf.inputs import make_inputs
from trtperf.precision import precision_variant, preflight_range

transformers = pytest.importorskip("transformers")
pytest.importorskip("onnxconverter_common")
pytestmark = pytest.mark.slow


class _Text(nn.Module):
    def __init__(self, model: nn.Module, output: str) -> None:
        super().__init__()
        self.model, self.output = model, output

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(input_ids=input_ids, attention_mask=attention_mask,
                                       return_dict=True)[self.output]
        return out


class _Image(nn.Module):
    def __init__(self, model: nn.Module, output: str) -> None:
        super().__init__()
        self.model, self.output = model, output

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(pixel_values=pixel_values, return_dict=True)[self.output]
        return out


def _text(vocab: int) -> list[InputSpec]:
    return [InputSpec("input_ids", ("batch", 16), "int64", 0, vocab),
            InputSpec("attention_mask", ("batch", 16), "int64", 0, 2)]


def _image(size: int) -> list[InputSpec]:
    return [InputSpec("pixel_values", ("batch", 3, size, size))]


def _bert() -> nn.Module:
    config = transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, vocab_size=1000)
    return _Text(transformers.BertModel(config), "last_hidden_state")


def _gpt2() -> nn.Module:
    config = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=1000, n_positions=64,
                                     bos_token_id=0, eos_token_id=0)
    return _Text(transformers.GPT2LMHeadModel(config), "logits")


def _vit() -> nn.Module:
    config = transformers.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=128, image_size=32, patch_size=8)
    return _Image(transformers.ViTForImageClassification(config), "logits")


def _segformer() -> nn.Module:
    config = transformers.SegformerConfig(hidden_sizes=[16, 32, 40, 64], decoder_hidden_size=32,
                                          depths=[1, 1, 1, 1], num_labels=4)
    return _Image(transformers.SegformerForSemanticSegmentation(config), "logits")


MODELS: dict[str, tuple[Callable[[], nn.Module], list[InputSpec], str]] = {
    "bert": (_bert, _text(1000), "last_hidden_state"),
    "gpt2": (_gpt2, _text(1000), "logits"),
    "vit": (_vit, _image(32), "logits"),
    "segformer": (_segformer, _image(64), "logits"),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[ArtifactCache, dict[str, tuple[ModelSpec, Any]]]:
    cache = ArtifactCache(tmp_path_factory.mktemp("hf") / "cache")
    out = {}
    for name, (factory, inputs, output) in MODELS.items():
        spec = trtperf.model(inputs=inputs, outputs=[output], batches=(2,), name=name)(factory)
        out[name] = (spec, export_cached(spec, cache))
    return cache, out


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_variant_is_valid_runs_close_and_stays_in_range(
        exported: tuple[ArtifactCache, dict[str, tuple[ModelSpec, Any]]], name: str, precision: str) -> None:
    cache, models = exported
    spec, fp32 = models[name]
    variant = precision_variant(spec, fp32, precision, cache)
    onnx.checker.check_model(onnx.load(str(variant.path)), full_check=True)
    inputs = make_inputs(spec, 2, seed=0)
    # No false alarm (no PrecisionError): masks built from float32's minimum are clamped to fp16's by the
    # converter, which the precision stage notes for BERT (its additive mask) and ViT.
    note = preflight_range(spec, fp32, variant, precision, inputs, {"batch": 2, "seed": 0}, cache)
    for part in note.split(" | ") if note else []:
        assert "flushing to zero" in part or "conversion clamped" in part, part
    if precision == "fp16":
        got = run_session(reference_session(variant.path), inputs)[spec.outputs[0]]
        want = run_session(reference_session(fp32.path), inputs)[spec.outputs[0]]
        assert np.linalg.norm(got - want) / np.linalg.norm(want) < 1e-2
