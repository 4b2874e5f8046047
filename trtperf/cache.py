"""Content-addressed artifact cache: ONNX exports, precision variants, engines, reference outputs.

A key hashes everything that changes the artifact (input digests, backend and version, device
where relevant, build settings, schema version). Writes are atomic and guarded by a per-key file
lock, so parallel workers build each artifact once. Every read checks size and SHA-256 against
the entry's metadata; a corrupt or truncated entry is rebuilt with a warning, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from trtperf.errors import CacheError
from trtperf.fsutil import atomic_path, atomic_write_json, file_sha256

CACHE_SCHEMA = 1
_TAG_FILE = "CACHE_SCHEMA"


class CacheCorruptionWarning(UserWarning):
    """A cache entry failed its integrity check and is being rebuilt."""


@dataclass(frozen=True)
class CacheEntry:
    path: Path
    key: str
    hit: bool
    meta: Mapping[str, Any]


def cache_key(kind: str, parts: Mapping[str, Any]) -> str:
    """SHA-256 over a canonical JSON of the parts; order of keys does not matter."""
    payload = json.dumps({"cache_schema": CACHE_SCHEMA, "kind": kind, "parts": parts}, sort_keys=True,
                         default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class ArtifactCache:
    """A directory of artifacts ``<root>/<kind>/<key[:2]>/<key><suffix>`` with ``.meta.json`` beside."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._check_schema_tag()

    def _check_schema_tag(self) -> None:
        tag = self.root / _TAG_FILE
        with FileLock(str(self.root / ".schema.lock")):
            current = tag.read_text().strip() if tag.exists() else None
            if current == str(CACHE_SCHEMA):
                return
            if current is not None:
                # Entries from another layout could be misread: start over.
                for child in self.root.iterdir():
                    if child.is_dir():
                        shutil.rmtree(child, ignore_errors=True)
            tag.write_text(f"{CACHE_SCHEMA}\n")

    def path_for(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / key[:2] / f"{key}{suffix}"

    def _meta_path(self, path: Path) -> Path:
        return path.with_name(path.name + ".meta.json")

    def _verify(self, path: Path) -> tuple[bool, str, Mapping[str, Any]]:
        meta_path = self._meta_path(path)
        if not path.exists() and not meta_path.exists():
            return False, "", {}
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            return False, f"unreadable metadata {meta_path} ({exc})", {}
        if not isinstance(meta, dict):
            return False, f"metadata {meta_path} is not a JSON object", {}
        if not path.exists():
            return False, f"artifact {path} is missing", meta
        size = path.stat().st_size
        if size != meta.get("size"):
            return False, f"{path} is {size} bytes, expected {meta.get('size')} (truncated?)", meta
        if file_sha256(path) != meta.get("sha256"):
            return False, f"{path} does not match its recorded SHA-256", meta
        return True, "", meta

    def get_or_create(
        self,
        kind: str,
        parts: Mapping[str, Any],
        produce: Callable[[Path], Mapping[str, Any] | None],
        suffix: str = "",
        describe: str = "",
    ) -> CacheEntry:
        """Return the entry for ``parts``, calling ``produce(tmp_path)`` to create it when absent.

        ``produce`` writes the artifact to the path it is given and may return extra metadata
        (stored in the entry's ``meta["extra"]``). Under the per-key lock, so concurrent callers
        produce once.
        """
        key = cache_key(kind, parts)
        path = self.path_for(kind, key, suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_name(path.name + ".lock"))):
            ok, problem, meta = self._verify(path)
            if ok:
                return CacheEntry(path=path, key=key, hit=True, meta=meta)
            if problem:
                warnings.warn(
                    CacheCorruptionWarning(
                        f"cache entry for {describe or kind} is corrupt: {problem}; rebuilding it"
                    ),
                    stacklevel=2,
                )
                path.unlink(missing_ok=True)
                self._meta_path(path).unlink(missing_ok=True)
            with atomic_path(path) as tmp:
                extra = produce(tmp)
                if not tmp.exists() or tmp.stat().st_size == 0:
                    raise CacheError(f"producing {describe or kind} wrote nothing to {tmp}")
            meta = {
                "kind": kind,
                "key": key,
                "parts": json.loads(json.dumps(parts, default=str)),
                "size": path.stat().st_size,
                "sha256": file_sha256(path),
                "extra": dict(extra or {}),
            }
            # The metadata is written last: an artifact without it is never trusted.
            atomic_write_json(self._meta_path(path), meta)
            return CacheEntry(path=path, key=key, hit=False, meta=meta)

    def find(self, key: str) -> Path | None:
        """The verified artifact of ``key`` (any kind), or None when it is gone or fails its check.

        For artifacts known only by key, e.g. the engine a baseline was measured on (paired A/B).
        """
        if len(key) < 3 or not all(c in "0123456789abcdef" for c in key):
            return None
        for meta_path in sorted(self.root.glob(f"*/{key[:2]}/{key}*.meta.json")):
            artifact = meta_path.with_name(meta_path.name[: -len(".meta.json")])
            ok, _, meta = self._verify(artifact)
            if ok and meta.get("key") == key:
                return artifact
        return None

    def sidecar(self, entry: CacheEntry, name: str) -> Path:
        """A path for a derived file stored beside an entry (e.g. a layer report)."""
        return entry.path.with_name(f"{entry.path.name}.{name}")
