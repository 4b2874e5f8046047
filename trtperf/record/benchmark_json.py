"""pytest-benchmark's JSON format, so its tools read trtperf's results (issue 15).

``pytest-benchmark compare FILE``, github-action-benchmark (``tool: 'pytest'``) and the
pytest-benchmark adapters of hosted dashboards read this file. The layout follows
pytest-benchmark 5.x (``pytest_benchmark.plugin.pytest_benchmark_generate_json`` and
``Metadata.as_dict``): top-level ``machine_info``, ``commit_info``, ``benchmarks``, ``datetime``,
``version``; each benchmark has ``group``, ``name``, ``fullname``, ``params``, ``param``,
``extra_info``, ``options`` and ``stats``.

Units: every time in ``stats`` is in **seconds** (pytest-benchmark's unit), ``ops`` is inferences per
second (1 / mean). One *round* is one timed sample: ``rounds`` is the number of samples pooled
over all runs and streams, ``iterations`` the inferences per sample (``--trtperf-iterations-per-sample``).
Quartiles use linear interpolation (numpy's default; pytest-benchmark's own quartiles may differ by
one sample's spacing). ``data`` is the bounded raw sample a result keeps (the first runs' evenly
spaced samples, see ``trtperf.verdict.judging.run_details``), not every sample; ``extra_info.run_medians_s``
has every run's median, what trtperf's gate compares.
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trtperf.fsutil import atomic_write_json
from trtperf.record import facts
from trtperf.record.naturalsort import case_order
from trtperf.record.results import CaseResult

FORMAT_VERSION = "5.1.0"
"""The pytest-benchmark release whose JSON layout this writer follows (its files carry that ``version``)."""

_MS = 1e-3


def machine_info(results: Sequence[CaseResult]) -> dict[str, Any]:
    """pytest-benchmark's machine_info fields (``platform`` module), plus trtperf's device facts."""
    info: dict[str, Any] = {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": platform.release(),
        "system": platform.system(),
        "cpu": {"arch": platform.machine()},
    }
    devices = {r.device.get("slug"): {k: v for k, v in r.device.items() if k != "facts"}
               for r in results if r.device}
    if devices:
        info["trtperf_devices"] = dict(sorted((str(k), v) for k, v in devices.items()))
    return info


def commit_info(cwd: Path | None = None) -> dict[str, Any]:
    """The git commit of ``cwd`` (pytest-benchmark's fields: id, time, author_time, dirty, project, branch);
    ``{"error": ...}`` outside a git checkout, as pytest-benchmark does."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        commit_id, commit_time, author_time = git("log", "-1", "--format=%H%n%cI%n%aI").splitlines()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        branch = git("rev-parse", "--abbrev-ref", "HEAD")
        project = Path(git("rev-parse", "--show-toplevel")).name
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"id": commit_id, "time": commit_time, "author_time": author_time, "dirty": dirty,
            "project": project, "branch": branch}


def benchmark_stats(result: CaseResult) -> dict[str, Any]:
    """pytest-benchmark's ``stats`` of one timed case, in seconds. KeyError when ``result`` has no stats."""
    s = result.stats
    if not s:
        raise KeyError(f"{result.case.key} has no timing statistics")

    def ms(name: str, fallback: str | None = None) -> float:
        """A stats field in ms; results of trtperf < 0.2 lack the newer ones: ``fallback`` stands in."""
        value = s.get(name)
        return float(s[fallback] if value is None and fallback is not None else s[name])

    median, mean = ms("median_ms") * _MS, ms("mean_ms") * _MS
    q1, q3, maximum = ms("q1_ms", "median_ms"), ms("q3_ms", "median_ms"), ms("max_ms", "p99_ms")
    rounds = int(s["samples"])
    iqr_out = int(s.get("iqr_outliers") or 0)
    std_out = int(s.get("stddev_outliers") or 0)
    raw = (result.samples or {}).get("raw_ms") or []
    return {
        "min": ms("min_ms") * _MS,
        "max": maximum * _MS,
        "mean": mean,
        "stddev": ms("stdev_ms") * _MS,
        "rounds": rounds,
        "median": median,
        "iqr": (q3 - q1) * _MS,
        "q1": q1 * _MS,
        "q3": q3 * _MS,
        "iqr_outliers": iqr_out,
        "stddev_outliers": std_out,
        "outliers": f"{std_out};{iqr_out}",
        "ld15iqr": ms("ld15iqr_ms", "min_ms") * _MS,
        "hd15iqr": (maximum if s.get("hd15iqr_ms") is None else ms("hd15iqr_ms")) * _MS,
        "ops": 1.0 / mean if mean > 0 else 0.0,
        "total": mean * rounds,
        "data": [v * _MS for run in raw for v in run],
        "iterations": int(result.timing_mode.get("iterations_per_sample", 1)),
    }


def benchmark_entry(result: CaseResult, fullname: str | None = None) -> dict[str, Any]:
    """One ``benchmarks`` item: name = the case key, group = the model, params = the case's axes."""
    case = result.case
    ratio_change = facts.change(result)
    extra = {
        "device": result.device.get("name"),
        "backend_version": result.environment.get("backend_version"),
        "timing_mode": result.timing_mode,
        "p90_s": facts.stat(result, "p90_ms") * _MS if facts.stat(result, "p90_ms") is not None else None,
        "p99_s": facts.stat(result, "p99_ms") * _MS if facts.stat(result, "p99_ms") is not None else None,
        "run_medians_s": [v * _MS for v in facts.stat(result, "run_medians_ms") or []],
        "throughput_items_per_s": facts.stat(result, "throughput"),
        "baseline_median_s": (facts.baseline_median_ms(result) or 0) * _MS or None,
        "change": ratio_change,
        "verdict": facts.verdict_status(result),
        "parity_max_abs_err": facts.parity_max_abs_err(result),
    }
    return {
        "group": case.model,
        "name": case.key,
        "fullname": fullname or case.key,
        "params": {"backend": case.backend, "precision": case.precision, "batch": case.batch,
                   "streams": case.streams},
        "param": case.id,
        "extra_info": extra,
        "options": {"timer": str(result.timing_mode.get("clock", "host")), "disable_gc": False,
                    "warmup": True, "runs": facts.stat(result, "runs")},
        "stats": benchmark_stats(result),
    }


def benchmark_document(results: Sequence[CaseResult], fullnames: Mapping[str, str] | None = None,
                       cwd: Path | None = None) -> dict[str, Any]:
    """The whole file: every timed case of ``results`` (untimed and failed-before-timing cases are left
    out, as pytest-benchmark leaves out benchmarks with errors), in natural case order."""
    fullnames = fullnames or {}
    timed = sorted((r for r in results if r.stats), key=case_order)
    return {
        "machine_info": machine_info(timed),
        "commit_info": commit_info(cwd),
        "benchmarks": [benchmark_entry(r, fullnames.get(r.case.key)) for r in timed],
        "datetime": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "version": FORMAT_VERSION,
    }


def write_benchmark_json(path: Path, results: Sequence[CaseResult], fullnames: Mapping[str, str] | None = None,
                         cwd: Path | None = None) -> None:
    """Write :func:`benchmark_document` to ``path`` atomically."""
    atomic_write_json(path, benchmark_document(results, fullnames, cwd))
