"""Per-device baseline files: ``<dir>/<device-slug>.json``.

Sorted keys and stable formatting make an update a readable diff. An update writes only the
cases that ran, under a file lock (in the user's lock folder, :func:`trtperf.fsutil.lock_path_for`, never
beside the baseline files), atomically, and keeps every other entry. A file that cannot
be read is never overwritten: the error says which file and how to fix it.

Schema history (``schema_version``; older files are migrated on load, newer ones rejected):

1. entry = ``stats`` (LatencyStats, with ``run_medians_ms``), ``timing_mode``, ``environment``,
   ``artifact``, ``recorded_at``.
2. (issue 6) adds ``samples``: what the statistical gate and a later diagnosis need beyond the
   run medians: per-run p90/p99/CV, whether each run's warm-up settled, and a bounded set of
   raw per-iteration latencies (:data:`RAW_RUNS` runs x :data:`RAW_PER_RUN` samples). The gate
   tests run medians (``stats.run_medians_ms``), so an entry without valid ones is an error,
   never a silent pass.
3. (issue 15) the file reviews well: one line per field of an entry (at most 10 lines per case, so
   re-recording one case changes at most 10 lines of the diff), floats to 6 significant digits, cases
   in natural order. ``samples`` moved to a sidecar ``<device-slug>.samples.json`` beside the file
   (also one line per case, marked generated in ``.gitattributes``). The gate reads only the reviewed
   file (``stats.run_medians_ms``); the sidecar serves diagnosis and is read only when updating.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from trtperf.errors import BaselineError
from trtperf.fsutil import atomic_write_bytes, lock_path_for, remove_orphans
from trtperf.record.naturalsort import natural_sorted
from trtperf.record.results import PYTEST_STAGE, CaseResult

SCHEMA_VERSION = 3
SAMPLES_SUFFIX = ".samples.json"
SIGNIFICANT_DIGITS = 6
"""Floats in baseline files keep 6 significant digits: 1 ppm, far below run-to-run timing noise."""
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


REQUIRED_STATS = frozenset({"median_ms"})
"""Stats that may not be null where present (the table's baseline column); others may (no enqueue time on a
CPU). The gate itself reads the run medians."""


def entry_problem(entry: Any) -> str | None:
    """What makes an entry unusable for gating, naming the field; None when it is usable."""
    if not isinstance(entry, Mapping):
        return f"the entry is not a JSON object (got {type(entry).__name__})"
    try:
        check_run_medians(entry)
    except ValueError as exc:
        return f"field 'stats': {exc}"
    for key, value in entry["stats"].items():
        if key == "run_medians_ms" or (value is None and key not in REQUIRED_STATS):
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"field 'stats.{key}' must be a number, got {type(value).__name__} {str(value)[:40]!r}"
    for name in ("timing_mode", "environment", "artifact", "samples"):
        if name in entry and not isinstance(entry[name], Mapping):
            value = entry[name]
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


def _v2_to_v3(document: dict[str, Any]) -> dict[str, Any]:
    """v2 kept ``samples`` inside each entry; v3 keeps them in the sidecar. The migrated document
    carries them in a top-level ``samples`` mapping (case key -> samples) that the loader takes as
    the sidecar's content; the next write splits them into ``<slug>.samples.json``."""
    entries = document.get("entries", {})
    if not isinstance(entries, dict):
        raise ValueError("'entries' must be an object")
    samples: dict[str, Any] = {}
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise ValueError(f"entry {key!r} is not an object")
        samples[key] = entry.pop("samples", {})
    document["samples"] = samples
    return document


# version N -> function upgrading a version N-1 document to N, applied in order on load.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {2: _v1_to_v2, 3: _v2_to_v3}


