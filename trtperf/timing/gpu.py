"""GPU facts through NVML (nvidia-ml-py): what a GPU result was measured on, and whether the
clocks held while it was measured.

Two kinds of facts:
- static (``static_facts``): name, compute capability, driver, memory, maximum clocks, power
  limit. Recorded with every GPU result in ``device.facts``; the name is the baseline file's key.
- dynamic (``watch_clocks``): SM/memory clocks and clock-event ("throttle") reasons before the
  timing, sampled during it, and after it, plus NVML's cumulative violation counters. Stored as
  ``environment["gpu_clocks"]``; ``throttled`` and ``clocks_changed`` there are the hooks the
  report and the gate use, so a throttled measurement is never silently gated.

NVML access is confined to a few small readers taking the ``pynvml`` module as an argument, so
the logic is tested with a test double; decoding and summarizing are pure functions.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

# NVML clock-event reason bits (nvmlClocksEventReasons; older name: ClocksThrottleReasons).
REASON_BITS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
# Reasons that mean the GPU ran slower than it could have: power, thermal, hardware slowdown.
# Idle, a user-set application clock, sync boost and display clocks are not throttling.
THROTTLE_MASK = 0x4 | 0x8 | 0x20 | 0x40 | 0x80
GPU_IDLE = 0x1

# NVML perf-policy counters (nvmlDeviceGetViolationStatus): cumulative ns spent limited by each.
VIOLATION_POLICIES: dict[int, str] = {0: "power", 1: "thermal", 2: "sync_boost", 3: "board_limit",
                                      4: "low_utilization", 5: "reliability"}
THROTTLE_VIOLATIONS = frozenset({"power", "thermal", "board_limit", "reliability"})

CLOCK_SPREAD_LIMIT = 0.05
"""SM clock spread (max-min)/max over busy samples above which ``clocks_changed`` is set."""


def decode_reasons(bits: int) -> list[str]:
    """Names of the set reason bits, in bit order; unknown bits as hex."""
    names = [name for bit, name in sorted(REASON_BITS.items()) if bits & bit]
    unknown = bits & ~sum(REASON_BITS)
    if unknown:
        names.append(f"unknown_0x{unknown:x}")
    return names


def is_throttled(bits: int) -> bool:
    return bool(bits & THROTTLE_MASK)


def worker_gpu_index(env: Mapping[str, str], device_count: int) -> int:
    """The GPU of this pytest-xdist worker: gw0 -> 0, gw1 -> 1, ... modulo the visible GPUs."""
    worker = env.get("PYTEST_XDIST_WORKER", "")
    if device_count < 1 or not worker.startswith("gw") or not worker[2:].isdigit():
        return 0
    return int(worker[2:]) % device_count


@dataclass(frozen=True)
class ClockSample:
    """One NVML reading. ``t`` is seconds since the watch started."""

    t: float
    sm_mhz: int
    mem_mhz: int
    reasons: int
    temperature_c: int | None = None
    power_w: float | None = None

    @property
    def busy(self) -> bool:
        return not self.reasons & GPU_IDLE


@dataclass(frozen=True)
class ClockReport:
    """Clocks around and during one timing; ``throttled``/``clocks_changed`` are the verdict hooks."""

    before: ClockSample
    after: ClockSample
    samples: int
    busy_samples: int
    sm_mhz_min: int | None
    sm_mhz_max: int | None
    reasons_seen: list[str]
    throttle_reasons: list[str]
    violation_ms: dict[str, float]
    throttled: bool
    clocks_changed: bool
    max_sm_mhz: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for the report, e.g. 'GPU throttled during timing (sw_power_cap); SM 1410-1980 MHz'."""
        parts = []
        if self.throttled:
            why = ", ".join(self.throttle_reasons) or "violation counters " + ", ".join(
                f"{k} {v:.0f} ms" for k, v in self.violation_ms.items() if v > 0)
            parts.append(f"GPU throttled during timing ({why})")
        if self.clocks_changed:
            parts.append(f"SM clock moved {self.sm_mhz_min}-{self.sm_mhz_max} MHz during timing")
        return "; ".join(parts)


