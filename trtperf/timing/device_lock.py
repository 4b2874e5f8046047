"""One timing at a time per device, machine-wide (issue 14).

Several processes timing on one device measure each other: two pytest-xdist workers timing ONNX
Runtime cases on one CPU reported "confirmed" regressions of x1.2-1.9
(../shared/cases/xdist_cpu_timing.py). So the timed part of a case (timing runs, re-measurement,
the paired A/B) holds an exclusive file lock named after its device: every CPU backend shares the
``cpu`` lock, a GPU's lock is named by its UUID (its index where the UUID is unknown). Export,
builds and parity run in parallel; only timing waits. Under pytest-xdist each worker times on its
own GPU (``worker_gpu_index``: gw0 on GPU 0, gw1 on GPU 1, ...), so with one worker per GPU
nothing waits, and workers beyond the GPU count share a GPU and take turns.

The lock lives in the system's temporary directory (``$TMPDIR``), so it holds across every
process of the machine's user, not only one session; ``TRTPERF_LOCK_DIR`` moves it.
A case that waited gets a note saying how long; ``environment["device_lock"]`` records the lock.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WAIT_NOTE_S = 0.05
"""Waits shorter than this are not noted (taking a free lock costs well under a millisecond)."""


def lock_name(device: Mapping[str, Any]) -> str:
    """The lock of a result's ``device`` (:meth:`DeviceInfo.to_json`): ``cpu``, or ``gpu-<uuid|index>``."""
    if device.get("kind") != "gpu":
        return "cpu"
    facts = device.get("facts") or {}
    ident = str(facts.get("uuid") or f"index{facts.get('index', 0)}")
    return "gpu-" + re.sub(r"[^A-Za-z0-9_.-]", "_", ident)


def lock_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("TRTPERF_LOCK_DIR") or Path(tempfile.gettempdir()) / "trtperf-device-locks")


@dataclass
class LockRecord:
    """What a case's timing waited for: recorded in its environment, noted when it waited."""

    name: str
    path: str
    waited_s: float = 0.0
    worker: str | None = None
    """The pytest-xdist worker (``gw0``...) that timed, when there is one."""
    held_from: float = 0.0
    held_until: float = 0.0
    """Wall-clock seconds (``time.time()``) between which the lock was held: timings of one device never overlap."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "waited_s": round(self.waited_s, 3), "worker": self.worker,
                "held_from": round(self.held_from, 4), "held_until": round(self.held_until, 4)}

    def note(self) -> str | None:
        if self.waited_s < WAIT_NOTE_S:
            return None
        return (f"timing waited {self.waited_s:.1f} s for another process timing on this device ({self.name}); "
                f"timed alone once the device was free")


@contextmanager
def device_timing_lock(device: Mapping[str, Any], directory: Path | None = None) -> Iterator[LockRecord]:
    """Hold the machine-wide lock of ``device`` for the duration; yields how long it waited."""
    from filelock import FileLock

    folder = directory or lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = lock_name(device)
    path = folder / f"{name}.lock"
    record = LockRecord(name=name, path=str(path), worker=os.environ.get("PYTEST_XDIST_WORKER"))
    lock = FileLock(str(path))
    started = time.perf_counter()
    with lock:
        record.waited_s = time.perf_counter() - started
        record.held_from = time.time()
        try:
            yield record
        finally:
            record.held_until = time.time()
