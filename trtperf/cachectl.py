"""``trtperf cache ls | verify | prune``: look after the artifact cache (issue 15, item 7).

The layout belongs to :class:`trtperf.cache.ArtifactCache`: entries are directories
``<root>/<kind>/<key[:2]>/<key>/`` under trtperf's own root inside the cache directory, each holding
an artifact, its ``.meta.json`` and derived files (e.g. a layer report). Only such entry
directories are listed, checked or deleted; anything else under the cache directory (your files,
another tool's, an older schema's root) is left alone.
"""

from __future__ import annotations

import datetime as _dt
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from trtperf.cache import ArtifactCache

META = ".meta.json"


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str
    artifact: Path
    """The entry's artifact (``<key><suffix>``); may be missing in a damaged entry."""
    directory: Path
    size: int
    """Bytes of all its files."""
    mtime: float
    """Newest modification time of its files (seconds since the epoch): its last write."""


def entries(cache: ArtifactCache) -> Iterator[Entry]:
    """Every entry of ``cache`` (see the module docstring)."""
    for entry_dir in cache.entry_dirs():
        files = [p for p in entry_dir.iterdir() if p.is_file()]
        metas = [p for p in files if p.name.endswith(META)]
        artifact = (metas[0].with_name(metas[0].name[: -len(META)]) if metas
                    else next((p for p in files), entry_dir / entry_dir.name))
        stats = [p.stat() for p in files]
        yield Entry(entry_dir.parent.parent.name, entry_dir.name, artifact, entry_dir,
                    sum(s.st_size for s in stats), max((s.st_mtime for s in stats), default=0.0))


def verify(cache: ArtifactCache, entry: Entry) -> str:
    """'' when the entry is intact (size, SHA-256) and signed by this user's trtperf, else what is wrong."""
    return cache.verify(entry.artifact)


def _remove(cache: ArtifactCache, entry: Entry) -> bool:
    """Delete the entry directory under its per-key lock; False when another process holds the lock."""
    lock = cache.lock_path(entry.directory)
    try:
        with FileLock(str(lock), timeout=0):
            shutil.rmtree(entry.directory, ignore_errors=True)
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


def prune(cache: ArtifactCache, older_than_days: float | None, max_size_gb: float | None,
          dry_run: bool = False) -> tuple[list[Entry], list[Entry]]:
    """Delete what :func:`prune_plan` picks; returns (deleted, skipped because in use)."""
    deleted, busy = [], []
    for entry in prune_plan(list(entries(cache)), older_than_days, max_size_gb):
        if dry_run or _remove(cache, entry):
            deleted.append(entry)
        else:
            busy.append(entry)
    return deleted, busy


def describe(entry: Entry) -> str:
    when = _dt.datetime.fromtimestamp(entry.mtime, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    return f"{entry.kind:<24} {entry.key[:16]}  {entry.size / 1e6:10.2f} MB  {when}  {entry.artifact.name[64:] or '-'}"
