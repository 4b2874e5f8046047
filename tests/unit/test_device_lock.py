"""The machine-wide per-device timing lock (issue 14): names, records, notes, mutual exclusion."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from trtperf.timing.device_lock import device_timing_lock, lock_dir, lock_name


def test_every_cpu_backend_shares_one_lock_and_each_gpu_has_its_own() -> None:
    assert lock_name({"kind": "cpu", "facts": {}}) == "cpu"
    assert lock_name({"kind": "gpu", "facts": {"uuid": "GPU-2f6b/2e76"}}) == "gpu-GPU-2f6b_2e76"
    assert lock_name({"kind": "gpu", "facts": {"index": 1}}) == "gpu-index1"


def test_lock_dir_is_machine_wide_unless_moved(tmp_path: Path) -> None:
    assert lock_dir({"TRTPERF_LOCK_DIR": str(tmp_path)}) == tmp_path
    assert lock_dir({}).name == "trtperf-device-locks"


def test_two_holders_of_one_device_never_overlap_and_the_second_notes_its_wait(tmp_path: Path) -> None:
    records = []

    def hold() -> None:
        with device_timing_lock({"kind": "cpu"}, tmp_path) as record:
            time.sleep(0.2)
        records.append(record)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = sorted(records, key=lambda r: r.held_from)
    assert first.held_until <= second.held_from
    assert second.waited_s > 0.1 and first.note() is None
    note = second.note()
    assert note is not None and "another process timing on this device (cpu)" in note
    assert second.to_json()["name"] == "cpu"


def test_different_devices_do_not_wait(tmp_path: Path) -> None:
    with device_timing_lock({"kind": "gpu", "facts": {"uuid": "a"}}, tmp_path), \
            device_timing_lock({"kind": "gpu", "facts": {"uuid": "b"}}, tmp_path) as other:
        assert other.waited_s < 0.05
