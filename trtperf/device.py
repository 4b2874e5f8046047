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


def cpu_device() -> DeviceInfo:
    """The CPU this process runs on. The slug is the CPU model: one baseline file per CPU kind."""
    name = cpu_model_name()
    name_clean = re.sub(r"\((R|TM)\)|\bCPU\b|@.*$|\bProcessor\b", " ", name, flags=re.IGNORECASE)
    return DeviceInfo(
        kind="cpu",
        name=name,
        slug="cpu-" + slugify(name_clean),
        facts={"logical_cores": os.cpu_count(), "machine": platform.machine(), "system": platform.system()},
    )


def gpu_slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'nvidia-h100-80gb-hbm3'."""
    return slugify(name)