def round_floats(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` with every float rounded to ``digits`` significant digits (ints, bools, strings kept)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_floats(v, digits) for v in value]
    return value


def _one_line(value: Any) -> str:
    return json.dumps(round_floats(value), sort_keys=True, separators=(", ", ": "))


def dumps_compact(document: Mapping[str, Any], table: str, per_entry_fields: bool) -> str:
    """JSON text with one line per field of each item of ``document[table]`` (``per_entry_fields``) or
    one line per item; other top-level members one line each. Items in natural order of their keys."""
    lines = ["{"]
    members = sorted(document)
    for index, name in enumerate(members):
        comma = "," if index < len(members) - 1 else ""
        if name != table:
            lines.append(f"  {json.dumps(name)}: {_one_line(document[name])}{comma}")
            continue
        items = document[name]
        keys = natural_sorted(items)
        lines.append(f"  {json.dumps(name)}: {{" if keys else f"  {json.dumps(name)}: {{}}{comma}")
        for i, key in enumerate(keys):
            item_comma = "," if i < len(keys) - 1 else ""
            if not per_entry_fields:
                lines.append(f"    {json.dumps(key)}: {_one_line(items[key])}{item_comma}")
                continue
            lines.append(f"    {json.dumps(key)}: {{")
            fields = sorted(items[key])
            for j, field_name in enumerate(fields):
                lines.append(f"      {json.dumps(field_name)}: {_one_line(items[key][field_name])}"
                             f"{',' if j < len(fields) - 1 else ''}")
            lines.append(f"    }}{item_comma}")
        if keys:
            lines.append(f"  }}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def samples_path(path: Path) -> Path:
    """The sidecar of a baseline file: ``<slug>.json`` -> ``<slug>.samples.json``."""
    return path.with_name(path.stem + SAMPLES_SUFFIX)


@dataclass
class BaselineFile:
    path: Path
    device: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, Any] = field(default_factory=dict)
    """Case key -> the reviewed entry (stats with run medians, timing_mode, environment, artifact,
    recorded_at; no samples). An entry may be malformed (see :func:`entry_problem`): checked where used."""
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Case key -> per-run details and raw samples (the sidecar); empty unless loaded with samples."""

    def to_json(self) -> dict[str, Any]:
        """The reviewed file's document."""
        return {"schema_version": SCHEMA_VERSION, "device": self.device, "entries": self.entries,
                "samples_file": samples_path(self.path).name}

    def samples_json(self) -> dict[str, Any]:
        """The sidecar's document."""
        return {"schema_version": SCHEMA_VERSION, "baseline_file": self.path.name, "samples": self.samples}

    def dumps(self) -> str:
        """The reviewed file's text: at most ``5 + 2`` lines per case (one per entry field)."""
        return dumps_compact(self.to_json(), "entries", per_entry_fields=True)

    def dumps_samples(self) -> str:
        """The sidecar's text: one line per case."""
        return dumps_compact(self.samples_json(), "samples", per_entry_fields=False)


def migrate(document: dict[str, Any], path: Path) -> dict[str, Any]:
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BaselineError(
            f"{path}: no integer 'schema_version'; this is not a trtperf baseline file. Restore it from "
            f"version control (if git tracks it: git checkout -- {path}) or delete it and record new baselines."
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


def _load_samples(path: Path) -> dict[str, dict[str, Any]]:
    sidecar = samples_path(path)
    if not sidecar.exists():
        return {}
    try:
        document = json.loads(sidecar.read_text())
        samples = document["samples"]
        if not isinstance(samples, dict) or not all(isinstance(v, dict) for v in samples.values()):
            raise ValueError("'samples' must map case keys to objects")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BaselineError(
            f"{sidecar}: cannot read the samples beside {path.name} ({type(exc).__name__}: {exc}). Neither file "
            f"was overwritten. Restore it (if git tracks it: git checkout -- {sidecar}) or delete it (the gate "
            f"does not need it)."
        ) from None
    return dict(samples)


def load_baseline_file(path: Path, with_samples: bool = True, lenient: bool = False) -> BaselineFile:
    """Read (and migrate) a baseline file; with ``with_samples``, its sidecar too (BaselineError when
    either cannot be read, naming the file and the fix). ``lenient`` (an update, which rewrites the file)
    replaces a malformed ``device`` field instead of failing."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read the baseline file ({exc}).") from exc
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise BaselineError(
            f"{path}: not valid JSON ({exc}). It was not overwritten. Restore it from version control "
            f"(if git tracks it: git checkout -- {path}) or fix it by hand, then rerun."
        ) from None
    if not isinstance(document, dict):
        raise BaselineError(f"{path}: expected a JSON object at the top level. It was not overwritten.")
    document = migrate(document, path)
    # No 'entries' at all is damage too (a new user's trial, 2026-12-07: cases moved to the top level read as
    # "no baseline", and the next update rewrote the file with its own cases only).
    entries = document.get("entries")
    if not isinstance(entries, dict):
        raise BaselineError(
            f"{path}: 'entries' must map case keys to objects, got "
            f"{'nothing' if entries is None else type(entries).__name__}. It was not overwritten. Restore it from "
            f"version control (if git tracks it: git checkout -- {path}), or move its cases back under "
            f"'entries', then rerun.")
    device = document.get("device", {})
    if not isinstance(device, dict):
        if not lenient:
            raise BaselineError(
                f"{path}: field 'device' must be a JSON object, got {type(device).__name__} {str(device)[:40]!r}. "
                f"Restore the file from version control, or rerun with --trtperf-update-baselines (which replaces "
                f"the field)."
            )
        device = {}
    migrated_samples = document.get("samples")
    if isinstance(migrated_samples, dict):  # an older file: its samples were inline
        samples = {k: v for k, v in migrated_samples.items() if isinstance(v, dict)}
    else:
        samples = _load_samples(path) if with_samples else {}
    for entry in entries.values():
        if isinstance(entry, dict):
            entry.pop("samples", None)
    return BaselineFile(path=path, device=dict(device), entries=dict(entries), samples=samples)


def write_baseline_file(baseline: BaselineFile) -> None:
    """Write the sidecar, then the reviewed file, each atomically (a kill leaves old or new, never half)."""
    atomic_write_bytes(samples_path(baseline.path), baseline.dumps_samples().encode())
    atomic_write_bytes(baseline.path, baseline.dumps().encode())


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
        return load_baseline_file(path, with_samples=False, lenient=lenient)

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
                f"with `pytest <your suites> -k '{case_key}' --trtperf-update-baselines` (which replaces it)."
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
        # The lock lives outside the baseline directory (usually committed): no .lock file is left there.
        with FileLock(str(lock_path_for(path))):
            for target in (path, samples_path(path)):  # temporaries of a killed update: no live writer owns
                remove_orphans(target)  # them under the lock
            current = load_baseline_file(path, lenient=True) if path.exists() else BaselineFile(path=path)
            current.device = {**current.device, **dict(device)}
            for key, entry in entries.items():
                entry = dict(entry)
                current.samples[key] = dict(entry.pop("samples", None) or {})
                current.entries[key] = entry
            write_baseline_file(current)
            return current

    def slugs(self) -> list[str]:
        if not self.directory.exists():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json") if not p.name.endswith(SAMPLES_SUFFIX))


def recordable(result: CaseResult) -> bool:
    """A timed case whose parity held and that nothing outside trtperf failed (``failed_stage`` "pytest").
    A regressed case is recordable: updating is how an intended slowdown is accepted."""
    return (result.stats is not None and (result.parity is None or bool(result.parity.get("passed")))
            and result.failed_stage != PYTEST_STAGE)


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
