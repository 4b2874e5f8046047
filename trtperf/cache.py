"""Content-addressed artifact cache: ONNX exports, precision variants, engines, reference outputs.

A key hashes everything that changes the artifact (input digests, backend and version, device
where relevant, build settings, schema version).

Layout. trtperf keeps its entries in a dedicated root inside the directory it is given,
``<dir>/trtperf-cache-v<CACHE_SCHEMA>/``, marked as trtperf's by ``TRTPERF_CACHE.json`` (and a
standard ``CACHEDIR.TAG``). Nothing outside that root is ever written or deleted, so a cache
pointed at a directory that holds other files leaves them alone; a new schema gets a new root and
leaves the old one in place (delete it by hand when no older trtperf uses it).

Entries. One directory per entry, ``<root>/<kind>/<key[:2]>/<key>/``, holding the artifact
``<key><suffix>`` and its metadata ``<key><suffix>.meta.json`` (size, SHA-256, HMAC). An entry is
produced in a temporary directory beside it and renamed into place in one step, so a kill at any
point leaves either the whole entry or none (plus a temporary directory, removed by the next
access of the same key). Writes hold a per-key file lock, so parallel workers build each artifact
once.

Integrity and provenance. Every read checks size and SHA-256 against the metadata, and the
metadata's HMAC-SHA256 under a key kept outside the cache (:func:`default_key_file`, owner-only),
so a file dropped into the cache with a matching ``.meta.json`` is not trusted: write access to a
shared cache is not enough to plant an engine. A corrupt, truncated or unsigned entry is removed,
rebuilt, and then reported with a :class:`CacheCorruptionWarning` and in the case's notes; a warnings-as-errors
filter does not turn the repair into a failure (a new user's trial, 2026-12-07: a repaired engine failed its case
under ``filterwarnings = error``).

Read-only caches (a shared, pre-filled directory): hits are served without locks; a miss fails
with a :class:`~trtperf.errors.CacheError` that says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from trtperf.errors import CacheError
from trtperf.fsutil import (
    atomic_write_bytes,
    dumps_json,
    file_sha256,
    fsync_dir,
    make_temp_dir,
    remove_orphans,
)

CACHE_SCHEMA = 2
"""2: one directory per entry (artifact and metadata committed together), HMAC-signed metadata,
dedicated root ``trtperf-cache-v2``; inputs drawn in their own dtype (other reference outputs)."""
MARKER = "TRTPERF_CACHE.json"
CACHEDIR_TAG = "CACHEDIR.TAG"
_CACHEDIR_TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by trtperf.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)
KEY_BYTES = 32


def root_name(schema: int | None = None) -> str:
    """The dedicated root's name inside the cache directory (one per schema)."""
    return f"trtperf-cache-v{CACHE_SCHEMA if schema is None else schema}"


class CacheCorruptionWarning(UserWarning):
    """A cache entry failed its integrity or provenance check and was rebuilt."""


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


# -- the signing key -------------------------------------------------------------------------------
def default_key_file(env: Mapping[str, str] = os.environ) -> Path:
    """``$XDG_CONFIG_HOME/trtperf/cache.key`` (``~/.config/trtperf/cache.key``): outside every cache."""
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "trtperf" / "cache.key"


