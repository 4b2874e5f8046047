"""Per-device baseline files: ``<dir>/<device-slug>.json``.

Sorted keys and stable formatting make an update a readable diff. An update writes only the
cases that ran, under a file lock, atomically, and keeps every other entry. A file that cannot
be read is never overwritten: the error says which file and how to fix it.

Schema history (``schema_version``; older files are migrated on load, newer ones rejected):

1. entry = ``stats`` (LatencyStats, with ``run_medians_ms``), ``timing_mode``, ``environment``,
   ``artifact``, ``recorded_at``.
2. (issue 6) adds ``samples``: what the statistical gate and a later diagnosis need beyond the
   run medians: per-run p90/p99/CV, whether each run's warm-up settled, and a bounded set of
   raw per-iteration latencies (:data:`RAW_RUNS` runs x :data:`RAW_PER_RUN` samples). The gate
   tests run medians (``stats.run_medians_ms``), so an entry without valid ones is an error,
   never a silent pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from trtperf.errors import BaselineError
from trtperf.fsutil import atomic_write_json, remove_orphans
from trtperf.record.results import CaseResult

SCHEMA_VERSION = 2
RAW_RUNS = 3
RAW_PER_RUN = 100


def check_run_medians(entry: Mapping[str, Any]) -> list[float]:
    """The entry's run medians (ms), or ValueError saying what is wrong with them."""
    stats = entry.get("stats")
    if not isinstance(stats, Mapping):
        raise ValueError("no 'stats' object")
    medians = stats.get("run_medians_ms")
    if not isinstance(medians, list) or not medians:
        raise ValueError("no run medians (stats.run_medians_ms)")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in medians):
        raise ValueError(f"run medians must be positive numbers, got {medians!r}")
    if isinstance(stats.get("runs"), int) and stats["runs"] != len(medians):
        raise ValueError(f"{len(medians)} run medians for {stats['runs']} runs")
    return [float(v) for v in medians]


def entry_problem(entry: Any) -> str | None:
    """What makes an entry unusable for gating, naming the field; None when it is usable."""
    if not isinstance(entry, Mapping):
        return f"the entry is not a JSON object (got {type(entry).__name__})"
    try:
        check_run_medians(entry)
    except ValueError as exc:
        return f"field 'stats': {exc}"
    for name in ("timing_mode", "environment", "artifact", "samples"):
        value = entry.get(name)
        if value is not None and not isinstance(value, Mapping):
            return f"field {name!r} must be a JSON object, got {type(value).__name__} {str(value)[:40]!r}"
    return None


def _v1_to_v2(document: dict[str, Any]) -> dict[str, Any]:
    """v1 kept the run medians; v2 adds ``samples``, left empty for migrated entries.

    An unusable entry is carried over as it is: gating it fails naming the file, case and field,
    and ``--trtperf-update-baselines`` replaces it (the rest of the file stays usable)."""
    entries = document.get("entries", {})
    if not isinstance(entries, dict):
        raise ValueError("'entries' must be an object")
    for entry in entries.values():
        if isinstance(entry, dict):
            entry.setdefault("samples", {"migrated_from_schema": 1})
    return document


# version N -> function upgrading a version N-1 document to N, applied in order on load.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {2: _v1_to_v2}


@dataclass
class BaselineFile:
    path: Path
    device: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, Any] = field(default_factory=dict)
    """Case key -> entry; an entry may be malformed (see :func:`entry_problem`), checked where it is used."""

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "device": self.device, "entries": self.entries}


def migrate(document: dict[str, Any], path: Path) -> dict[str, Any]:
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BaselineError(
            f"{path}: no integer 'schema_version'; this is not a trtperf baseline file. Restore it from "
            f"version control (git checkout -- {path}) or delete it and record new baselines."
        )
    if version > SCHEMA_VERSION:
        raise BaselineError(
            f"{path}: schema_version {version} is newer than this trtperf understands ({SCHEMA_VERSION}); "
            f"upgrade trtperf (pip install -U trtperf)."
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version + 1)
        if step is None:
            raise BaselineError(
                f"{path}: schema_version {version} is too old to migrate; record new baselines with "
                f"`pytest suites --trtperf-update-baselines`."
            )
        try:
            document = step(document)
        except ValueError as exc:
            raise BaselineError(
                f"{path}: cannot migrate schema_version {version} to {version + 1}: {exc}. It was not "
                f"overwritten; record new baselines with `pytest suites --trtperf-update-baselines`."
            ) from None
        version += 1
        document["schema_version"] = version
    return document


