"""The artifact cache: hits and misses, keys, integrity checks, atomicity, locking, schema tag."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import trtperf.cache
from trtperf.cache import CACHE_SCHEMA, ArtifactCache, CacheCorruptionWarning, cache_key
from trtperf.errors import CacheError

PARTS = {"model": "mlp", "weights": "abc", "opset": 18}


class ProducerSpy:
    """A produce callback that writes fixed bytes and counts its calls."""

    def __init__(self, data: bytes = b"artifact bytes", extra: dict[str, Any] | None = None) -> None:
        self.data = data
        self.extra = extra
        self.calls = 0

    def __call__(self, tmp: Path) -> dict[str, Any] | None:
        self.calls += 1
        tmp.write_bytes(self.data)
        return self.extra


class InjectedFailure(Exception):
    """Raised by a producer in these tests."""


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def test_miss_then_hit(cache: ArtifactCache) -> None:
    produce = ProducerSpy(extra={"build_s": 1.5})
    first = cache.get_or_create("onnx", PARTS, produce, suffix=".onnx")
    second = cache.get_or_create("onnx", dict(PARTS), produce, suffix=".onnx")
    assert (first.hit, second.hit) == (False, True)
    assert produce.calls == 1
    assert first.path == second.path == cache.path_for("onnx", first.key, ".onnx")
    assert first.path.read_bytes() == b"artifact bytes"
    assert second.meta["extra"] == {"build_s": 1.5}
    assert second.meta["parts"] == PARTS
    assert second.meta["size"] == len(b"artifact bytes")


def test_layout(cache: ArtifactCache, cache_dir: Path) -> None:
    entry = cache.get_or_create("engine-x", PARTS, ProducerSpy(), suffix=".plan")
    root = cache_dir / f"trtperf-cache-v{CACHE_SCHEMA}"
    assert cache.root == root
    assert entry.path == root / "engine-x" / entry.key[:2] / entry.key / f"{entry.key}.plan"
    assert sorted(p.name for p in entry.path.parent.iterdir()) == [f"{entry.key}.plan", f"{entry.key}.plan.meta.json"]
    assert cache.sidecar(entry, "layers.json") == entry.path.with_name(f"{entry.key}.plan.layers.json")


def test_entries_survive_reopening(cache_dir: Path) -> None:
    produce = ProducerSpy()
    ArtifactCache(cache_dir).get_or_create("onnx", PARTS, produce)
    assert ArtifactCache(cache_dir).get_or_create("onnx", PARTS, produce).hit
    assert produce.calls == 1


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
parts_strategy = st.dictionaries(
    st.text(max_size=8),
    json_scalars | st.lists(json_scalars, max_size=3) | st.dictionaries(st.text(max_size=4), json_scalars, max_size=3),
    max_size=6,
)


def _reversed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    return value


@given(parts_strategy)
def test_key_does_not_depend_on_dict_order(parts: dict[str, Any]) -> None:
    assert cache_key("onnx", parts) == cache_key("onnx", _reversed(parts))


@given(parts_strategy, st.text(max_size=8), json_scalars)
def test_changing_any_part_changes_the_key(parts: dict[str, Any], name: str, value: Any) -> None:
    changed = dict(parts)
    changed[name] = {"__changed__": value}  # keys of generated dicts are at most 4 characters
    assert cache_key("onnx", parts) != cache_key("onnx", changed)


@pytest.mark.parametrize(
    "other",
    [
        {**PARTS, "weights": "abd"},
        {**PARTS, "opset": 17},
        {**PARTS, "opset": "18"},
        {k: v for k, v in PARTS.items() if k != "opset"},
        {**PARTS, "extra": None},
    ],
)
def test_different_parts_give_different_keys_and_entries(cache: ArtifactCache, other: dict[str, Any]) -> None:
    assert cache_key("onnx", PARTS) != cache_key("onnx", other)
    produce = ProducerSpy()
    a = cache.get_or_create("onnx", PARTS, produce)
    b = cache.get_or_create("onnx", other, produce)
    assert not b.hit and a.path != b.path
    assert produce.calls == 2


def test_kind_and_schema_are_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = cache_key("onnx", PARTS)
    assert cache_key("engine-onnxruntime", PARTS) != key
    monkeypatch.setattr(trtperf.cache, "CACHE_SCHEMA", CACHE_SCHEMA + 1)
    assert cache_key("onnx", PARTS) != key


def _meta(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def test_truncated_artifact_is_rebuilt_with_a_warning(cache: ArtifactCache) -> None:
    produce = ProducerSpy(b"0123456789" * 100)
    entry = cache.get_or_create("onnx", PARTS, produce, suffix=".onnx", describe="ONNX export of mlp")
    entry.path.write_bytes(entry.path.read_bytes()[:10])
    with pytest.warns(CacheCorruptionWarning, match=r"ONNX export of mlp was corrupt \(.* is 10 bytes, expected 1000"):
        again = cache.get_or_create("onnx", PARTS, produce, suffix=".onnx", describe="ONNX export of mlp")
    assert not again.hit and produce.calls == 2
    assert again.path.read_bytes() == b"0123456789" * 100
    assert cache.get_or_create("onnx", PARTS, produce, suffix=".onnx").hit  # and now trusted again


def test_same_size_corruption_is_caught_by_the_digest(cache: ArtifactCache) -> None:
    produce = ProducerSpy(b"abcdef")
    entry = cache.get_or_create("onnx", PARTS, produce)
    entry.path.write_bytes(b"abcdeX")
    with pytest.warns(CacheCorruptionWarning, match="does not match its recorded SHA-256"):
        again = cache.get_or_create("onnx", PARTS, produce)
    assert again.path.read_bytes() == b"abcdef"


@pytest.mark.parametrize("damage", ["garbage", "empty", "deleted"])
def test_corrupted_metadata_is_rebuilt_with_a_warning(cache: ArtifactCache, damage: str) -> None:
    produce = ProducerSpy()
    entry = cache.get_or_create("onnx", PARTS, produce)
    meta = _meta(entry.path)
    if damage == "garbage":
        meta.write_text("{not json")
    elif damage == "empty":
        meta.write_text("")
    else:
        meta.unlink()
    with pytest.warns(CacheCorruptionWarning, match="unreadable metadata"):
        again = cache.get_or_create("onnx", PARTS, produce)
    assert not again.hit and produce.calls == 2
    assert json.loads(meta.read_text())["sha256"] == again.meta["sha256"]


def test_missing_artifact_with_metadata_is_rebuilt(cache: ArtifactCache) -> None:
    produce = ProducerSpy()
    entry = cache.get_or_create("onnx", PARTS, produce)
    entry.path.unlink()
    with pytest.warns(CacheCorruptionWarning, match="is missing"):
        assert not cache.get_or_create("onnx", PARTS, produce).hit


def test_a_failing_producer_leaves_no_artifact_no_metadata_and_no_temp_file(cache: ArtifactCache,
                                                                           cache_dir: Path) -> None:
    def produce(tmp: Path) -> None:
        tmp.write_bytes(b"half an eng")
        raise InjectedFailure("builder crashed")

    before = _files(cache_dir)
    with pytest.raises(InjectedFailure, match="builder crashed"):
        cache.get_or_create("onnx", PARTS, produce)
    assert _files(cache_dir) == before
    spy = ProducerSpy()
    assert not cache.get_or_create("onnx", PARTS, spy).hit  # no warning: nothing half-written to distrust
    assert spy.calls == 1


def test_a_producer_that_writes_nothing_is_an_error(cache: ArtifactCache, cache_dir: Path) -> None:
    before = _files(cache_dir)
    with pytest.raises(CacheError, match="producing engine for b8 wrote nothing"):
        cache.get_or_create("engine", PARTS, lambda tmp: None, describe="engine for b8")
    assert _files(cache_dir) == before


def test_concurrent_threads_produce_once(cache: ArtifactCache) -> None:
    calls: list[int] = []
    entries: list[Any] = []

    def produce(tmp: Path) -> None:
        calls.append(1)
        time.sleep(0.05)
        tmp.write_bytes(b"built once")

    def worker() -> None:
        entries.append(cache.get_or_create("engine", PARTS, produce))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert sorted(e.hit for e in entries) == [False] + [True] * 5
    assert len({e.meta["sha256"] for e in entries}) == 1


PRODUCER_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from trtperf.cache import ArtifactCache

    root, log = Path(sys.argv[1]), sys.argv[2]
    while not (root / "go").exists():  # start together
        time.sleep(0.005)

    def produce(tmp):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\\n")
        time.sleep(0.3)
        tmp.write_bytes(b"built by one process")

    entry = ArtifactCache(root / "cache").get_or_create("engine", {"k": 1}, produce)
    print(entry.hit, entry.path.read_bytes().decode())
    """
)