def load_or_create_key(path: Path) -> bytes:
    """The HMAC key in ``path``, created (random, mode 0600) when absent; CacheError when unusable.

    Created atomically (written to a temporary file, then hard-linked into place), so concurrent
    first runs agree on one key and a kill never leaves half a key.
    """
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
            try:
                os.write(fd, os.urandom(KEY_BYTES).hex().encode() + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # another process created it first: use theirs
            finally:
                os.unlink(tmp)
        except OSError as exc:
            raise CacheError(
                f"cannot create the cache signing key {path} ({exc}); make its directory writable, or point "
                f"--trtperf-cache-key-file at a file you own."
            ) from None
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise CacheError(f"cannot read the cache signing key {path} ({exc}).") from None
    if mode & 0o022:
        raise CacheError(
            f"the cache signing key {path} is writable by other users (mode {mode & 0o777:o}), so it proves "
            f"nothing; run `chmod go-w {path}`."
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise CacheError(
            f"the cache signing key {path} is not a hex key of at least 16 bytes; delete it and rerun "
            f"(a new key is made; cache entries signed with the old one are rebuilt)."
        )
    return key


def _signature(secret: bytes, meta: Mapping[str, Any]) -> str:
    signed = {name: meta.get(name) for name in ("kind", "key", "size", "sha256", "extra")}
    payload = json.dumps(signed, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hmac.new(secret, payload, hashlib.sha256).hexdigest()


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


class ArtifactCache:
    """Entries ``<dir>/trtperf-cache-v<N>/<kind>/<key[:2]>/<key>/<key><suffix>`` (+ ``.meta.json``)."""

    def __init__(self, directory: Path, key_file: Path | None = None, read_only: bool | None = None) -> None:
        """``read_only``: None detects it (the root cannot be created or written: a read-only mount, or
        a shared cache without write permission); True forces it."""
        self.directory = directory
        self.root = directory / root_name()
        self.key_file = key_file or default_key_file()
        self._secret: bytes | None = None
        self.repairs: list[str] = []
        """What was found corrupt and rebuilt since the caller last took them (:meth:`take_repairs`)."""
        self.read_only = bool(read_only)
        if self.read_only:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError:
            self.read_only = True  # cannot even create the root: nothing to serve, every lookup misses
        if not self.read_only and not _writable(self.root):
            self.read_only = True
        if not self.read_only:
            self._mark()

    def _mark(self) -> None:
        """Mark the root as trtperf's (atomic writes; every process writes the same content)."""
        marker = self.root / MARKER
        expected = dumps_json({"created_by": "trtperf", "cache_schema": CACHE_SCHEMA})
        try:
            if not marker.exists() or marker.read_text() != expected:
                atomic_write_bytes(marker, expected.encode())
            tag = self.root / CACHEDIR_TAG
            if not tag.exists():
                atomic_write_bytes(tag, _CACHEDIR_TAG_TEXT.encode())
        except OSError:
            self.read_only = True

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = load_or_create_key(self.key_file)
        return self._secret

    def sign(self, meta: Mapping[str, Any]) -> str:
        """The HMAC this user's trtperf stores in ``meta`` (for tools that rewrite an entry on purpose,
        such as tests simulating a miscompiled engine)."""
        return _signature(self.secret, meta)

    def entry_dir(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / key

    def path_for(self, kind: str, key: str, suffix: str) -> Path:
        return self.entry_dir(kind, key) / f"{key}{suffix}"

    @staticmethod
    def meta_path(path: Path) -> Path:
        return path.with_name(path.name + ".meta.json")

    def _verify(self, path: Path) -> tuple[bool, str, Mapping[str, Any]]:
        """(trusted, problem, meta): problem is '' when there is simply no entry."""
        entry_dir = path.parent
        if not entry_dir.exists() and not entry_dir.is_symlink():
            return False, "", {}
        if entry_dir.is_symlink() or not entry_dir.is_dir():
            return False, f"{entry_dir} is not a directory trtperf made", {}
        meta_path = self.meta_path(path)
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            return False, f"unreadable metadata {meta_path} ({exc})", {}
        if not isinstance(meta, dict):
            return False, f"metadata {meta_path} is not a JSON object", {}
        if not path.is_file():
            return False, f"artifact {path} is missing", meta
        size = path.stat().st_size
        if size != meta.get("size"):
            return False, f"{path} is {size} bytes, expected {meta.get('size')} (truncated?)", meta
        if file_sha256(path) != meta.get("sha256"):
            return False, f"{path} does not match its recorded SHA-256", meta
        signature = meta.get("hmac")
        if not isinstance(signature, str) or not hmac.compare_digest(signature, _signature(self.secret, meta)):
            return False, (f"{path} was not written by trtperf under this user's key {self.key_file} "
                           f"(a file dropped into the cache, or one signed with another key)"), meta
        return True, "", meta

    def verify(self, path: Path) -> str:
        """'' when the artifact at ``path`` is intact and signed by this user's trtperf, else what is wrong."""
        ok, problem, _ = self._verify(path)
        return "" if ok else (problem or "not in the cache")

    def entry_dirs(self) -> list[Path]:
        """Every entry directory of this cache's layout (``<kind>/<key[:2]>/<key>/``), nothing else."""
        found = []
        for entry_dir in sorted(self.root.glob("*/*/*")):
            key = entry_dir.name
            if (entry_dir.is_dir() and not entry_dir.is_symlink() and len(key) == 64
                    and all(c in "0123456789abcdef" for c in key) and entry_dir.parent.name == key[:2]):
                found.append(entry_dir)
        return found

    def lock_path(self, entry_dir: Path) -> Path:
        """The per-key lock guarding writes of the entry in ``entry_dir``."""
        return entry_dir.parent / f"{entry_dir.name}.lock"

    def find(self, key: str) -> Path | None:
        """The verified artifact of ``key`` (any kind), or None when it is absent, corrupt or unsigned."""
        if len(key) < 3 or not all(c in "0123456789abcdef" for c in key):
            return None
        for entry_dir in sorted(self.root.glob(f"*/{key[:2]}/{key}")):
            for meta_path in sorted(entry_dir.glob(f"{key}*.meta.json")):
                artifact = meta_path.with_name(meta_path.name[: -len(".meta.json")])
                try:
                    ok, _, meta = self._verify(artifact)
                except (OSError, CacheError):
                    continue
                if ok and meta.get("key") == key:
                    return artifact
        return None

    def get_or_create(
        self,
        kind: str,
        parts: Mapping[str, Any],
        produce: Callable[[Path], Mapping[str, Any] | None],
        suffix: str = "",
        describe: str = "",
    ) -> CacheEntry:
        """Return the entry for ``parts``, calling ``produce(tmp_path)`` to create it when absent.

        ``produce`` writes the artifact to the path it is given (which does not exist yet) and may
        return extra metadata (stored in the entry's ``meta["extra"]``). Under the per-key lock, so
        concurrent callers produce once. Raises CacheError on a miss in a read-only cache.
        """
        key = cache_key(kind, parts)
        path = self.path_for(kind, key, suffix)
        what = describe or kind
        if self.read_only:
            ok, problem, meta = self._verify(path)
            if ok:
                return CacheEntry(path=path, key=key, hit=True, meta=meta)
            raise CacheError(
                f"the cache {self.root} is read-only and holds no usable {what} ({problem or 'not in the cache'}); "
                f"fill it from a run with write access, or point --trtperf-cache-dir at a writable directory."
            )
        entry_dir = path.parent
        entry_dir.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.lock_path(entry_dir))):
            remove_orphans(entry_dir)  # a killed writer's temporary directory: no live writer owns it now
            ok, problem, meta = self._verify(path)
            if ok:
                return CacheEntry(path=path, key=key, hit=True, meta=meta)
            if entry_dir.is_symlink() or entry_dir.is_file():
                entry_dir.unlink()
            elif entry_dir.exists():
                shutil.rmtree(entry_dir)
            meta = self._produce(kind, key, parts, produce, path, what)
        if problem:
            message = f"cache entry repaired: {what} was corrupt ({problem}); rebuilt it"
            self.repairs.append(message)
            # Under a warnings-as-errors filter (pytest's filterwarnings = error) the entry is good again, so the
            # repair must not fail the case: it stays in the case's notes (take_repairs).
            with contextlib.suppress(CacheCorruptionWarning):
                warnings.warn(CacheCorruptionWarning(message), stacklevel=2)
        return CacheEntry(path=path, key=key, hit=False, meta=meta)

    def take_repairs(self) -> list[str]:
        """The repairs since the last call ("cache entry repaired: ... was corrupt (...); rebuilt it"), cleared."""
        taken, self.repairs = self.repairs, []
        return taken

    def _produce(self, kind: str, key: str, parts: Mapping[str, Any],
                 produce: Callable[[Path], Mapping[str, Any] | None], path: Path, what: str) -> dict[str, Any]:
        entry_dir = path.parent
        secret = self.secret  # before producing: a key problem costs no build
        tmp_dir = make_temp_dir(entry_dir)
        try:
            tmp = tmp_dir / path.name
            extra = produce(tmp)
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise CacheError(f"producing {what} wrote nothing to {tmp}")
            meta: dict[str, Any] = {
                "kind": kind,
                "key": key,
                "parts": json.loads(json.dumps(parts, default=str)),
                "size": tmp.stat().st_size,
                "sha256": file_sha256(tmp),
                "extra": json.loads(json.dumps(dict(extra or {}), default=str)),
            }
            meta["hmac"] = _signature(secret, meta)
            meta_tmp = self.meta_path(tmp)
            meta_tmp.write_text(dumps_json(meta))
            for file in (tmp, meta_tmp):
                with open(file, "rb+") as handle:
                    os.fsync(handle.fileno())
            fsync_dir(tmp_dir)
            os.rename(tmp_dir, entry_dir)  # artifact and metadata appear together, or not at all
            fsync_dir(entry_dir.parent)
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        return meta

    def sidecar(self, entry: CacheEntry, name: str) -> Path:
        """A path for a derived file stored beside an entry (e.g. a layer report); gone when it is rebuilt."""
        return entry.path.with_name(f"{entry.path.name}.{name}")

    def _sidecar_tag(self, path: Path, data: bytes) -> bytes:
        return hmac.new(self.secret, path.name.encode() + b"\0" + data, hashlib.sha256).hexdigest().encode()

    def write_signed_sidecar(self, path: Path, data: bytes) -> bool:
        """Replace the sidecar at ``path`` with ``data`` signed under this user's key, in one atomic
        write (a kill leaves the old file or the new one). False, writing nothing, in a read-only cache."""
        if self.read_only:
            return False
        atomic_write_bytes(path, self._sidecar_tag(path, data) + b"\n" + data)
        return True

    def read_signed_sidecar(self, path: Path) -> bytes | None:
        """The data of a sidecar :meth:`write_signed_sidecar` wrote for this ``path`` under this user's
        key; None when it is absent, unreadable, truncated, or not signed so (never raises OSError)."""
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        tag, newline, data = raw.partition(b"\n")
        if not newline or not hmac.compare_digest(tag, self._sidecar_tag(path, data)):
            return None
        return data
