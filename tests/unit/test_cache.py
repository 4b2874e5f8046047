"""The artifact cache: hits and misses, keys, integrity checks, atomicity, locking, schema tag."""

from __future__ import annotations

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
    assert entry.path == cache_dir / "engine-x" / entry.key[:2] / f"{entry.key}.plan"
    assert entry.path.with_name(entry.path.name + ".meta.json").is_file()
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
    with pytest.warns(CacheCorruptionWarning, match=r"ONNX export of mlp is corrupt: .* is 10 bytes, expected 1000"):
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


def test_schema_tag_change_clears_the_cache(cache_dir: Path) -> None:
    produce = ProducerSpy()
    entry = ArtifactCache(cache_dir).get_or_create("onnx", PARTS, produce)
    assert (cache_dir / "CACHE_SCHEMA").read_text() == f"{CACHE_SCHEMA}\n"
    (cache_dir / "CACHE_SCHEMA").write_text("0\n")
    ArtifactCache(cache_dir)
    assert not entry.path.exists()
    assert not (cache_dir / "onnx").exists()
    assert (cache_dir / "CACHE_SCHEMA").read_text() == f"{CACHE_SCHEMA}\n"
    assert not ArtifactCache(cache_dir).get_or_create("onnx", PARTS, produce).hit
    assert produce.calls == 2


def test_a_fresh_directory_gets_the_tag_and_keeps_foreign_files(tmp_path: Path) -> None:
    tmp_path.joinpath("README").write_text("mine")
    ArtifactCache(tmp_path)
    assert (tmp_path / "CACHE_SCHEMA").read_text() == f"{CACHE_SCHEMA}\n"
    assert (tmp_path / "README").read_text() == "mine"



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
