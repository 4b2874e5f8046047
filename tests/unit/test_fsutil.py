"""Atomic writes: the old file or the new one, never half of one, and no temp files left behind."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trtperf.errors import TrtperfUsageError
from trtperf.fsutil import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    check_writable,
    dumps_json,
    file_sha256,
    make_temp_dir,
    remove_orphans,
)


class InjectedFailure(Exception):
    """Raised inside an atomic block by the tests."""


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "data.bin"  # parents are created
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert [p.name for p in target.parent.iterdir()] == ["data.bin"]


def test_failure_inside_the_block_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "data.json"
    atomic_write_json(target, {"v": 1})
    before = target.read_bytes()
    with pytest.raises(InjectedFailure), atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise InjectedFailure
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_failure_before_the_first_write_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "never.bin"
    with pytest.raises(InjectedFailure), atomic_path(target):
        raise InjectedFailure
    assert list(tmp_path.iterdir()) == []


def test_temp_file_is_beside_the_target_and_hidden(tmp_path: Path) -> None:
    target = tmp_path / "x.onnx"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".x.onnx.") and tmp.name.endswith(".tmp")
        tmp.write_bytes(b"1")
    assert not tmp.exists()


def test_dumps_json_is_sorted_indented_and_ends_with_a_newline() -> None:
    text = dumps_json({"b": 1, "a": {"d": 2, "c": [1, 2]}})
    assert text == '{\n  "a": {\n    "c": [\n      1,\n      2\n    ],\n    "d": 2\n  },\n  "b": 1\n}\n'


@given(st.binary(max_size=4096))
def test_file_sha256_matches_hashlib(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("sha") / "f"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_file_sha256_over_several_blocks(tmp_path: Path) -> None:
    data = bytes(range(256)) * ((3 << 20) // 256 + 7)  # > 3 read blocks of 1 MiB
    path = tmp_path / "big"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=20)  # each example fsyncs a file
@given(json_values)
def test_atomic_write_json_round_trips(tmp_path_factory: pytest.TempPathFactory, value: object) -> None:
    path = tmp_path_factory.mktemp("json") / "v.json"
    atomic_write_json(path, value)
    assert json.loads(path.read_text()) == value
    assert path.read_text().endswith("\n")


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    """Issue 12: mkstemp's 0600 made baselines, results and cache entries unreadable to a group."""
    import os

    old = os.umask(umask)
    try:
        atomic_write_json(tmp_path / "baseline.json", {"a": 1})
        directory = make_temp_dir(tmp_path / "entry")
    finally:
        os.umask(old)
    assert (tmp_path / "baseline.json").stat().st_mode & 0o777 == mode
    assert directory.stat().st_mode & 0o777 == mode | 0o111 & ~umask


def test_only_trtperfs_own_temporaries_are_orphans(tmp_path: Path) -> None:
    target = tmp_path / "cpu.json"
    ours = [tmp_path / ".cpu.json.trtperf-abc_123.tmp", tmp_path / ".cpu.json.trtperf-x.tmp"]
    theirs = [tmp_path / ".cpu.json.tmp", tmp_path / ".cpu.json.swp", tmp_path / ".cpu.json.x.trtperf-abc.tmp",
              tmp_path / ".cpu.jsonl.trtperf-abc.tmp", tmp_path / "cpu.json.trtperf-abc.tmp"]
    for path in ours + theirs:
        path.write_text("")
    assert sorted(remove_orphans(target)) == sorted(ours)
    assert all(p.exists() for p in theirs)


def test_check_writable(tmp_path: Path) -> None:
    assert check_writable(tmp_path / "results.json", "--trtperf-results") == ""
    assert check_writable(tmp_path / "new" / "dir" / "results.json", "--trtperf-results") == (
        f"{tmp_path / 'new' / 'dir'} did not exist; created it")
    assert (tmp_path / "new" / "dir").is_dir()
    # Found by a new-user run: root passes os.access on /proc, so the path was accepted and the
    # results write failed only after every case had run.
    if Path("/proc").is_dir():
        with pytest.raises(TrtperfUsageError, match=r"--trtperf-results /proc/nope/r.json cannot be created"):
            check_writable(Path("/proc/nope/r.json"), "--trtperf-results")
    (tmp_path / "file").write_text("")
    with pytest.raises(TrtperfUsageError, match=r"--trtperf-results .* cannot be created: .*file is a file"):
        check_writable(tmp_path / "file" / "results.json", "--trtperf-results")
    with pytest.raises(TrtperfUsageError, match="is a directory; give a file path"):
        check_writable(tmp_path, "--trtperf-results")
    with pytest.raises(TrtperfUsageError, match="is not a directory"):
        check_writable(tmp_path / "file", "--trtperf-baseline-dir", directory=True)
