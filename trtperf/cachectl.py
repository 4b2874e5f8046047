"""``trtperf cache ls | verify | prune``: look after the artifact cache (issue 15, item 7).

Only files of trtperf's cache layout (:class:`trtperf.cache.ArtifactCache`) are listed, checked or
deleted: ``<root>/<kind>/<key[:2]>/<key><suffix>`` with ``<key><suffix>.meta.json`` beside it, where
``key`` is 64 hex digits and the meta's ``key``/``kind`` match the path. Anything else under the root
(your own files, another tool's) is left alone. An entry is its artifact, its meta and its derived
files (``<key><suffix>.<name>``, e.g. a layer report).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from trtperf.fsutil import file_sha256

_KEY = re.compile(r"[0-9a-f]{64}")
META = ".meta.json"


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str
    artifact: Path
    meta_path: Path
    files: tuple[Path, ...]
    """Every file of the entry: artifact, meta, derived files (not lock files)."""
    size: int
    """Bytes of all its files."""
    mtime: float
    """Newest modification time of its files (seconds since the epoch): its last write."""


def entries(root: Path) -> Iterator[Entry]:
    """Every entry of trtperf's layout under ``root`` (see the module docstring)."""
    if not root.is_dir():
        return
    for meta_path in sorted(root.glob(f"*/*/*{META}")):
        kind_dir, shard = meta_path.parent.parent, meta_path.parent
        name = meta_path.name[: -len(META)]
        key = name[:64]
        if not _KEY.fullmatch(key) or shard.name != key[:2]:
            continue
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = None
        if isinstance(meta, dict) and (meta.get("key") != key or meta.get("kind") != kind_dir.name):
            continue  # not written by trtperf for this path
        artifact = shard / name
        files = [artifact] if artifact.exists() else []
        files.append(meta_path)
        files += [p for p in shard.glob(f"{name}.*") if p != meta_path and not p.name.endswith(".lock")]
        stats = [p.stat() for p in files if p.exists()]
        yield Entry(kind_dir.name, key, artifact, meta_path, tuple(files), sum(s.st_size for s in stats),
                    max((s.st_mtime for s in stats), default=0.0))


def verify(entry: Entry) -> str:
    """'' when the artifact matches its meta's size and SHA-256, else what is wrong."""
    try:
        meta = json.loads(entry.meta_path.read_text())
    except (OSError, ValueError) as exc:
        return f"unreadable metadata ({exc})"
    if not entry.artifact.exists():
        return "artifact missing"
    size = entry.artifact.stat().st_size
    if size != meta.get("size"):
        return f"{size} bytes, expected {meta.get('size')} (truncated?)"
    if file_sha256(entry.artifact) != meta.get("sha256"):
        return "SHA-256 does not match its metadata"
    return ""


def _remove(entry: Entry) -> bool:
    """Delete the entry's files under its per-key lock; False when another process holds the lock."""
    lock = entry.artifact.with_name(entry.artifact.name + ".lock")
    try:
        with FileLock(str(lock), timeout=0):
            entry.meta_path.unlink(missing_ok=True)  # the meta first: an artifact without it is never trusted
            for path in entry.files:
                path.unlink(missing_ok=True)
    except Timeout:
        return False
    lock.unlink(missing_ok=True)
    return True


def prune_plan(all_entries: list[Entry], older_than_days: float | None, max_size_gb: float | None,
               now: float | None = None) -> list[Entry]:
    """Which entries to delete (pure): those last written more than ``older_than_days`` ago, then the
    oldest of the rest until the total is at most ``max_size_gb`` (10^9 bytes)."""
    now = time.time() if now is None else now
    doomed: list[Entry] = []
    keep = sorted(all_entries, key=lambda e: e.mtime)
    if older_than_days is not None:
        cutoff = now - older_than_days * 86400
        doomed = [e for e in keep if e.mtime < cutoff]
        keep = [e for e in keep if e.mtime >= cutoff]
    if max_size_gb is not None:
        total = sum(e.size for e in keep)
        limit = max_size_gb * 1e9
        while keep and total > limit:
            oldest = keep.pop(0)
            doomed.append(oldest)
            total -= oldest.size
    return doomed


def prune(root: Path, older_than_days: float | None, max_size_gb: float | None,
          dry_run: bool = False) -> tuple[list[Entry], list[Entry]]:
    """Delete what :func:`prune_plan` picks; returns (deleted, skipped because in use)."""
    deleted, busy = [], []
    for entry in prune_plan(list(entries(root)), older_than_days, max_size_gb):
        if dry_run or _remove(entry):
            deleted.append(entry)
        else:
            busy.append(entry)
    return deleted, busy


def describe(entry: Entry) -> str:
    when = _dt.datetime.fromtimestamp(entry.mtime, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    return f"{entry.kind:<24} {entry.key[:16]}  {entry.size / 1e6:10.2f} MB  {when}  {entry.artifact.name[64:] or '-'}"
