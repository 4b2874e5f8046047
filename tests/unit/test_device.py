"""Device identity: the slug that names a baseline file."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import trtperf.device
from trtperf.device import DeviceInfo, cpu_device, gpu_slug, slugify

SLUG_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("NVIDIA H100 80GB HBM3", "nvidia-h100-80gb-hbm3"),
        ("NVIDIA GeForce RTX 4090", "nvidia-geforce-rtx-4090"),
        ("  Tesla   T4  ", "tesla-t4"),
        ("a--b__c", "a-b-c"),
        ("", "unknown"),
        ("---", "unknown"),
        ("Ünïcödé", "n-c-d"),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


@given(st.text())
def test_slugs_are_file_name_safe_and_idempotent(text: str) -> None:
    slug = slugify(text)
    assert SLUG_RE.fullmatch(slug)
    assert slugify(slug) == slug


def test_gpu_slug() -> None:
    assert gpu_slug("NVIDIA H200") == "nvidia-h200"


@pytest.mark.parametrize(
    ("model_name", "slug"),
    [
        ("Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz", "cpu-intel-xeon-platinum-8480"),
        ("AMD EPYC 7763 64-Core Processor", "cpu-amd-epyc-7763-64-core"),
        ("Intel(R) Core(TM) i7-9750H CPU @ 2.60GHz", "cpu-intel-core-i7-9750h"),
        ("x86_64", "cpu-x86-64"),
    ],
)
def test_cpu_slug_drops_trademarks_and_clock(monkeypatch: pytest.MonkeyPatch, model_name: str, slug: str) -> None:
    monkeypatch.setattr(trtperf.device, "cpu_model_name", lambda: model_name)
    monkeypatch.setattr(trtperf.device, "cpu_signature", lambda: {})
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    device = cpu_device()
    assert device.slug == slug
    assert device.name == model_name  # the full name is kept for people
    assert device.kind == "cpu"


def test_this_machines_cpu_device() -> None:
    device = cpu_device()
    assert device.kind == "cpu"
    assert device.slug.startswith("cpu-")
    assert SLUG_RE.fullmatch(device.slug)
    assert device.facts["logical_cores"] >= 1
    assert device.to_json() == {"kind": "cpu", "name": device.name, "slug": device.slug, "facts": device.facts}
    assert cpu_device() == device  # stable within a process


def test_device_info_to_json() -> None:
    info = DeviceInfo(kind="gpu", name="NVIDIA H100", slug="nvidia-h100", facts={"cc": "9.0"})
    assert info.to_json() == {"kind": "gpu", "name": "NVIDIA H100", "slug": "nvidia-h100", "facts": {"cc": "9.0"}}


def test_a_vm_masked_cpu_name_is_told_apart_by_family_model_isa_and_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found on CI: two "AMD EPYC" VMs, one 3x slower (AVX2 only, 2 cores), shared cpu-amd-epyc.json and every
    case of the slower one failed as a confirmed regression."""
    monkeypatch.setattr(trtperf.device, "cpu_model_name", lambda: "AMD EPYC")
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(trtperf.device, "cpu_signature", lambda: {"family": "25", "model": "1", "isa": "avx2"})
    slow = cpu_device()
    monkeypatch.setattr(trtperf.device, "cpu_signature", lambda: {"family": "25", "model": "17", "isa": "avx512vnni"})
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    fast = cpu_device()
    assert slow.slug == "cpu-amd-epyc-f25m1-avx2-2c" and fast.slug == "cpu-amd-epyc-f25m17-avx512vnni-16c"
    assert slow.facts["cpu_isa"] == "avx2"


def test_this_machines_cpu_signature_reads_its_flags() -> None:
    signature = trtperf.device.cpu_signature()
    if platform.machine() in ("x86_64", "AMD64") and Path("/proc/cpuinfo").exists():
        assert signature["family"].isdigit() and signature["model"].isdigit()
        assert signature.get("isa", "") in {label for _, label in trtperf.device.INT8_ISA_LEVELS} | {""}