def load_baseline_file(path: Path, lenient: bool = False) -> BaselineFile:
    """The file's entries. BaselineError naming the file when it cannot be read safely; ``lenient``
    (an update, which rewrites the file) replaces a malformed ``device`` field instead of failing."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read the baseline file ({exc}).") from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise BaselineError(
            f"{path}: not valid JSON ({exc}). It was not overwritten. Restore it from version control "
            f"(git checkout -- {path}) or fix it by hand, then rerun."
        ) from None
    if not isinstance(document, dict):
        raise BaselineError(f"{path}: expected a JSON object at the top level. It was not overwritten.")
    document = migrate(document, path)
    entries = document.get("entries", {})
    if not isinstance(entries, dict):
        raise BaselineError(f"{path}: 'entries' must map case keys to objects. It was not overwritten.")
    device = document.get("device", {})
    if not isinstance(device, dict):
        if not lenient:
            raise BaselineError(
                f"{path}: field 'device' must be a JSON object, got {type(device).__name__} {str(device)[:40]!r}. "
                f"Restore the file from version control, or rerun with --trtperf-update-baselines (which replaces "
                f"the field)."
            )
        device = {}
    return BaselineFile(path=path, device=dict(device), entries=dict(entries))


class BaselineStore:
    """The baseline directory; all baseline disk I/O goes through here."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, device_slug: str) -> Path:
        return self.directory / f"{device_slug}.json"

    def load(self, device_slug: str, lenient: bool = False) -> BaselineFile | None:
        path = self.path_for(device_slug)
        if not path.exists():
            return None
        return load_baseline_file(path, lenient=lenient)

    def entry(self, device_slug: str, case_key: str, lenient: bool = False) -> Any:
        """The raw entry (possibly malformed: check it with :meth:`run_medians`), or None."""
        loaded = self.load(device_slug, lenient=lenient)
        return None if loaded is None else loaded.entries.get(case_key)

    def run_medians(self, device_slug: str, case_key: str, entry: Any) -> list[float]:
        """The run medians the gate tests; BaselineError naming file, case, field and fix when the
        entry is unusable (malformed ``stats``, wrong-typed ``timing_mode``...)."""
        problem = entry_problem(entry)
        if problem:
            raise BaselineError(
                f"{self.path_for(device_slug)}: entry {case_key!r} cannot be gated: {problem}. Record it again "
                f"with `pytest suites -k '{case_key}' --trtperf-update-baselines` (which replaces it)."
            )
        return check_run_medians(entry)

    def update(
        self,
        device_slug: str,
        device: Mapping[str, Any],
        entries: Mapping[str, Mapping[str, Any]],
    ) -> BaselineFile:
        """Merge ``entries`` into the device's file; every other entry is kept."""
        path = self.path_for(device_slug)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path.with_name(path.name + ".lock"))):
            remove_orphans(path)  # temporaries of a killed update: no live writer owns them under the lock
            current = load_baseline_file(path, lenient=True) if path.exists() else BaselineFile(path=path)
            current.device = {**current.device, **dict(device)}
            for key, entry in entries.items():
                current.entries[key] = dict(entry)
            atomic_write_json(path, current.to_json())
            return current

    def slugs(self) -> list[str]:
        if not self.directory.exists():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json"))


def recordable(result: CaseResult) -> bool:
    """A timed case whose parity held. A regressed case is recordable: updating is how an
    intended slowdown is accepted."""
    return result.stats is not None and (result.parity is None or bool(result.parity.get("passed")))


def record_results(store: BaselineStore, results: list[CaseResult], trtperf_version: str) -> dict[str, int]:
    """Write the recordable results into their devices' files; returns cases written per file."""
    by_device: dict[str, list[CaseResult]] = {}
    for result in results:
        if recordable(result):
            by_device.setdefault(result.device["slug"], []).append(result)
    written = {}
    for slug, rows in sorted(by_device.items()):
        device = {k: v for k, v in rows[0].device.items() if k != "facts"}
        store.update(slug, device, {r.case.key: r.baseline_entry(trtperf_version) for r in rows})
        written[str(store.path_for(slug))] = len(rows)
    return written
