"""What one latency sample covers: the measurement mode, one typed value for every engine.

Built once from the settings (:meth:`MeasurementMode.from_settings`), where conflicting
combinations are rejected; every engine takes it and reports the mode it actually measured in
as ``timing_mode()`` (:meth:`MeasurementMode.to_json`), which baselines store and the gate
compares before judging (a baseline from another mode is never compared silently).

Fields:

- ``transfers``: host<->device copies inside the timed call (``--trtperf-timing-mode e2e``;
  trtexec's default ``--noDataTransfers`` is ``compute``).
- ``cuda_graph``: ``on`` times CUDA-graph replays (a capture failure fails the case), ``auto``
  captures where capture works and falls back to stream launches with a note (trtexec 11's
  default), ``off`` launches on the stream.
- ``l2_flush``: cold-cache latency (the L2 is flushed before each inference, outside its events).
- ``iterations_per_sample``: GPU inferences between one pair of CUDA events (for inferences
  under ~50 us, where an event pair's ~2 us biases the sample); not with ``l2_flush``.
- ``delay_kernel``: a GPU delay kernel heads each chunk of timed inferences, sized so the host has
  enqueued the chunk before the GPU reaches it (nvbench's blocking kernel): the events then bracket
  GPU work only, also where the host launches slower than the GPU runs (launch-bound cases).

CPU engines time with the host clock and apply none of these: their effective mode is
:meth:`MeasurementMode.on_cpu`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from trtperf.errors import TrtperfUsageError

CudaGraph = Literal["off", "on", "auto"]
CUDA_GRAPH_CHOICES: tuple[CudaGraph, ...] = ("off", "on", "auto")


class _MeasurementSettings(Protocol):
    @property
    def timing_mode(self) -> str: ...
    @property
    def cuda_graph(self) -> str: ...
    @property
    def l2_flush(self) -> bool: ...
    @property
    def iterations_per_sample(self) -> int: ...
    @property
    def delay_kernel(self) -> bool: ...


@dataclass(frozen=True)
class MeasurementMode:
    transfers: bool = False
    cuda_graph: CudaGraph = "off"
    l2_flush: bool = False
    iterations_per_sample: int = 1
    delay_kernel: bool = False

    def __post_init__(self) -> None:
        if self.cuda_graph not in CUDA_GRAPH_CHOICES:
            raise TrtperfUsageError(f"cuda_graph must be one of {', '.join(CUDA_GRAPH_CHOICES)}, "
                                    f"got {self.cuda_graph!r}")
        if self.iterations_per_sample < 1:
            raise TrtperfUsageError(f"iterations_per_sample must be >= 1, got {self.iterations_per_sample}")
        if self.l2_flush and self.iterations_per_sample > 1:
            raise TrtperfUsageError(
                f"l2_flush times one cold inference per sample; it cannot be combined with "
                f"iterations_per_sample={self.iterations_per_sample}. Drop one of the two settings."
            )

    @classmethod
    def from_settings(cls, settings: _MeasurementSettings) -> MeasurementMode:
        """The mode of ``settings``; :class:`TrtperfUsageError` for a conflicting combination."""
        return cls(transfers=settings.timing_mode == "e2e", cuda_graph=settings.cuda_graph,  # type: ignore[arg-type]
                   l2_flush=settings.l2_flush, iterations_per_sample=settings.iterations_per_sample,
                   delay_kernel=settings.delay_kernel)

    @classmethod
    def on_cpu(cls) -> MeasurementMode:
        """What a host-clock (CPU) engine measures whatever was asked: the whole call, no graphs."""
        return cls()

    @property
    def wants_graph(self) -> bool:
        return self.cuda_graph != "off"

    def to_json(self, clock: str, graph_captured: bool | None = None, **extra: Any) -> dict[str, Any]:
        """The ``timing_mode`` of a result. ``graph_captured``: whether the timed launches were graph
        replays (``auto`` decides per case); None means ``cuda_graph == "on"``. ``extra``: the
        engine's own facts (threads, contexts)."""
        captured = self.cuda_graph == "on" if graph_captured is None else graph_captured
        return {"clock": clock, "transfers": self.transfers, "cuda_graph": bool(captured),
                "l2_flush": self.l2_flush, "iterations_per_sample": self.iterations_per_sample,
                "delay_kernel": self.delay_kernel, **extra}


def normalize_timing_mode(mode: Mapping[str, Any]) -> dict[str, Any]:
    """A stored ``timing_mode`` in today's keys, so baselines recorded before a field existed
    compare equal when they measured the same thing (missing ``l2_flush``/``iterations_per_sample``
    were their defaults; missing ``delay_kernel`` was off: it did not exist; the torch backend once
    wrote ``l2_cache: warm|flushed``)."""
    out = dict(mode)
    if "l2_cache" in out:
        out["l2_flush"] = out.pop("l2_cache") == "flushed"
    out.setdefault("l2_flush", False)
    out.setdefault("iterations_per_sample", 1)
    out.setdefault("delay_kernel", False)
    return out


def mismatch_advice(baseline_mode: Mapping[str, Any], candidate_mode: Mapping[str, Any]) -> str:
    """How to compare with a baseline from another timing mode, or replace it (one sentence).

    The common case: baselines recorded before CUDA graphs became the default (``auto``, issue 14)
    were timed as stream launches (``cuda_graph: false``), so a default run no longer compares with
    them; ``--trtperf-cuda-graph off`` reproduces their mode.
    """
    if bool(baseline_mode.get("cuda_graph")) != bool(candidate_mode.get("cuda_graph")):
        if not baseline_mode.get("cuda_graph"):
            return ("the baseline was timed as stream launches (trtperf's default before CUDA graphs became "
                    "'auto'): compare with it using --trtperf-cuda-graph off, or re-record it in today's default "
                    "mode with --trtperf-update-baselines")
        return ("the baseline was timed as CUDA-graph replays, this run as stream launches (capture was off or "
                "failed; see the notes): rerun with --trtperf-cuda-graph on to see why capture fails, or re-record "
                "with --trtperf-update-baselines")
    if bool(baseline_mode.get("delay_kernel")) != bool(candidate_mode.get("delay_kernel")):
        if not baseline_mode.get("delay_kernel"):
            return ("the baseline was timed without the GPU delay kernel (trtperf's default before it became 'on'): "
                    "compare with it using --trtperf-delay-kernel off, or re-record it in today's default mode with "
                    "--trtperf-update-baselines")
        return "compare with --trtperf-delay-kernel on, or re-record with --trtperf-update-baselines"
    return "rerun in the baseline's mode, or record a new baseline with --trtperf-update-baselines"
