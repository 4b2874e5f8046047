"""Per-device baseline files: merge-only updates, stable formatting, never overwriting what cannot be read."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import trtperf.record.baselines
from trtperf.cases import Case
from trtperf.errors import BaselineError
from trtperf.fsutil import lock_path_for, user_lock_dir
from trtperf.record.baselines import SCHEMA_VERSION, BaselineStore, load_baseline_file, record_results, recordable
from trtperf.record.results import CaseResult
from trtperf.timing.stats import RunSamples, summarize

DEVICE = {"kind": "cpu", "name": "Test CPU", "slug": "cpu-test"}


def _entry(median_ms: float) -> dict[str, Any]:
    runs = [RunSamples(latencies=(median_ms / 1e3,) * 5, wall_s=median_ms * 5 / 1e3, inferences=5)] * 3
    return {"stats": summarize(runs, batch=1).to_json(), "timing_mode": {"clock": "host"},
            "environment": {"backend": "onnxruntime"}, "artifact": {}, "recorded_at": "2026-01-01"}


def _result(key: str, slug: str = "cpu-test", *, timed: bool = True, parity_passed: bool | None = True) -> CaseResult:
    case = Case.from_key(key)
    return CaseResult(
        case=case,
        device={**DEVICE, "slug": slug, "facts": {"logical_cores": 2}},
        environment={"backend": case.backend, "backend_version": "1.0"},
        stats=_entry(2.0)["stats"] if timed else None,
        parity=None if parity_passed is None else {"passed": parity_passed, "outputs": []},
        timing_mode={"clock": "host"},
    )


def test_a_missing_file_is_no_baseline(baseline_dir: Path) -> None:
    store = BaselineStore(baseline_dir)
    assert store.load("cpu-test") is None
    assert store.entry("cpu-test", "m[onnxruntime-fp32-b1-s1]") is None
    assert store.slugs() == []


def test_update_writes_a_sorted_stable_file(baseline_dir: Path) -> None:
    store = BaselineStore(baseline_dir)
    entries = {"z[onnxruntime-fp32-b1-s1]": _entry(2.0), "a[onnxruntime-fp32-b1-s1]": _entry(1.0)}
    store.update("cpu-test", DEVICE, entries)
    path = baseline_dir / "cpu-test.json"
    text = path.read_text()
    document = json.loads(text)
    assert document["schema_version"] == SCHEMA_VERSION
    assert document["device"] == DEVICE
    assert list(document["entries"]) == ["a[onnxruntime-fp32-b1-s1]", "z[onnxruntime-fp32-b1-s1]"]
    assert text == load_baseline_file(path).dumps(), "writing what was read changes nothing"
    assert store.slugs() == ["cpu-test"]
    assert store.entry("cpu-test", "a[onnxruntime-fp32-b1-s1]") == _entry(1.0)


def test_update_keeps_every_other_entry_and_writes_only_the_given_ones(baseline_dir: Path) -> None:
    store = BaselineStore(baseline_dir)
    store.update("cpu-test", DEVICE, {"a[x-fp32-b1-s1]": _entry(1.0), "b[x-fp32-b1-s1]": _entry(2.0)})
    before = json.loads((baseline_dir / "cpu-test.json").read_text())
    store.update("cpu-test", {"driver": "550"}, {"b[x-fp32-b1-s1]": _entry(3.0), "c[x-fp32-b1-s1]": _entry(4.0)})
    after = json.loads((baseline_dir / "cpu-test.json").read_text())
    assert after["entries"]["a[x-fp32-b1-s1]"] == before["entries"]["a[x-fp32-b1-s1]"]
    assert after["entries"]["b[x-fp32-b1-s1]"] == trtperf.record.baselines.round_floats(_entry(3.0))  # 6 digits
    assert after["entries"]["c[x-fp32-b1-s1]"] == _entry(4.0)
    assert after["device"] == {**DEVICE, "driver": "550"}
    assert set(after["entries"]) == {"a[x-fp32-b1-s1]", "b[x-fp32-b1-s1]", "c[x-fp32-b1-s1]"}


def test_files_are_per_device(baseline_dir: Path) -> None:
    store = BaselineStore(baseline_dir)
    store.update("nvidia-h100", {}, {"a[x-fp32-b1-s1]": _entry(1.0)})
    store.update("cpu-test", {}, {"a[x-fp32-b1-s1]": _entry(5.0)})
    assert store.slugs() == ["cpu-test", "nvidia-h100"]
    assert store.entry("nvidia-h100", "a[x-fp32-b1-s1]") == _entry(1.0)


def test_concurrent_updates_lose_nothing(baseline_dir: Path) -> None:
    store = BaselineStore(baseline_dir)
    keys = [f"m{i}[onnxruntime-fp32-b1-s1]" for i in range(6)]
    threads = [threading.Thread(target=store.update, args=("cpu-test", DEVICE, {k: _entry(1.0)})) for k in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loaded = store.load("cpu-test")
    assert loaded is not None and sorted(loaded.entries) == sorted(keys)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema_version": 1, "entries": {', "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "expected a JSON object at the top level"),
        ('{"entries": {}}', "no integer 'schema_version'"),
        ('{"schema_version": "1", "entries": {}}', "no integer 'schema_version'"),
        ('{"schema_version": 0, "entries": {}}', "schema_version 0 is too old to migrate"),
        ('{"schema_version": 999, "entries": {}}', "schema_version 999 is newer than this trtperf understands"),
        # A new user's trial (2026-12-07): cases moved out of 'entries' read as "no baseline", and the next
        # update rewrote the file with its own cases only.
        ('{"schema_version": 3, "device": {}, "a[x-fp32-b1-s1]": {}}', "'entries' must map case keys to objects"),
        ('{"schema_version": 3, "entries": []}', "'entries' must map case keys to objects"),
    ],
)
def test_unreadable_file_is_an_error_naming_it_and_is_never_overwritten(baseline_dir: Path, content: str,
                                                                         message: str) -> None:
    path = baseline_dir / "cpu-test.json"
    baseline_dir.mkdir()
    path.write_text(content)
    store = BaselineStore(baseline_dir)
    with pytest.raises(BaselineError, match=str(path)) as excinfo:
        store.load("cpu-test")
    assert message in str(excinfo.value)
    with pytest.raises(BaselineError, match=message):
        store.update("cpu-test", DEVICE, {"a[x-fp32-b1-s1]": _entry(1.0)})
    assert path.read_bytes() == content.encode()
    assert sorted(p.name for p in baseline_dir.iterdir()) == ["cpu-test.json"]  # no lock, no temporary file


def test_corrupt_json_says_how_to_recover(baseline_dir: Path) -> None:
    baseline_dir.mkdir()
    (baseline_dir / "cpu-test.json").write_bytes(b'{"schema_version": 1,\x00 garbage')
    with pytest.raises(BaselineError) as excinfo:
        BaselineStore(baseline_dir).load("cpu-test")
    assert "It was not overwritten" in str(excinfo.value)
    assert f"git checkout -- {baseline_dir / 'cpu-test.json'}" in str(excinfo.value)


def test_newer_schema_asks_to_upgrade_trtperf(baseline_dir: Path) -> None:
    baseline_dir.mkdir()
    path = baseline_dir / "cpu-test.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "device": {}, "entries": {}}))
    with pytest.raises(BaselineError, match=r"upgrade trtperf \(pip install -U trtperf\)"):
        load_baseline_file(path)


def test_an_entry_that_is_not_an_object_fails_only_its_case(baseline_dir: Path) -> None:
    baseline_dir.mkdir()
    path = baseline_dir / "cpu-test.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "entries": {"a[x-fp32-b1-s1]": 3,
                                                                            "b[x-fp32-b1-s1]": _entry(1.0)}}))
    store = BaselineStore(baseline_dir)
    assert store.run_medians("cpu-test", "b[x-fp32-b1-s1]", store.entry("cpu-test", "b[x-fp32-b1-s1]"))
    with pytest.raises(BaselineError, match=r"entry 'a\[x-fp32-b1-s1\]' cannot be gated: the entry is not a JSON"):
        store.run_medians("cpu-test", "a[x-fp32-b1-s1]", store.entry("cpu-test", "a[x-fp32-b1-s1]"))


def test_an_update_removes_the_orphans_of_a_killed_update(baseline_dir: Path) -> None:
    store = BaselineStore(baseline_dir)
    store.update("cpu-test", DEVICE, {"a[x-fp32-b1-s1]": _entry(1.0)})
    orphan = baseline_dir / ".cpu-test.json.trtperf-k1ll3d_x.tmp"
    orphan.write_text("{half")
    foreign = baseline_dir / ".cpu-test.json.swp.tmp"
    foreign.write_text("an editor's")
    store.update("cpu-test", DEVICE, {"b[x-fp32-b1-s1]": _entry(2.0)})
    assert not orphan.exists() and foreign.exists()


def test_migrations_run_in_order_on_load(baseline_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = BaselineStore(baseline_dir)
    store.update("cpu-test", DEVICE, {"a[x-fp32-b1-s1]": _entry(1.0)})
    steps: list[int] = []

    def step(n: int) -> Any:
        def upgrade(document: dict[str, Any]) -> dict[str, Any]:
            steps.append(n)
            document["device"]["upgraded_to"] = n
            return document
        return upgrade

    monkeypatch.setattr(trtperf.record.baselines, "SCHEMA_VERSION", SCHEMA_VERSION + 2)
    monkeypatch.setitem(trtperf.record.baselines.MIGRATIONS, SCHEMA_VERSION + 2, step(SCHEMA_VERSION + 2))
    monkeypatch.setitem(trtperf.record.baselines.MIGRATIONS, SCHEMA_VERSION + 1, step(SCHEMA_VERSION + 1))
    loaded = store.load("cpu-test")
    assert steps == [SCHEMA_VERSION + 1, SCHEMA_VERSION + 2]
    assert loaded is not None and loaded.device["upgraded_to"] == SCHEMA_VERSION + 2
    assert loaded.to_json()["schema_version"] == SCHEMA_VERSION + 2


def test_recordable() -> None:
    assert recordable(_result("m[x-fp32-b1-s1]"))
    assert recordable(_result("m[x-fp32-b1-s1]", parity_passed=None))  # parity not checked (e.g. reference run)
    assert not recordable(_result("m[x-fp32-b1-s1]", parity_passed=False))
    assert not recordable(_result("m[x-fp32-b1-s1]", timed=False))


def test_record_results_skips_parity_failures_and_untimed_cases(baseline_dir: Path) -> None:
    store = BaselineStore(baseline_dir)
    store.update("cpu-test", DEVICE, {"old[x-fp32-b1-s1]": _entry(9.0)})
    results = [
        _result("good[onnxruntime-fp32-b1-s1]"),
        _result("wrong[onnxruntime-fp32-b1-s1]", parity_passed=False),
        _result("untimed[onnxruntime-fp32-b1-s1]", timed=False),
        _result("gpu[tensorrt-fp16-b8-s1]", slug="nvidia-h100"),
    ]
    written = record_results(store, results, trtperf_version="9.9.9")
    assert written == {str(baseline_dir / "cpu-test.json"): 1, str(baseline_dir / "nvidia-h100.json"): 1}
    cpu = store.load("cpu-test")
    assert cpu is not None
    assert sorted(cpu.entries) == ["good[onnxruntime-fp32-b1-s1]", "old[x-fp32-b1-s1]"]
    entry = cpu.entries["good[onnxruntime-fp32-b1-s1]"]
    assert entry["stats"] == results[0].stats
    assert entry["environment"]["trtperf_version"] == "9.9.9"
    assert entry["timing_mode"] == {"clock": "host"}
    assert "facts" not in cpu.device  # facts are recorded per result, not in the file's device header
    assert store.entry("nvidia-h100", "gpu[tensorrt-fp16-b8-s1]") is not None


def test_record_results_with_nothing_recordable_writes_nothing(baseline_dir: Path) -> None:
    store = BaselineStore(baseline_dir)
    assert record_results(store, [_result("m[x-fp32-b1-s1]", parity_passed=False)], "1") == {}
    assert not baseline_dir.exists() or store.slugs() == []


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRTPERF_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path / "locks"


def test_an_update_leaves_no_file_of_its_own_in_the_baseline_directory(baseline_dir: Path, lock_dir: Path) -> None:
    """The lock lived beside the files as ``<slug>.json.lock``; the baseline directory is usually committed."""
    store = BaselineStore(baseline_dir)
    store.update("cpu-test", DEVICE, {"a[x-fp32-b1-s1]": _entry(1.0)})
    store.update("cpu-test", DEVICE, {"b[x-fp32-b1-s1]": _entry(2.0)})
    assert sorted(p.name for p in baseline_dir.iterdir()) == ["cpu-test.json", "cpu-test.samples.json"]
    (lock,) = lock_dir.iterdir()
    assert lock == lock_path_for(baseline_dir / "cpu-test.json") and lock.name.startswith("cpu-test.json-")


def test_a_file_trtperf_did_not_make_stays_in_the_baseline_directory(baseline_dir: Path, lock_dir: Path) -> None:
    baseline_dir.mkdir()
    theirs = [baseline_dir / "cpu-test.json.lock", baseline_dir / ".cpu-test.json.tmp", baseline_dir / "README"]
    for path in theirs:
        path.write_text("the user's")
    BaselineStore(baseline_dir).update("cpu-test", DEVICE, {"a[x-fp32-b1-s1]": _entry(1.0)})
    assert all(path.read_text() == "the user's" for path in theirs)


def test_the_lock_outside_the_directory_still_excludes_a_concurrent_update(baseline_dir: Path, lock_dir: Path,
                                                                           tmp_path: Path) -> None:
    """Another writer (here a thread with its own lock file handle, as another process has) waits for the lock,
    which two spellings of one path share (a symlinked folder)."""
    from filelock import FileLock

    baseline_dir.mkdir()
    alias = tmp_path / "alias"
    alias.symlink_to(baseline_dir)
    assert lock_path_for(alias / "cpu-test.json") == lock_path_for(baseline_dir / "cpu-test.json")
    done = threading.Event()

    def update() -> None:
        BaselineStore(alias).update("cpu-test", DEVICE, {"a[x-fp32-b1-s1]": _entry(1.0)})
        done.set()

    with FileLock(str(lock_path_for(baseline_dir / "cpu-test.json"))):
        writer = threading.Thread(target=update)
        writer.start()
        assert not done.wait(0.3), "the update must wait for the lock"
    writer.join(10)
    assert done.is_set() and "a[x-fp32-b1-s1]" in load_baseline_file(baseline_dir / "cpu-test.json").entries


def test_user_lock_dir_per_user_unless_moved() -> None:
    import os
    import tempfile

    assert user_lock_dir({"TRTPERF_LOCK_DIR": "/x/locks", "XDG_RUNTIME_DIR": "/run/user/7"}) == Path("/x/locks")
    assert user_lock_dir({"XDG_RUNTIME_DIR": "/run/user/7"}) == Path("/run/user/7/trtperf-locks")
    assert user_lock_dir({}) == Path(tempfile.gettempdir()) / f"trtperf-locks-{os.getuid()}"
