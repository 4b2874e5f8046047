"""The one table of precisions trtperf knows, and the facts every stage reads from it.

Imports nothing else from trtperf, so the declaration (``spec``), the settings (``config``),
the precision stage, the backends and the tolerances all read the same rows.

Sources: NVIDIA TensorRT support matrix (hardware precision per compute capability: FP16 from
5.3, INT8 from 6.1, TF32 and BF16 from 8.0 (Ampere), FP8 from 8.9 (Ada, Hopper)); TensorRT 10's
``BuilderFlag`` names (FP16, BF16; INT8/FP8 flags need a calibrator trtperf does not drive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

VariantKind = Literal["none", "cast", "quantize"]


@dataclass(frozen=True)
class Precision:
    """One precision.

    ``variant``: how the ONNX for it is made — ``none`` (the fp32 ONNX as it is; tf32 is a build
    setting), ``cast`` (fp16/bf16 weights and activations, fp32 I/O), ``quantize`` (Q/DQ).
    ``min_compute_capability``: the oldest NVIDIA GPU that runs it in hardware.
    ``torch_dtype``: the dtype the torch backends cast module and floating inputs to (None: not a torch precision).
    ``builder_flag``: TensorRT 10's ``BuilderFlag`` name for the weakly typed opt-in (None: no such flag use).
    """

    name: str
    variant: VariantKind
    min_compute_capability: tuple[int, int]
    torch_dtype: str | None
    builder_flag: str | None = None


TABLE: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision("fp32", "none", (0, 0), "float32"),
        Precision("tf32", "none", (8, 0), "float32"),
        Precision("fp16", "cast", (5, 3), "float16", builder_flag="FP16"),
        Precision("bf16", "cast", (8, 0), "bfloat16", builder_flag="BF16"),
        Precision("int8", "quantize", (6, 1), None),
        Precision("fp8", "quantize", (8, 9), None),
    )
}

PRECISIONS: tuple[str, ...] = tuple(TABLE)
"""Every precision name, in the order reports list them."""


def unknown_precisions(names: tuple[str, ...] | list[str]) -> list[str]:
    """The names in ``names`` that are not precisions (empty when all are known)."""
    return [name for name in names if name not in TABLE]


def precisions_where(predicate: str) -> tuple[str, ...]:
    """Precision names by a named property: ``cast``, ``quantize``, ``none`` (variant kinds) or ``torch``."""
    if predicate == "torch":
        return tuple(p.name for p in TABLE.values() if p.torch_dtype is not None)
    return tuple(p.name for p in TABLE.values() if p.variant == predicate)
