"""GPU facts and clock watching (trtperf.timing.gpu), with an NVML test double: no GPU needed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from trtperf.timing import gpu
from trtperf.timing.gpu import (
    ClockSample,
    ClockWatch,
    decode_reasons,
    find_handle,
    is_throttled,
    read_reasons,
    read_sample,
    read_violations,
    record_clocks,
    static_facts,
    summarize_clocks,
    watch_clocks,
    worker_gpu_index,
)


class FakeNvmlError(Exception):
    """Stands in for pynvml.NVMLError_NotSupported."""


@dataclass
class FakeViolation:
    violationTime: int  # NVML's field name


@dataclass
class FakeMemory:
    total: int


@dataclass
class FakeNvml:
    """A test double of the pynvml module: two GPUs, scripted clocks and reasons."""

    NVML_CLOCK_SM: int = 1
    NVML_CLOCK_MEM: int = 2
    NVML_TEMPERATURE_GPU: int = 0
    uuids: tuple[str, ...] = ("GPU-aaaa", "GPU-bbbb")
    sm_mhz: int = 1980
    reasons: int = 0
    violation_ns: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0})
    old_api_only: bool = False

    def __getattr__(self, name: str) -> Any:
        if name == "nvmlDeviceGetCurrentClocksEventReasons" and self.old_api_only:
            raise AttributeError(name)
        if name == "nvmlDeviceGetCurrentClocksEventReasons":
            return lambda handle: self.reasons
        raise AttributeError(name)

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: int) -> int:
        return self.reasons

    def nvmlDeviceGetCount(self) -> int:
        return len(self.uuids)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self.uuids[handle]

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlSystemGetDriverVersion(self) -> str:
        return "580.159.04"

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        return (9, 0)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> FakeMemory:
        return FakeMemory(total=81559 << 20)

    def nvmlDeviceGetMaxClockInfo(self, handle: int, clock: int) -> int:
        return 1980 if clock == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        raise FakeNvmlError("not supported")

    def nvmlDeviceGetClockInfo(self, handle: int, clock: int) -> int:
        return self.sm_mhz if clock == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 41

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return 350_500

    def nvmlDeviceGetViolationStatus(self, handle: int, policy: int) -> FakeViolation:
        if policy not in self.violation_ns:
            raise FakeNvmlError("not supported")
        return FakeViolation(self.violation_ns[policy])


@pytest.mark.parametrize(
    ("bits", "names", "throttled"),
    [
        (0, [], False),
        (0x1, ["gpu_idle"], False),
        (0x2 | 0x10, ["applications_clocks_setting", "sync_boost"], False),
        (0x4, ["sw_power_cap"], True),
        (0x1 | 0x40, ["gpu_idle", "hw_thermal_slowdown"], True),
        (0x8 | 0x80, ["hw_slowdown", "hw_power_brake_slowdown"], True),
        (0x1000, ["unknown_0x1000"], False),
    ],
)
def test_reason_bits_decode(bits: int, names: list[str], throttled: bool) -> None:
    assert decode_reasons(bits) == names
    assert is_throttled(bits) is throttled


@pytest.mark.parametrize(
    ("env", "count", "index"),
    [({}, 1, 0), ({"PYTEST_XDIST_WORKER": "gw0"}, 4, 0), ({"PYTEST_XDIST_WORKER": "gw3"}, 4, 3),
     ({"PYTEST_XDIST_WORKER": "gw5"}, 4, 1), ({"PYTEST_XDIST_WORKER": "master"}, 2, 0),
     ({"PYTEST_XDIST_WORKER": "gw1"}, 0, 0)],
)
def test_worker_gpu_index(env: dict[str, str], count: int, index: int) -> None:
    assert worker_gpu_index(env, count) == index


def _sample(t: float, sm: int = 1980, reasons: int = 0) -> ClockSample:
    return ClockSample(t=t, sm_mhz=sm, mem_mhz=2619, reasons=reasons)


def test_steady_clocks_are_neither_throttled_nor_changed() -> None:
    report = summarize_clocks(_sample(0, 345, reasons=0x1), [_sample(0.1), _sample(0.2), _sample(0.3, 1965)],
                              _sample(0.4), {"power": 10, "thermal": 0}, {"power": 10, "thermal": 0}, 1980)
    assert not report.throttled and not report.clocks_changed
    assert (report.sm_mhz_min, report.sm_mhz_max, report.busy_samples) == (1965, 1980, 3)
    assert report.reasons_seen == ["gpu_idle"]  # the idle GPU before timing is no throttling
    assert report.describe() == ""


def test_power_cap_while_busy_is_throttled_and_clock_drop_is_changed() -> None:
    during = [_sample(0.1), _sample(0.2, 1410, reasons=0x4), _sample(0.3, 1500, reasons=0x4)]
    report = summarize_clocks(_sample(0), during, _sample(0.4), {}, {})
    assert report.throttled and report.clocks_changed
    assert report.throttle_reasons == ["sw_power_cap"]
    assert "GPU throttled during timing (sw_power_cap)" in report.describe()
    assert "1410-1980 MHz" in report.describe()


def test_idle_samples_between_runs_do_not_count_as_clock_changes() -> None:
    during = [_sample(0.1), _sample(0.2, 345, reasons=0x1), _sample(0.3)]
    report = summarize_clocks(_sample(0), during, _sample(0.4, 345, reasons=0x1), {}, {})
    assert not report.clocks_changed and not report.throttled
    assert report.busy_samples == 2


def test_growing_violation_counter_means_throttled_even_without_reason_bits() -> None:
    report = summarize_clocks(_sample(0), [_sample(0.1)], _sample(0.2), {"thermal": 5_000_000, "sync_boost": 0},
                              {"thermal": 9_000_000, "sync_boost": 7_000_000})
    assert report.throttled
    assert report.violation_ms == {"sync_boost": 7.0, "thermal": 4.0}
    assert "thermal 4 ms" in report.describe()


def test_sync_boost_violation_alone_is_not_throttling() -> None:
    report = summarize_clocks(_sample(0), [], _sample(0.1), {"sync_boost": 0}, {"sync_boost": 3_000_000})
    assert not report.throttled


def test_static_facts_and_readers_tolerate_unsupported_queries() -> None:
    nvml = FakeNvml(violation_ns={1: 42})
    facts = static_facts(nvml, 0)
    assert facts["name"] == "NVIDIA H100 80GB HBM3"
    assert facts["compute_capability"] == "9.0"
    assert facts["driver"] == "580.159.04"
    assert facts["memory_total_mib"] == 81559
    assert facts["max_sm_mhz"] == 1980
    assert facts["power_limit_w"] is None  # NotSupported -> None, not an error
    assert read_violations(nvml, 0) == {"thermal": 42}
    sample = read_sample(nvml, 0, 0.5)
    assert (sample.sm_mhz, sample.mem_mhz, sample.temperature_c, sample.power_w) == (1980, 2619, 41, 350.5)


def test_reasons_fall_back_to_the_old_throttle_api() -> None:
    assert read_reasons(FakeNvml(reasons=0x20, old_api_only=True), 0) == 0x20
    assert read_reasons(FakeNvml(reasons=0x8), 0) == 0x8


def test_find_handle_matches_torch_uuid_not_index() -> None:
    nvml = FakeNvml()
    assert find_handle(nvml, "bbbb", 0) == 1  # CUDA_VISIBLE_DEVICES may reorder: uuid wins
    assert find_handle(nvml, "GPU-aaaa", 1) == 0
    assert find_handle(nvml, None, 1) == 1
    assert find_handle(nvml, "cccc", 1) == 1


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNvml]:
    nvml = FakeNvml()
    monkeypatch.setattr(gpu, "load_nvml", lambda: (nvml, ""))
    yield nvml


GPU_DEVICE = {"kind": "gpu", "name": "NVIDIA H100 80GB HBM3", "slug": "nvidia-h100-80gb-hbm3",
              "facts": {"uuid": "bbbb", "cuda_index": 0, "max_sm_mhz": 1980}}


def test_watch_samples_during_the_block_and_reports_throttling(fake_nvml: FakeNvml) -> None:
    with watch_clocks(GPU_DEVICE, interval_s=0.005) as watch:
        fake_nvml.reasons, fake_nvml.sm_mhz = 0x4, 1500
        fake_nvml.violation_ns[0] = 2_000_000
        time.sleep(0.05)
    assert watch.report is not None
    assert watch.report.samples >= 2
    assert watch.report.throttled and watch.report.throttle_reasons == ["sw_power_cap"]
    environment: dict[str, Any] = {}
    notes: list[str] = []
    record_clocks(watch, environment, notes)
    assert environment["gpu_clocks"]["available"] is True
    assert environment["gpu_clocks"]["throttled"] is True
    assert environment["gpu_clocks"]["violation_ms"]["power"] == 2.0
    assert notes and notes[0].startswith("GPU throttled during timing")


def test_watch_of_a_steady_gpu_adds_no_note(fake_nvml: FakeNvml) -> None:
    with watch_clocks(GPU_DEVICE, interval_s=0.005) as watch:
        time.sleep(0.02)
    environment: dict[str, Any] = {}
    notes: list[str] = []
    record_clocks(watch, environment, notes)
    assert environment["gpu_clocks"]["throttled"] is False
    assert environment["gpu_clocks"]["before"]["sm_mhz"] == 1980
    assert notes == []


def test_cpu_results_get_no_gpu_clocks(fake_nvml: FakeNvml) -> None:
    with watch_clocks({"kind": "cpu", "facts": {}}) as watch:
        pass
    environment: dict[str, Any] = {}
    record_clocks(watch, environment, [])
    assert watch.report is None and environment == {}


def test_missing_nvml_is_recorded_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu, "load_nvml", lambda: (None, "nvidia-ml-py is not installed"))
    with watch_clocks(GPU_DEVICE) as watch:
        pass
    environment: dict[str, Any] = {}
    record_clocks(watch, environment, [])
    assert environment["gpu_clocks"] == {"available": False, "reason": "nvidia-ml-py is not installed"}
    assert ClockWatch().to_json()["available"] is False
