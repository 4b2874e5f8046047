"""Baseline schemas 2 (issue 6) and 3 (issue 15): old files are migrated on every load, never misread."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from trtperf.cases import Case
from trtperf.errors import BaselineError
from trtperf.record.baselines import (
    RAW_PER_RUN,
    RAW_RUNS,
    SCHEMA_VERSION,
    BaselineStore,
    check_run_medians,
    load_baseline_file,
    record_results,
)
from trtperf.record.results import CaseResult
from trtperf.timing.stats import RunSamples, summarize
from trtperf.verdict.judging import run_details

V1_FILE = Path(__file__).resolve().parents[1] / "data" / "baseline-v1.json"


@pytest.fixture
def v1_copy(tmp_path: Path) -> Path:
    path = tmp_path / "cpu-amd-epyc.json"
    shutil.copy(V1_FILE, path)
    return path


def test_the_checked_in_v1_file_is_still_schema_1() -> None:
    assert json.loads(V1_FILE.read_text())["schema_version"] == 1
    assert SCHEMA_VERSION == 3


def test_v1_is_migrated_keeping_every_run_median(v1_copy: Path) -> None:
    original = json.loads(v1_copy.read_text())
    loaded = load_baseline_file(v1_copy)
    assert set(loaded.entries) == set(original["entries"])
    for key, entry in loaded.entries.items():
        old = original["entries"][key]
        assert entry["stats"] == old["stats"]
        assert entry["artifact"] == old["artifact"] and entry["timing_mode"] == old["timing_mode"]
        assert "samples" not in entry and loaded.samples[key] == {"migrated_from_schema": 1}
        assert check_run_medians(entry) == old["stats"]["run_medians_ms"]
    assert loaded.to_json()["schema_version"] == 3
    assert json.loads(v1_copy.read_text()) == original, "loading must not rewrite the file"


def test_updating_a_v1_file_writes_schema_3_and_keeps_old_entries(v1_copy: Path) -> None:
    store = BaselineStore(v1_copy.parent)
    store.update("cpu-amd-epyc", {"name": "AMD EPYC"}, {"new[onnxruntime-fp32-b1-s1]": _entry()})
    document = json.loads(v1_copy.read_text())
    assert document["schema_version"] == 3
    assert set(document["entries"]) == {"mlp[onnxruntime-fp32-b1-s1]", "cnn[onnxruntime-fp32-b1-s1]",
                                        "new[onnxruntime-fp32-b1-s1]"}


def _entry(medians: object = (1.0, 1.1, 0.9), runs: object = 3) -> dict[str, object]:
    return {"stats": {"run_medians_ms": list(medians) if isinstance(medians, tuple) else medians, "runs": runs}}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, "no 'stats' object"),
        ({"stats": {}}, "no run medians"),
        (_entry(medians=[]), "no run medians"),
        (_entry(medians="1.0"), "no run medians"),
        (_entry(medians=[1.0, 0.0, 1.0]), "must be positive numbers"),
        (_entry(medians=[1.0, True, 1.0]), "must be positive numbers"),
        (_entry(runs=5), "3 run medians for 5 runs"),
    ],
)
def test_unusable_run_medians_are_named(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_run_medians(entry)


def test_a_v1_entry_without_run_medians_fails_only_its_case_and_an_update_replaces_it(v1_copy: Path) -> None:
    """Issue 12: the error said "re-record with --trtperf-update-baselines", and that update failed
    with the same error. Now the file loads, gating that case names file, case and field, and an
    update replaces the entry, keeping the others."""
    document = json.loads(v1_copy.read_text())
    key = "cnn[onnxruntime-fp32-b1-s1]"
    del document["entries"][key]["stats"]["run_medians_ms"]
    v1_copy.write_text(json.dumps(document))
    store = BaselineStore(v1_copy.parent)
    slug = v1_copy.stem
    entry = store.entry(slug, key)
    with pytest.raises(BaselineError) as info:
        store.run_medians(slug, key, entry)
    text = str(info.value)
    assert str(v1_copy) in text and key in text and "field 'stats': no run medians" in text
    assert "--trtperf-update-baselines` (which replaces it)" in text
    others = sorted(set(document["entries"]) - {key})
    store.update(slug, {}, {key: {"stats": {"run_medians_ms": [1.0, 1.1], "runs": 2}, "timing_mode": {}}})
    updated = store.load(slug)
    assert updated is not None and sorted(updated.entries) == sorted([key, *others])
    assert store.run_medians(slug, key, updated.entries[key]) == [1.0, 1.1]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("timing_mode", "compute", "field 'timing_mode' must be a JSON object, got str 'compute'"),
    ("environment", [1], "field 'environment' must be a JSON object, got list"),
    ("stats", None, "field 'stats': no 'stats' object"),
])
def test_a_wrong_typed_field_is_named(tmp_path: Path, field: str, value: object, message: str) -> None:
    entry = {"stats": {"run_medians_ms": [1.0]}, "timing_mode": {}, field: value}
    with pytest.raises(BaselineError) as info:
        BaselineStore(tmp_path).run_medians("cpu-x", "m[x]", entry)
    assert message in str(info.value) and "cpu-x.json" in str(info.value) and "'m[x]'" in str(info.value)


def test_a_wrong_typed_device_is_named_and_an_update_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "cpu-x.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "device": "cpu", "entries": {}}))
    store = BaselineStore(tmp_path)
    with pytest.raises(BaselineError, match=r"cpu-x.json: field 'device' must be a JSON object, got str 'cpu'"):
        store.load("cpu-x")
    store.update("cpu-x", {"name": "CPU"}, {"m[x]": {"stats": {"run_medians_ms": [1.0]}}})
    loaded = store.load("cpu-x")
    assert loaded is not None and loaded.device == {"name": "CPU"} and list(loaded.entries) == ["m[x]"]


def test_a_v2_entry_that_cannot_be_gated_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    store = BaselineStore(tmp_path)
    with pytest.raises(BaselineError,
                       match=r"entry 'm\[x\]' cannot be gated: field 'stats': no run medians.*-k 'm\[x\]'"):
        store.run_medians("cpu-x", "m[x]", {"stats": {}})


def _runs(n: int, samples: int) -> list[RunSamples]:
    return [RunSamples(latencies=tuple(0.001 * (1 + 0.01 * ((i * 7 + r) % 11)) for i in range(samples)),
                       wall_s=0.1, inferences=samples, warmup_stable=r != 1) for r in range(n)]


def test_run_details_are_bounded() -> None:
    details = run_details(_runs(5, 1234))
    assert len(details["run_p90_ms"]) == len(details["run_p99_ms"]) == len(details["run_cv"]) == 5
    assert len(details["raw_ms"]) == RAW_RUNS
    assert all(0 < len(raw) <= RAW_PER_RUN for raw in details["raw_ms"])
    assert details["warmup_unstable_runs"] == 1
    assert all(1.0 <= v <= 1.11 for raw in details["raw_ms"] for v in raw)  # milliseconds


def test_recorded_entries_carry_the_samples(tmp_path: Path) -> None:
    runs = _runs(4, 50)
    result = CaseResult(case=Case("m", "onnxruntime", "fp32", 1, 1), device={"slug": "cpu-x", "name": "x"},
                        stats=summarize(runs, 1).to_json(), samples=run_details(runs))
    record_results(BaselineStore(tmp_path), [result], "0.1.0")
    loaded = load_baseline_file(tmp_path / "cpu-x.json")
    entry = loaded.entries["m[onnxruntime-fp32-b1-s1]"]
    assert loaded.samples["m[onnxruntime-fp32-b1-s1]"]["run_p99_ms"] == result.samples["run_p99_ms"]  # type: ignore[index]
    assert len(check_run_medians(entry)) == 4