def summarize_clocks(
    before: ClockSample,
    during: Sequence[ClockSample],
    after: ClockSample,
    violations_before: Mapping[str, int],
    violations_after: Mapping[str, int],
    max_sm_mhz: int | None = None,
) -> ClockReport:
    """Pure: the report of one watched timing.

    Throttled when a throttling reason bit was seen while the GPU was busy (or right after), or
    a power/thermal violation counter grew. Clocks changed when busy SM clocks spread by more
    than ``CLOCK_SPREAD_LIMIT``. Idle samples (between runs) are ignored for both.
    """
    watched = [s for s in during if s.busy] + ([after] if after.busy else [])
    bits = 0
    for sample in watched:
        bits |= sample.reasons
    seen = 0
    for sample in (before, *during, after):
        seen |= sample.reasons
    violation_ms = {
        name: (violations_after[name] - violations_before[name]) / 1e6
        for name in sorted(set(violations_before) & set(violations_after))
    }
    violated = any(v > 0 for k, v in violation_ms.items() if k in THROTTLE_VIOLATIONS)
    clocks = [s.sm_mhz for s in watched]
    lo, hi = (min(clocks), max(clocks)) if clocks else (None, None)
    changed = bool(lo is not None and hi and (hi - lo) / hi > CLOCK_SPREAD_LIMIT)
    return ClockReport(
        before=before,
        after=after,
        samples=len(during),
        busy_samples=sum(1 for s in during if s.busy),
        sm_mhz_min=lo,
        sm_mhz_max=hi,
        reasons_seen=decode_reasons(seen),
        throttle_reasons=decode_reasons(bits & THROTTLE_MASK),
        violation_ms=violation_ms,
        throttled=is_throttled(bits) or violated,
        clocks_changed=changed,
        max_sm_mhz=max_sm_mhz,
    )


