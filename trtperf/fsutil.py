"""Atomic file writes: a kill mid-write leaves the old file or none, never half a file.

Temporary files and directories are named ``.<target name>.trtperf-<random>.tmp`` beside their
target, so that the orphans of a killed writer can be recognized as trtperf's own and removed
(:func:`remove_orphans`) by the next writer of the same target, under the same lock. Files and
directories get the permissions the process umask allows (``mkstemp`` alone would make them 0600,
which breaks a cache or baseline directory shared between users).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TMP_TAG = ".trtperf-"
TMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux /proc), else swapped briefly."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: Path, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open()``/``mkdir()`` would have: 0666 (dirs 0777) minus the umask."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def temp_name_prefix(target: Path) -> str:
    return f".{target.name}{TMP_TAG}"


def is_orphan_of(target: Path, candidate: Path) -> bool:
    """True when ``candidate`` is a temporary file or directory trtperf made for ``target``."""
    pattern = re.escape(temp_name_prefix(target)) + r"[A-Za-z0-9_]+" + re.escape(TMP_SUFFIX)
    return candidate.parent == target.parent and re.fullmatch(pattern, candidate.name) is not None


def remove_orphans(target: Path) -> list[Path]:
    """Remove the temporaries a killed writer of ``target`` left beside it; returns what was removed.

    Call it only while holding the lock that guards writes to ``target``: then no live writer owns them.
    Only names trtperf itself makes are touched.
    """
    removed: list[Path] = []
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return removed
    for candidate in siblings:
        if is_orphan_of(target, candidate):
            try:
                if candidate.is_dir() and not candidate.is_symlink():
                    shutil.rmtree(candidate)
                else:
                    candidate.unlink()
                removed.append(candidate)
            except OSError:
                pass
    return removed


def make_temp_dir(target: Path) -> Path:
    """A new empty directory beside ``target`` with a trtperf temporary name, permissions per the umask."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=temp_name_prefix(target), suffix=TMP_SUFFIX, dir=target.parent))
    apply_umask(tmp, directory=True)
    return tmp


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is fsynced and renamed onto it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=temp_name_prefix(target), suffix=TMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        apply_umask(tmp)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def dumps_json(data: Any) -> str:
    """Stable, review-friendly JSON: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(data, sort_keys=True, indent=2) + "\n"


def atomic_write_json(target: Path, data: Any) -> None:
    atomic_write_bytes(target, dumps_json(data).encode())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable(path: Path, what: str, directory: bool = False) -> str:
    """Check before any work that ``path`` (a file, or with ``directory`` a directory) can be written.

    Returns '' or a note that the directory does not exist yet and will be created; raises
    ``TrtperfUsageError`` naming ``what`` (e.g. "--trtperf-results") when it cannot be written.
    """
    from trtperf.errors import TrtperfUsageError

    folder = path if directory else path.parent
    if path.exists():
        if directory and not path.is_dir():
            raise TrtperfUsageError(f"{what} {path} is not a directory.")
        if not directory and path.is_dir():
            raise TrtperfUsageError(f"{what} {path} is a directory; give a file path, e.g. {path / 'results.json'}.")
        if not os.access(path, os.W_OK) or not os.access(folder, os.W_OK | os.X_OK):
            raise TrtperfUsageError(f"{what} {path} is not writable by this user; choose another path.")
        return ""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise TrtperfUsageError(f"{what} {path} cannot be created: {existing} is a file, not a directory.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TrtperfUsageError(f"{what} {path} cannot be created: {existing} is not writable by this user.")
    if existing == folder:
        return ""
    # Created now, so a folder that cannot exist (/proc/x, a read-only mount; root passes os.access
    # there) stops the session before any case runs, not after minutes of timing.
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrtperfUsageError(
            f"{what} {path} cannot be created ({exc.strerror or exc}); choose another path.") from None
    return f"{folder} did not exist; created it"


def user_lock_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder of trtperf's lock files that guard files in the user's own folders (baselines), so that
    no ``.lock`` file is left beside them: ``$TRTPERF_LOCK_DIR`` when set, else ``$XDG_RUNTIME_DIR/trtperf-locks``
    (per user, cleared at logout), else ``<temp dir>/trtperf-locks-<uid>``. Created on use, mode 0700 where
    trtperf creates it. Every process of one user agrees on it (environment permitting), which is what
    the locks need: a baseline directory in a checkout is written by its user's runs."""
    env = os.environ if env is None else env
    if env.get("TRTPERF_LOCK_DIR"):
        return Path(env["TRTPERF_LOCK_DIR"])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "trtperf-locks"
    uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return Path(tempfile.gettempdir()) / f"trtperf-locks-{uid}"


def lock_path_for(target: Path, env: Mapping[str, str] | None = None) -> Path:
    """The lock file guarding writes to ``target``, outside ``target``'s folder: in :func:`user_lock_dir`,
    named by a digest of ``target``'s absolute path (symlinks resolved, so two spellings of one file share
    one lock) and its name (for a human reading the folder). The folder is created (0700)."""
    resolved = target.resolve()
    folder = user_lock_dir(env)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:16]
    return folder / f"{resolved.name}-{digest}.lock"
