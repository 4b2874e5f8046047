"""The GPU delay kernel's sizing and its place in the measurement mode (pure parts; the GPU behaviour is
tested in tests/gpu/test_gpu_delay_kernel.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trtperf.config import Settings
from trtperf.timing.cuda import DELAY_FIRST_S, DELAY_FLOOR_S, DELAY_MARGIN, DELAY_MAX_S, delay_seconds
from trtperf.timing.mode import MeasurementMode, mismatch_advice, normalize_timing_mode
from trtperf.verdict.gate import timing_mode_difference


def test_delay_covers_twice_the_chunks_enqueue_time() -> None:
    assert delay_seconds(100e-6, 10) == DELAY_MARGIN * 100e-6 * 10 + DELAY_FLOOR_S
    assert delay_seconds(None, 3) == DELAY_MARGIN * DELAY_FIRST_S * 3 + DELAY_FLOOR_S
    assert delay_seconds(1e-3, 1000) == DELAY_MAX_S


@given(st.floats(0, 1e-2), st.integers(1, 1000), st.integers(1, 1000))
def test_delay_grows_with_the_chunk_and_stays_capped(per: float, n: int, more: int) -> None:
    assert DELAY_FLOOR_S <= delay_seconds(per, n) <= delay_seconds(per, n + more) <= DELAY_MAX_S


def test_settings_turn_the_delay_kernel_on_for_gpu_modes_and_cpu_modes_never_report_it() -> None:
    assert Settings().delay_kernel is True
    assert MeasurementMode.from_settings(Settings()).delay_kernel is True
    assert MeasurementMode.from_settings(Settings(delay_kernel=False)).delay_kernel is False
    assert MeasurementMode.on_cpu().to_json("host")["delay_kernel"] is False


def test_a_baseline_from_before_the_delay_kernel_is_a_mode_mismatch_with_the_way_back() -> None:
    old = {"clock": "cuda_event", "transfers": False, "cuda_graph": True, "l2_flush": False}
    new = MeasurementMode(cuda_graph="auto", delay_kernel=True).to_json("cuda_event", graph_captured=True)
    assert normalize_timing_mode(old)["delay_kernel"] is False
    assert "delay_kernel" in timing_mode_difference(old, new)
    assert "--trtperf-delay-kernel off" in mismatch_advice(old, new)
    # A CPU baseline recorded before the field existed still compares equal.
    assert timing_mode_difference({"clock": "host", "transfers": False, "cuda_graph": False},
                                  MeasurementMode.on_cpu().to_json("host")) == ""