# ---- NVML readers (I/O edge). ``nvml`` is the pynvml module or a test double. ----


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _try(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:  # NVML raises NVMLError_NotSupported & co. on VMs and older GPUs
        return None


def read_reasons(nvml: Any, handle: Any) -> int:
    getter = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or getattr(
        nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
    value = _try(getter, handle) if getter is not None else None
    return int(value or 0)


def read_sample(nvml: Any, handle: Any, t: float) -> ClockSample:
    power = _try(nvml.nvmlDeviceGetPowerUsage, handle)
    return ClockSample(
        t=round(t, 4),
        sm_mhz=int(_try(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_SM) or 0),
        mem_mhz=int(_try(nvml.nvmlDeviceGetClockInfo, handle, nvml.NVML_CLOCK_MEM) or 0),
        reasons=read_reasons(nvml, handle),
        temperature_c=_try(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU),
        power_w=None if power is None else power / 1000.0,
    )


def read_violations(nvml: Any, handle: Any) -> dict[str, int]:
    """Cumulative nanoseconds per perf policy; policies NVML does not support are left out."""
    out = {}
    for policy, name in VIOLATION_POLICIES.items():
        status = _try(nvml.nvmlDeviceGetViolationStatus, handle, policy)
        if status is not None:
            out[name] = int(status.violationTime)
    return out


def static_facts(nvml: Any, handle: Any) -> dict[str, Any]:
    """Facts that do not change while the process runs; recorded, never part of a baseline key."""
    cc = _try(nvml.nvmlDeviceGetCudaComputeCapability, handle)
    memory = _try(nvml.nvmlDeviceGetMemoryInfo, handle)
    power_limit = _try(nvml.nvmlDeviceGetEnforcedPowerLimit, handle)
    return {
        "name": _text(nvml.nvmlDeviceGetName(handle)),
        "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
        "driver": _text(nvml.nvmlSystemGetDriverVersion()),
        "uuid": _text(_try(nvml.nvmlDeviceGetUUID, handle) or ""),
        "memory_total_mib": None if memory is None else int(memory.total) // (1 << 20),
        "max_sm_mhz": _try(nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_SM),
        "max_mem_mhz": _try(nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_MEM),
        "power_limit_w": None if power_limit is None else power_limit / 1000.0,
    }


def find_handle(nvml: Any, uuid: str | None, index: int) -> Any:
    """The NVML handle of the CUDA device with ``uuid`` (CUDA and NVML orders can differ under
    CUDA_VISIBLE_DEVICES); by ``index`` when no uuid is known."""
    if uuid:
        wanted = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
        for i in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            if _text(_try(nvml.nvmlDeviceGetUUID, handle) or "") == wanted:
                return handle
    return nvml.nvmlDeviceGetHandleByIndex(index)


def load_nvml() -> tuple[Any, str]:
    """(pynvml module initialized, "") or (None, why not)."""
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed (pip install nvidia-ml-py); GPU clocks not recorded"
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        return None, f"NVML could not be initialized ({exc}); GPU clocks not recorded"
    return pynvml, ""


# ---- The device of a GPU result, and the clock watch around its timing. ----


def torch_gpu_facts(index: int) -> dict[str, Any]:
    """What torch knows of CUDA device ``index`` (name, cc, SMs, L2, uuid)."""
    import torch

    props = torch.cuda.get_device_properties(index)
    return {
        "name": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "multiprocessors": props.multi_processor_count,
        "l2_cache_bytes": int(getattr(props, "L2_cache_size", 0)),
        "memory_total_mib": int(props.total_memory) // (1 << 20),
        "uuid": str(getattr(props, "uuid", "") or ""),
        "cuda_index": index,
        "cuda_runtime": str(torch.version.cuda),
    }


def gpu_device(index: int) -> Any:
    """The DeviceInfo of CUDA device ``index``: torch's facts, overlaid with NVML's when available."""
    from trtperf.device import DeviceInfo, gpu_slug

    facts = torch_gpu_facts(index)
    nvml, why = load_nvml()
    if nvml is None:
        facts["nvml"] = why
    else:
        handle = find_handle(nvml, facts["uuid"], index)
        facts.update({k: v for k, v in static_facts(nvml, handle).items() if v not in (None, "")})
    return DeviceInfo(kind="gpu", name=facts["name"], slug=gpu_slug(facts["name"]), facts=facts)


@dataclass
class ClockWatch:
    """Filled in when the ``watch_clocks`` block ends: ``report`` is None when NVML is missing."""

    report: ClockReport | None = None
    unavailable: str = ""
    samples: list[ClockSample] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        if self.report is None:
            return {"available": False, "reason": self.unavailable}
        return {"available": True, **self.report.to_json()}


@contextmanager
def watch_clocks(device: Mapping[str, Any], interval_s: float = 0.1) -> Iterator[ClockWatch]:
    """Record clocks before, during (a sampling thread, every ``interval_s``) and after the block.

    For a CPU device, or without NVML, the block runs unwatched and ``report`` stays None. The
    sampler's NVML calls go through ctypes, which releases the GIL, so it barely touches the
    timing threads.
    """
    watch = ClockWatch()
    facts = device.get("facts", {}) or {}
    if device.get("kind") != "gpu":
        watch.unavailable = "not a GPU device"
        yield watch
        return
    nvml, why = load_nvml()
    if nvml is None:
        watch.unavailable = why
        yield watch
        return
    handle = find_handle(nvml, facts.get("uuid"), int(facts.get("cuda_index", 0)))
    t0 = time.perf_counter()
    before = read_sample(nvml, handle, 0.0)
    violations_before = read_violations(nvml, handle)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            watch.samples.append(read_sample(nvml, handle, time.perf_counter() - t0))

    thread = threading.Thread(target=sample, name="trtperf-nvml-sampler", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join()
        after = read_sample(nvml, handle, time.perf_counter() - t0)
        watch.report = summarize_clocks(before, watch.samples, after, violations_before,
                                        read_violations(nvml, handle), facts.get("max_sm_mhz"))


def env_gpu_index() -> int:
    """This process's CUDA device index for timing (see ``worker_gpu_index``)."""
    import torch

    return worker_gpu_index(os.environ, torch.cuda.device_count())


def record_clocks(watch: ClockWatch, environment: dict[str, Any], notes: list[str]) -> None:
    """Store a watch's report in a result's environment (``gpu_clocks``), and a note when the
    clocks did not hold, so the summary shows it next to the verdict."""
    if watch.report is None and watch.unavailable == "not a GPU device":
        return
    environment["gpu_clocks"] = watch.to_json()
    if watch.report is not None and (watch.report.throttled or watch.report.clocks_changed):
        notes.append(watch.report.describe())
