"""Baseline files that review well (issue 15, item 9): at most 10 lines per case in the reviewed file,
re-recording one case changes at most 10 lines, raw samples in a sidecar, old files migrate on load."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import pytest

from trtperf.cases import Case
from trtperf.errors import BaselineError
from trtperf.record.baselines import (
    MIGRATIONS,
    SAMPLES_SUFFIX,
    BaselineStore,
    load_baseline_file,
    record_results,
    samples_path,
)
from trtperf.record.results import CaseResult
from trtperf.timing.stats import RunSamples, summarize
from trtperf.verdict.judging import run_details

MAX_LINES_PER_CASE = 10
V1_FILE = Path(__file__).resolve().parents[1] / "data" / "baseline-v1.json"
SLUG = "cpu-x"


def _result(model: str, batch: int, scale: float) -> CaseResult:
    """A real summary of synthetic runs (10 runs x 200 samples), with its run details."""
    runs = [RunSamples(latencies=tuple(scale * 1e-3 * (1 + 0.01 * ((i * 7 + r) % 13)) for i in range(200)),
                       wall_s=0.2, inferences=200) for r in range(10)]
    return CaseResult(case=Case(model, "onnxruntime", "fp32", batch, 1), device={"slug": SLUG, "name": "x"},
                      environment={"backend": "onnxruntime", "backend_version": "1.32.0"},
                      timing_mode={"clock": "host", "transfers": True, "cuda_graph": False},
                      artifact={"engine_key": "e" * 64, "onnx_sha256": "a" * 64},
                      stats=summarize(runs, batch).to_json(), samples=run_details(runs))


def _record(directory: Path, results: list[CaseResult]) -> None:
    record_results(BaselineStore(directory), results, "0.1.0")


def _changed_lines(before: str, after: str) -> int:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))


@pytest.mark.parametrize("cases", [1, 2, 40])
def test_the_reviewed_file_takes_at_most_10_lines_per_case(tmp_path: Path, cases: int) -> None:
    _record(tmp_path, [_result(f"m{i % 5}", 1 + i, 1.0 + i / 10) for i in range(cases)])
    text = (tmp_path / f"{SLUG}.json").read_text()
    empty = BaselineStore(tmp_path / "empty")
    empty.update(SLUG, {"name": "x"}, {})
    overhead = len((tmp_path / "empty" / f"{SLUG}.json").read_text().splitlines())
    per_case = (len(text.splitlines()) - overhead) / cases
    assert per_case <= MAX_LINES_PER_CASE, per_case
    loaded = load_baseline_file(tmp_path / f"{SLUG}.json")
    assert len(loaded.entries) == cases and len(loaded.samples) == cases


def test_re_recording_one_case_changes_at_most_10_lines(tmp_path: Path) -> None:
    results = [_result("mlp", b, 1.0) for b in (1, 2, 8, 16, 32)]
    _record(tmp_path, results)
    before = (tmp_path / f"{SLUG}.json").read_text()
    _record(tmp_path, [_result("mlp", 8, 1.37)])  # a slower re-record of one case
    after = (tmp_path / f"{SLUG}.json").read_text()
    changed = _changed_lines(before, after)
    assert 0 < changed <= MAX_LINES_PER_CASE, changed
    # A new case at the end of the natural order: its lines plus one comma.
    _record(tmp_path, [_result("zz", 1, 1.0)])
    assert _changed_lines(after, (tmp_path / f"{SLUG}.json").read_text()) <= MAX_LINES_PER_CASE


def test_what_a_reviewer_reads_stays_in_the_reviewed_file(tmp_path: Path) -> None:
    result = _result("mlp", 4, 1.0)
    _record(tmp_path, [result])
    entry = json.loads((tmp_path / f"{SLUG}.json").read_text())["entries"][result.case.key]
    assert entry["stats"]["median_ms"] == pytest.approx(result.stats["median_ms"], rel=1e-5)  # type: ignore[index]
    assert entry["stats"]["p99_ms"] == pytest.approx(result.stats["p99_ms"], rel=1e-5)  # type: ignore[index]
    assert len(entry["stats"]["run_medians_ms"]) == 10
    assert entry["timing_mode"] == result.timing_mode
    assert entry["environment"]["backend_version"] == "1.32.0" and entry["environment"]["trtperf_version"]
    assert "samples" not in entry
    sidecar = json.loads((tmp_path / f"{SLUG}{SAMPLES_SUFFIX}").read_text())
    assert sidecar["baseline_file"] == f"{SLUG}.json"
    assert len(sidecar["samples"][result.case.key]["raw_ms"]) == 3


def test_cases_are_in_natural_order(tmp_path: Path) -> None:
    _record(tmp_path, [_result("mlp", b, 1.0) for b in (16, 2, 1)])
    keys = list(json.loads((tmp_path / f"{SLUG}.json").read_text())["entries"])
    assert keys == [f"mlp[onnxruntime-fp32-b{b}-s1]" for b in (1, 2, 16)]


def test_the_sidecar_is_not_a_device(tmp_path: Path) -> None:
    _record(tmp_path, [_result("mlp", 1, 1.0)])
    assert BaselineStore(tmp_path).slugs() == [SLUG]


def test_the_gate_reads_without_the_sidecar_but_an_update_refuses_a_corrupt_one(tmp_path: Path) -> None:
    _record(tmp_path, [_result("mlp", 1, 1.0)])
    sidecar = tmp_path / f"{SLUG}{SAMPLES_SUFFIX}"
    sidecar.write_text("{ truncated")
    store = BaselineStore(tmp_path)
    entry = store.entry(SLUG, "mlp[onnxruntime-fp32-b1-s1]")
    assert entry is not None and len(store.run_medians(SLUG, "mlp[onnxruntime-fp32-b1-s1]", entry)) == 10
    reviewed = (tmp_path / f"{SLUG}.json").read_text()
    with pytest.raises(BaselineError, match=r"cpu-x\.samples\.json: cannot read.*git checkout --.*delete it"):
        _record(tmp_path, [_result("mlp", 2, 1.0)])
    assert sidecar.read_text() == "{ truncated" and (tmp_path / f"{SLUG}.json").read_text() == reviewed
    sidecar.unlink()  # the fix the error names: the gate does not need it
    _record(tmp_path, [_result("mlp", 2, 1.0)])
    assert set(load_baseline_file(tmp_path / f"{SLUG}.json").entries) == {
        "mlp[onnxruntime-fp32-b1-s1]", "mlp[onnxruntime-fp32-b2-s1]"}


def test_a_v2_file_migrates_on_load_and_splits_on_the_next_write(tmp_path: Path) -> None:
    assert 3 in MIGRATIONS and 2 in MIGRATIONS
    result = _result("mlp", 1, 1.0)
    v2 = {"schema_version": 2, "device": {"name": "x", "slug": SLUG},
          "entries": {result.case.key: {**result.baseline_entry("0.1.0")}}}
    path = tmp_path / f"{SLUG}.json"
    path.write_text(json.dumps(v2, indent=2))
    loaded = load_baseline_file(path)
    assert "samples" not in loaded.entries[result.case.key]
    assert loaded.samples[result.case.key] == result.samples
    assert json.loads(path.read_text()) == v2, "loading does not rewrite"
    assert not samples_path(path).exists()
    _record(tmp_path, [_result("mlp", 2, 1.0)])
    document = json.loads(path.read_text())
    assert document["schema_version"] == 3 and all("samples" not in e for e in document["entries"].values())
    sidecar = json.loads(samples_path(path).read_text())["samples"]
    assert sidecar[result.case.key]["raw_ms"] == result.samples["raw_ms"]  # type: ignore[index]


def test_the_v1_fixture_migrates_through_v2_to_v3(tmp_path: Path) -> None:
    path = tmp_path / "cpu-amd-epyc.json"
    shutil.copy(V1_FILE, path)
    loaded = load_baseline_file(path)
    assert loaded.to_json()["schema_version"] == 3
    assert all(v == {"migrated_from_schema": 1} for v in loaded.samples.values())
