"""What every backend's engine is, below both ``backends/`` and ``trt/``: the loaded engine and
its timing workers. Imports only the measurement mode."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from trtperf.timing.mode import MeasurementMode


class Worker(Protocol):
    """Runs inferences on one stream; ``close`` releases its resources."""

    def run(self, iterations: int) -> list[float]:
        """Run ``iterations`` inferences; return each one's latency in seconds."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class EnqueueTimed(Protocol):
    """A worker that also records the host's enqueue time per inference (GPU workers)."""

    enqueue_samples: list[float]


@dataclass(frozen=True)
class OutputProbe:
    """Reads back what a worker's timed launch wrote, for parity through the timed path (issue 14).

    ``poison()`` marks the outputs (NaN for floating point, zeros otherwise) in order with the
    worker's launches (on its stream); ``read()`` waits for the worker's work and returns the
    outputs of its last inference as numpy arrays by output name.
    """

    poison: Callable[[], None]
    read: Callable[[], dict[str, np.ndarray]]


class OnStream(Protocol):
    """A GPU worker's state that runs on one stream (``stream.synchronize()`` waits for its work)."""

    stream: Any


BindingT = TypeVar("BindingT", bound=OnStream)


class KeptBindings(Generic[BindingT]):
    """A GPU engine's per-worker state (execution context or captured CUDA graph, stream, buffers), kept
    from one use to the next within a case, so its runs pay context creation, TensorRT-RTX's kernel
    compilation and graph capture once (issue 14 item 5); with ``fresh`` each is released after its use.
    TensorRT's and torch's engines both keep theirs here."""

    def __init__(self, fresh: bool, release: Callable[[BindingT], None]) -> None:
        self.fresh = fresh
        self._release = release
        self._idle: list[BindingT] = []

    def take(self, load: Callable[[BindingT], bool], make: Callable[[], BindingT]) -> BindingT:
        """A kept binding that ``load`` accepts (``load`` copies the next use's inputs into it, or says
        False when it cannot serve them, e.g. other shapes), else ``make()``; refused ones are released."""
        while self._idle:
            binding = self._idle.pop()
            if not self.fresh and load(binding):
                return binding
            self._release(binding)
        return make()

    def give_back(self, binding: BindingT) -> None:
        """After a use: kept for the next once its stream is idle, or released when ``fresh``."""
        if self.fresh:
            self._release(binding)
            return
        binding.stream.synchronize()
        self._idle.append(binding)

    def closer(self, binding: BindingT) -> Callable[[], None]:
        """``give_back(binding)`` as a worker's ``on_close``."""
        return lambda: self.give_back(binding)

    def close(self) -> None:
        """Release every kept binding (the engine closes)."""
        while self._idle:
            self._release(self._idle.pop())


@dataclass(frozen=True)
class BuiltEngine:
    """A built (or cached) engine artifact and what is known about its build."""

    path: Path
    cache_key: str
    cache_hit: bool
    build_s: float
    info: Mapping[str, Any] = field(default_factory=dict)


class Engine(abc.ABC):
    """A loaded engine. ``infer`` is for parity; ``make_workers`` for timing.

    ``mode`` is the measurement mode it was loaded with; ``timing_mode()`` reports the mode it
    actually measured in (:meth:`MeasurementMode.to_json`), stored with baselines.
    """

    mode: MeasurementMode = MeasurementMode()
    notes: list[str]
    """Facts about how this engine was measured that a reader must see (e.g. a CUDA-graph fallback)."""

    @abc.abstractmethod
    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    @abc.abstractmethod
    def make_workers(self, inputs: Mapping[str, np.ndarray], streams: int) -> Sequence[Worker]:
        """``streams`` workers that run concurrently, each with its own context and buffers."""

    def timing_mode(self) -> dict[str, Any]:
        """What a latency sample covers; stored with baselines and compared before gating."""
        return MeasurementMode.on_cpu().to_json("host")

    def measurements(self) -> dict[str, Any]:
        """Facts measured beside the timed samples (e.g. host latency), recorded with the result."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the engine's resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