def test_concurrent_processes_produce_once(tmp_path: Path) -> None:
    log = tmp_path / "produced.log"
    procs = [
        subprocess.Popen([sys.executable, "-c", PRODUCER_SCRIPT, str(tmp_path), str(log)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    time.sleep(0.2)
    (tmp_path / "go").touch()
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert len(log.read_text().splitlines()) == 1
    assert sorted(out for out, _ in outputs) == sorted(
        ["False built by one process\n"] + ["True built by one process\n"] * 2
    )


@pytest.mark.parametrize("content", ["null", "[]", "3"])
def test_metadata_that_is_not_an_object_is_rebuilt(cache: ArtifactCache, content: str) -> None:
    produce = ProducerSpy()
    entry = cache.get_or_create("onnx", PARTS, produce)
    _meta(entry.path).write_text(content)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = cache.get_or_create("onnx", PARTS, produce)
    assert not again.hit
    assert [w.category for w in caught] == [CacheCorruptionWarning]


# -- trtperf deletes only what it created (issue 12) --------------------------------------------------
def _project_folder(tmp_path: Path) -> Path:
    """A directory that is not trtperf's: source, a git directory, and a stale schema-1 tag."""
    folder = tmp_path / "project"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "model.py").write_text("print('mine')\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "onnx").mkdir()  # a name that schema 1 used for its own entries
    (folder / "onnx" / "notes.txt").write_text("mine too")
    (folder / "CACHE_SCHEMA").write_text("")  # as a killed schema-1 first run left it
    (folder / ".draft.tmp").write_text("an editor's temp file")
    return folder


def _tree(folder: Path, exclude: str) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not p.relative_to(folder).parts[0].startswith(exclude)}


def test_a_cache_in_a_folder_of_other_files_never_touches_them(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _project_folder(tmp_path)
    before = _tree(folder, "trtperf-cache-")
    produce = ProducerSpy()
    ArtifactCache(folder).get_or_create("onnx", PARTS, produce)
    assert _tree(folder, "trtperf-cache-") == before
    # A schema change: a new root beside the old one; the old entries and foreign files stay.
    monkeypatch.setattr(trtperf.cache, "CACHE_SCHEMA", CACHE_SCHEMA + 1)
    newer = ArtifactCache(folder)
    assert newer.root.name == f"trtperf-cache-v{CACHE_SCHEMA + 1}"
    assert not newer.get_or_create("onnx", PARTS, produce).hit
    assert _tree(folder, "trtperf-cache-") == before
    assert len(list((folder / f"trtperf-cache-v{CACHE_SCHEMA}").rglob("*.meta.json"))) == 1
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("trtperf-cache-")) == [
        f"trtperf-cache-v{CACHE_SCHEMA}", f"trtperf-cache-v{CACHE_SCHEMA + 1}"]


def test_the_root_is_marked_and_a_damaged_marker_costs_nothing(cache_dir: Path) -> None:
    produce = ProducerSpy()
    cache = ArtifactCache(cache_dir)
    marker = cache.root / trtperf.cache.MARKER
    assert json.loads(marker.read_text()) == {"cache_schema": CACHE_SCHEMA, "created_by": "trtperf"}
    assert (cache.root / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    cache.get_or_create("onnx", PARTS, produce)
    marker.write_text("")  # a kill during a non-atomic write would have left this
    again = ArtifactCache(cache_dir)
    assert json.loads(marker.read_text())["cache_schema"] == CACHE_SCHEMA
    assert again.get_or_create("onnx", PARTS, produce).hit and produce.calls == 1
    assert not [p for p in cache.root.iterdir() if p.name.endswith(".tmp")]


# -- a cache that heals -------------------------------------------------------------------------------
def test_artifact_and_metadata_appear_together(cache: ArtifactCache) -> None:
    seen: list[bool] = []

    def produce(tmp: Path) -> None:
        tmp.write_bytes(b"x" * 100)
        entry_dir = cache.entry_dir("onnx", cache_key("onnx", PARTS))
        seen.append(entry_dir.exists())  # while producing, the entry does not exist at all

    entry = cache.get_or_create("onnx", PARTS, produce)
    assert seen == [False]
    assert ArtifactCache.meta_path(entry.path).is_file()


def test_orphans_of_a_killed_writer_are_removed_on_the_next_access(cache: ArtifactCache) -> None:
    key = cache_key("onnx", PARTS)
    parent = cache.entry_dir("onnx", key).parent
    parent.mkdir(parents=True)
    orphan_dir = parent / f".{key}.trtperf-abc123_x.tmp"
    orphan_dir.mkdir()
    (orphan_dir / f"{key}.onnx").write_bytes(b"half" * 1000)
    foreign = [parent / ".notes.tmp", parent / f".{key}.other.tmp", parent / f".{key}x.trtperf-abc.tmp"]
    for path in foreign:
        path.write_text("not trtperf's")
    entry = cache.get_or_create("onnx", PARTS, ProducerSpy(), suffix=".onnx")
    assert not orphan_dir.exists()
    assert all(path.read_text() == "not trtperf's" for path in foreign)
    assert entry.path.read_bytes() == b"artifact bytes"


def test_a_corrupt_entry_is_rebuilt_even_when_warnings_are_errors(cache: ArtifactCache) -> None:
    produce = ProducerSpy(b"0123456789" * 10)
    entry = cache.get_or_create("onnx", PARTS, produce, suffix=".onnx")
    entry.path.write_bytes(b"01234")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the repair does not raise: the entry is good again
        repaired = cache.get_or_create("onnx", PARTS, produce, suffix=".onnx")
        again = cache.get_or_create("onnx", PARTS, produce, suffix=".onnx")
    assert not repaired.hit and again.hit and again.path.read_bytes() == b"0123456789" * 10
    assert produce.calls == 2
    (repair,) = cache.take_repairs()
    assert repair.startswith("cache entry repaired: ") and repair.endswith("rebuilt it")
    assert cache.take_repairs() == []


def test_an_entry_without_its_metadata_is_rebuilt(cache: ArtifactCache) -> None:
    produce = ProducerSpy()
    entry = cache.get_or_create("onnx", PARTS, produce)
    ArtifactCache.meta_path(entry.path).unlink()
    with pytest.warns(CacheCorruptionWarning, match="unreadable metadata"):
        assert not cache.get_or_create("onnx", PARTS, produce).hit
    assert cache.get_or_create("onnx", PARTS, produce).hit


# -- provenance ---------------------------------------------------------------------------------------
def test_a_dropped_in_artifact_with_matching_metadata_is_rebuilt(cache: ArtifactCache) -> None:
    """Write access to the cache is not enough: the metadata must carry this user's HMAC."""
    produce = ProducerSpy(b"the real plan")
    entry = cache.get_or_create("engine-tensorrt", PARTS, produce, suffix=".plan")
    planted = b"an attacker's plan"
    meta = json.loads(ArtifactCache.meta_path(entry.path).read_text())
    meta.update(size=len(planted), sha256=hashlib.sha256(planted).hexdigest())
    entry.path.write_bytes(planted)
    ArtifactCache.meta_path(entry.path).write_text(json.dumps(meta))
    assert cache.find(entry.key) is None
    with pytest.warns(CacheCorruptionWarning, match="was not written by trtperf under this user's key"):
        again = cache.get_or_create("engine-tensorrt", PARTS, produce, suffix=".plan")
    assert again.path.read_bytes() == b"the real plan" and produce.calls == 2


def test_an_entry_signed_with_another_key_is_rebuilt(cache_dir: Path, tmp_path: Path) -> None:
    produce = ProducerSpy()
    ArtifactCache(cache_dir, key_file=tmp_path / "other.key").get_or_create("onnx", PARTS, produce)
    with pytest.warns(CacheCorruptionWarning, match="another key"):
        assert not ArtifactCache(cache_dir).get_or_create("onnx", PARTS, produce).hit


def test_the_key_lives_in_the_config_dir_owner_only(cache_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    cache = ArtifactCache(cache_dir)
    cache.get_or_create("onnx", PARTS, ProducerSpy())
    key_file = tmp_path / "config" / "trtperf" / "cache.key"
    assert cache.key_file == key_file
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(key_file.read_text().strip())) == 32
    assert not list(cache.root.rglob("*.key"))
    key_file.chmod(0o622)
    with pytest.raises(CacheError, match="writable by other users"):
        ArtifactCache(cache_dir).get_or_create("onnx", {"other": 1}, ProducerSpy())


# -- shared use ---------------------------------------------------------------------------------------
def test_files_and_directories_honour_the_umask(cache_dir: Path) -> None:
    import os

    old = os.umask(0o002)
    try:
        entry = ArtifactCache(cache_dir).get_or_create("onnx", PARTS, ProducerSpy())
    finally:
        os.umask(old)
    assert entry.path.parent.stat().st_mode & 0o777 == 0o775
    assert entry.path.stat().st_mode & 0o777 == 0o664
    assert ArtifactCache.meta_path(entry.path).stat().st_mode & 0o777 == 0o664


def test_a_read_only_cache_serves_hits_without_locks_and_a_miss_says_so(cache_dir: Path) -> None:
    produce = ProducerSpy()
    ArtifactCache(cache_dir).get_or_create("onnx", PARTS, produce, describe="ONNX export of mlp")
    locks_before = sorted(cache_dir.rglob("*.lock"))
    shared = ArtifactCache(cache_dir, read_only=True)
    assert shared.get_or_create("onnx", PARTS, produce).hit
    assert sorted(cache_dir.rglob("*.lock")) == locks_before
    with pytest.raises(CacheError, match=r"is read-only and holds no usable ONNX export of cnn \(not in the cache\)"):
        shared.get_or_create("onnx", {"model": "cnn"}, produce, describe="ONNX export of cnn")
    assert produce.calls == 1


@pytest.mark.skipif(sys.platform == "win32" or __import__("os").geteuid() == 0,
                    reason="root writes through permission bits")
def test_a_cache_without_write_permission_is_detected_as_read_only(cache_dir: Path) -> None:
    ArtifactCache(cache_dir).get_or_create("onnx", PARTS, ProducerSpy())
    for path in [cache_dir, *cache_dir.rglob("*")]:
        if path.is_dir():
            path.chmod(0o555)
    try:
        shared = ArtifactCache(cache_dir)
        assert shared.read_only and shared.get_or_create("onnx", PARTS, ProducerSpy()).hit
    finally:
        for path in [cache_dir, *cache_dir.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)


def test_a_signed_sidecar_round_trips_and_rejects_what_this_key_did_not_sign(cache: ArtifactCache,
                                                                             tmp_path: Path) -> None:
    entry = cache.get_or_create("engine", PARTS, ProducerSpy(), suffix=".plan")
    path = entry.path.with_name(entry.path.name + ".runtime-cache-gpu")
    assert cache.read_signed_sidecar(path) is None  # absent
    blob = bytes(range(256)) * 4 + b"\n\n"  # newlines inside the data are data
    assert cache.write_signed_sidecar(path, blob)
    assert cache.read_signed_sidecar(path) == blob
    raw = path.read_bytes()
    path.write_bytes(raw[:-1])  # truncated
    assert cache.read_signed_sidecar(path) is None
    path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # same size, one bit
    assert cache.read_signed_sidecar(path) is None
    path.write_bytes(blob)  # an unsigned file dropped there
    assert cache.read_signed_sidecar(path) is None
    path.write_bytes(raw)
    moved = path.with_name(path.name.replace("gpu", "other-gpu"))  # signed for another name
    moved.write_bytes(raw)
    assert cache.read_signed_sidecar(path) == blob and cache.read_signed_sidecar(moved) is None
    other_key = ArtifactCache(cache.directory, key_file=tmp_path / "other.key")
    assert other_key.read_signed_sidecar(path) is None
    assert not list(path.parent.glob("*.tmp"))


def test_a_read_only_cache_reads_signed_sidecars_and_writes_none(cache: ArtifactCache) -> None:
    entry = cache.get_or_create("engine", PARTS, ProducerSpy(), suffix=".plan")
    path = entry.path.with_name(entry.path.name + ".runtime-cache-gpu")
    cache.write_signed_sidecar(path, b"kernels")
    shared = ArtifactCache(cache.directory, key_file=cache.key_file, read_only=True)
    assert shared.read_signed_sidecar(path) == b"kernels"
    assert not shared.write_signed_sidecar(path, b"other") and cache.read_signed_sidecar(path) == b"kernels"
