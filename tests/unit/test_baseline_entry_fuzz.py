"""Any one field of a baseline entry, hand-edited or damaged to any JSON value, costs at most its own case with
a message naming the file and the fix: never an unexpected exception, never a crashed summary (a new user's
trial, 2026-12-07: ``stats.median_ms = "fast"`` crashed the session's summary). Test doubles for the engine."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_machine_probe import KEY, PLAN, FixedProbe, FixedWorker  # type: ignore[import-not-found]

from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.errors import TrtperfError
from trtperf.record.baselines import BaselineStore
from trtperf.record.results import CaseResult, render_summary
from trtperf.timing.loop import measure
from trtperf.timing.machine_probe import PROBE_KEY, WORKLOAD
from trtperf.verdict.gate import StatisticalGate
from trtperf.verdict.judging import TimingHook, judge_case

ENTRY: dict[str, Any] = {
    "stats": {"run_medians_ms": [1.0, 1.01, 0.99, 1.0, 1.0], "runs": 5, "median_ms": 1.0, "p99_ms": 1.2,
              "mean_ms": 1.0, "min_ms": 0.9, "max_ms": 1.3, "cv": 0.01, "samples": 50, "throughput": 1000.0,
              "enqueue_median_ms": None},
    "timing_mode": {"clock": "host"},
    "artifact": {"engine_key": "same", "onnx_sha256": "abc"},
    "environment": {PROBE_KEY: {"workload": WORKLOAD, "median_us": 100.0, "per_run_us": [100.0] * 5},
                    "gpu_clocks": {"throttled": True, "throttle_reasons": ["hw_slowdown"], "sm_mhz_max": 1980,
                                   "sm_mhz_min": 1900, "clocks_changed": True},
                    "backend_version": "1.0", "driver": "550"},
    "recorded_at": "2026-12-07T00:00:00Z",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(ENTRY)


def _replaced(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    entry = copy.deepcopy(ENTRY)
    node: Any = entry
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return entry


def _hook() -> TimingHook:
    def make(n: int) -> list[FixedWorker]:
        return [FixedWorker(0.001) for _ in range(n)]

    probe = FixedProbe(100.0)
    return TimingHook(make_workers=make, streams=1, plan=PLAN, runs=measure(make, 1, PLAN, before_run=probe.sample),
                      batch=1, inputs={}, open_engine=lambda key: None, probe=probe)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=json_values)
def test_a_damaged_field_costs_its_case_at_most(tmp_path: Path, path: tuple[Any, ...], value: Any) -> None:
    folder = tmp_path / "b"
    folder.mkdir(exist_ok=True)
    (folder / "cpu-x.json").write_text(json.dumps({"schema_version": 3, "device": {"name": "x"},
                                                   "entries": {KEY: _replaced(path, value)}}))
    result = CaseResult(case=Case.from_key(KEY), device={"slug": "cpu-x", "name": "x", "kind": "cpu"},
                        artifact={"engine_key": "same"}, timing_mode={"clock": "host"},
                        environment={"backend_version": "1.0", "driver": "550"})
    try:
        judge_case(result, Settings(runs=5), BaselineStore(folder), StatisticalGate(), 1, _hook())
    except TrtperfError as exc:  # the case fails with this message (the pipeline's containment)
        assert "cpu-x.json" in str(exc), str(exc)
        return
    render_summary([result])
    json.dumps(result.to_json())


def test_a_null_median_is_named_not_shown_as_a_dash(tmp_path: Path) -> None:
    # A new user's trial (2026-12-07): "median_ms": null passed silently, with "-" beside a -35 % change.
    from trtperf.record.baselines import entry_problem

    problem = entry_problem(_replaced(("stats", "median_ms"), None))
    assert problem == "field 'stats.median_ms' must be a number, got NoneType 'None'"
    assert entry_problem(_replaced(("stats", "enqueue_median_ms"), None)) is None
