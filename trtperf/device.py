"""Which machine a result was measured on: the key of its baseline file."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return re.sub(r"-{2,}", "-", slug) or "unknown"


@dataclass(frozen=True)
class DeviceInfo:
    """``kind`` is "cpu" or "gpu"; ``slug`` names the baseline file; ``facts`` is recorded, not keyed."""

    kind: str
    name: str
    slug: str
    facts: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "slug": self.slug, "facts": self.facts}


@cache
def cpu_model_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


INT8_ISA_LEVELS = (("amx_int8", "amx"), ("avx512_vnni", "avx512vnni"), ("avx_vnni", "avxvnni"),
                   ("avx512f", "avx512"), ("avx2", "avx2"))
"""x86 feature flags that change CPU inference speed the most (int8 dot products, vector width), widest first."""


@cache
def cpu_signature() -> dict[str, str]:
    """What a virtual machine's masked model name hides (x86 Linux: ``/proc/cpuinfo``): the family and model
    numbers and the widest SIMD level from :data:`INT8_ISA_LEVELS`. Empty elsewhere."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("cpu family", "model", "flags") and key not in fields:
                    fields[key] = value.strip()
                if not line.strip() and fields:
                    break  # the first processor's block is enough
    except OSError:
        return {}
    flags = set(fields.get("flags", "").split())
    isa = next((label for flag, label in INT8_ISA_LEVELS if flag in flags), "")
    out = {"family": fields.get("cpu family", ""), "model": fields.get("model", ""), "isa": isa}
    return {k: v for k, v in out.items() if v}


def cpu_device() -> DeviceInfo:
    """The CPU this process runs on; its slug names the baseline file, one per kind of CPU *machine*.

    The slug is the model name plus what that name hides in a VM ("AMD EPYC" covers several generations):
    the x86 family/model, the widest SIMD level and the logical core count (ONNX Runtime gives each stream
    cores // streams threads). Found on this project's CI machines: an AVX2-only "AMD EPYC" with 2 cores
    ran the example suites 2.7-3.1x slower than the "AMD EPYC" that recorded ``cpu-amd-epyc.json``, and
    every case under the same slug failed as a confirmed regression."""
    name = cpu_model_name()
    name_clean = re.sub(r"\((R|TM)\)|\bCPU\b|@.*$|\bProcessor\b", " ", name, flags=re.IGNORECASE)
    signature = cpu_signature()
    cores = os.cpu_count() or 0
    parts = [name_clean]
    if "family" in signature and "model" in signature:
        parts.append(f"f{signature['family']}m{signature['model']}")
    parts += [signature.get("isa", ""), f"{cores}c" if cores else ""]
    return DeviceInfo(
        kind="cpu",
        name=name,
        slug="cpu-" + slugify(" ".join(p for p in parts if p)),
        facts={"logical_cores": os.cpu_count(), "machine": platform.machine(), "system": platform.system(),
               **{f"cpu_{k}": v for k, v in signature.items()}},
    )


def gpu_slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    return slugify(name)
