"""Per-case results: JSON round trips, the results file, the summary table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trtperf.cases import Case
from trtperf.errors import TrtperfUsageError
from trtperf.precisions import PRECISIONS
from trtperf.record.naturalsort import case_order
from trtperf.record.results import (
    FAILED,
    PASSED,
    RESULTS_SCHEMA_VERSION,
    SKIPPED,
    SUMMARY_HEADER,
    CaseResult,
    grouped_notes,
    note_kind,
    read_results,
    render_summary,
    summary_rows,
    write_results,
)

json_leaf = st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.floats(allow_nan=False) | st.text(max_size=8)
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c,
                                                                                         max_size=3), max_leaves=8)
json_object = st.dictionaries(st.text(max_size=8), json_value, max_size=4)
cases = st.builds(
    Case,
    model=st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True),
    backend=st.sampled_from(["onnxruntime", "tensorrt", "torch"]),
    precision=st.sampled_from(PRECISIONS),
    batch=st.integers(1, 512),
    streams=st.integers(1, 8),
    dims=st.dictionaries(st.from_regex(r"[a-z_]{1,5}", fullmatch=True), st.integers(1, 4096), max_size=2).map(
        lambda d: tuple(sorted(d.items()))),
)
case_results = st.builds(
    CaseResult,
    case=cases,
    outcome=st.sampled_from([PASSED, FAILED, SKIPPED]),
    message=st.text(max_size=40),
    device=json_object,
    environment=json_object,
    build=json_object,
    parity=st.none() | json_object,
    stats=st.none() | json_object,
    baseline=st.none() | json_object,
    verdict=st.none() | json_object,
    timing_mode=json_object,
    artifact=json_object,
    notes=st.lists(st.text(max_size=20), max_size=3),
)


def test_case_json_keeps_the_shape_and_omits_dims_for_batch_only_models() -> None:
    plain = CaseResult(case=Case("cnn", "onnxruntime", "fp32", 8, 1)).to_json()["case"]
    assert plain == {"key": "cnn[onnxruntime-fp32-b8-s1]", "model": "cnn", "backend": "onnxruntime",
                     "precision": "fp32", "batch": 8, "streams": 1}
    seq = CaseResult(case=Case("bert", "tensorrt", "fp16", 8, 1, (("seq", 128),))).to_json()
    assert seq["case"]["key"] == "bert[tensorrt-fp16-b8-seq128-s1]" and seq["case"]["dims"] == {"seq": 128}
    assert CaseResult.from_json(json.loads(json.dumps(seq))).case == Case("bert", "tensorrt", "fp16", 8, 1,
                                                                         (("seq", 128),))


@given(case_results)
def test_json_round_trip(result: CaseResult) -> None:
    data = result.to_json()
    assert data["case"]["key"] == result.case.key
    assert CaseResult.from_json(json.loads(json.dumps(data))) == result


@settings(max_examples=20)  # each example fsyncs a file
@given(st.lists(case_results, max_size=5))
def test_results_file_round_trip(tmp_path_factory: pytest.TempPathFactory, results: list[CaseResult]) -> None:
    path = tmp_path_factory.mktemp("results") / "results.json"
    write_results(path, results, {"trtperf_version": "0.1.0"})
    document = json.loads(path.read_text())
    assert document["schema_version"] == RESULTS_SCHEMA_VERSION
    assert document["meta"] == {"trtperf_version": "0.1.0"}
    assert read_results(path) == sorted(results, key=case_order)  # natural order (b2 before b16)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "cannot read results JSON"),
        ('{"schema_version": 99, "cases": []}', "not a trtperf results file of schema"),
        ("[]", "not a trtperf results file of schema"),
    ],
)
def test_bad_results_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(TrtperfUsageError, match=message):
        read_results(path)


def test_missing_results_file(tmp_path: Path) -> None:
    with pytest.raises(TrtperfUsageError, match=r"absent\.json: no such results file; pass the file a run wrote"):
        read_results(tmp_path / "absent.json")


def _row(key: str, **kwargs: Any) -> CaseResult:
    return CaseResult(case=Case.from_key(key), **kwargs)


SUMMARY_RESULTS = [
    _row("cnn[onnxruntime-fp32-b8-s2]", stats={"median_ms": 1.2345, "p99_ms": 2.5},
         baseline={"stats": {"median_ms": 1.1}}, verdict={"status": "regressed", "ratio": 1.12},
         parity={"passed": True, "outputs": [{"max_abs": 1.5e-5}]}),
    _row("mlp[onnxruntime-fp32-b1-s1]", stats={"median_ms": 250.0, "p99_ms": 300.0}, notes=["no baseline"],
         parity={"passed": True, "outputs": [{"max_abs": 0.0}]}),
    _row("bad[onnxruntime-fp32-b1-s1]", outcome=FAILED, parity={"passed": False, "outputs": [{"max_abs": 0.5}]}),
    _row("gpu[tensorrt-fp16-b1-s1]", outcome=SKIPPED),
    _row("fast[onnxruntime-fp32-b1-s1]", stats={"median_ms": 0.9, "p99_ms": 1.0}, verdict={"status": "improved",
                                                                                              "ratio": 0.8}),
]


def test_summary_rows() -> None:
    # by column name: other issues add columns (e.g. "vs torch")
    rows = {row[0]: dict(zip(SUMMARY_HEADER, row, strict=True)) for row in summary_rows(SUMMARY_RESULTS)}
    assert list(rows) == sorted(rows)
    columns = ["median ms", "p99 ms", "baseline ms", "change", "parity err", "verdict"]
    assert [rows["cnn[onnxruntime-fp32-b8-s2]"][c] for c in columns] == [
        "1.234", "2.500", "1.100", "+12.0%", "1.5e-05", "regressed"]
    assert [rows["mlp[onnxruntime-fp32-b1-s1]"][c] for c in columns] == [
        "250.0", "300.0", "-", "-", "0.0e+00", "no baseline"]
    assert [rows["bad[onnxruntime-fp32-b1-s1]"][c] for c in columns] == ["-", "-", "-", "-", "5.0e-01 FAIL", "failed"]
    assert rows["gpu[tensorrt-fp16-b1-s1]"]["verdict"] == "skipped"
    assert [rows["fast[onnxruntime-fp32-b1-s1]"][c] for c in columns[3:]] == ["-20.0%", "-", "improved"]
    assert rows["cnn[onnxruntime-fp32-b8-s2]"]["case"] == "cnn[onnxruntime-fp32-b8-s2]"


def test_a_paired_row_shows_the_baseline_median_its_change_compares_with() -> None:
    # A new user's trial (2026-12-07): "0.119 ... baseline 0.139 ... +23.8% regressed (paired)": the stored
    # median beside a change measured against the baseline engine re-run in this job (0.096 ms).
    paired = _row("bert[onnxruntime-fp32-b2-s1]", stats={"median_ms": 0.119}, verdict={
        "status": "regressed", "ratio": 1.238, "paired": True},
        baseline={"stats": {"median_ms": 0.139}, "paired_median_ms": 0.0961})
    (row,) = summary_rows([paired])
    named = dict(zip(SUMMARY_HEADER, row, strict=True))
    assert (named["median ms"], named["baseline ms"], named["change"]) == ("0.119", "0.096", "+23.8%")
    stored = _row("bert[onnxruntime-fp32-b2-s1]", stats={"median_ms": 0.119}, verdict={
        "status": "pass", "ratio": 0.86}, baseline={"stats": {"median_ms": 0.139}, "paired_median_ms": 0.0961})
    assert dict(zip(SUMMARY_HEADER, summary_rows([stored])[0], strict=True))["baseline ms"] == "0.139"


def test_summary_table_shows_keys_with_brackets_changes_and_verdicts() -> None:
    text = render_summary(SUMMARY_RESULTS, width=200)
    for header in ("case", "median ms", "p99 ms", "baseline ms", "change", "parity err", "verdict"):
        assert header in text
    for result in SUMMARY_RESULTS:
        assert result.case.key in text  # "[...]" is not swallowed as rich markup
    line = next(line for line in text.splitlines() if "cnn[onnxruntime-fp32-b8-s2]" in line)
    assert "+12.0%" in line and "regressed" in line and "1.234" in line
    assert "\x1b[" not in text


def test_baseline_entry() -> None:
    result = _row("cnn[onnxruntime-fp32-b8-s2]", stats={"median_ms": 1.0}, environment={"backend": "onnxruntime"},
                  timing_mode={"clock": "host"}, artifact={"cache_key": "abc"})
    entry = result.baseline_entry("1.2.3")
    assert entry["stats"] == {"median_ms": 1.0}
    assert entry["environment"] == {"backend": "onnxruntime", "trtperf_version": "1.2.3"}
    assert entry["timing_mode"] == {"clock": "host"}
    assert entry["artifact"] == {"cache_key": "abc"}
    assert entry["recorded_at"].endswith("+00:00")
    with pytest.raises(ValueError, match=r"cnn\[onnxruntime-fp32-b8-s2\] has no timing statistics"):
        _row("cnn[onnxruntime-fp32-b8-s2]").baseline_entry("1.2.3")


def test_malformed_case_entry_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text('{"schema_version": 1, "cases": [{"outcome": "passed"}]}')
    with pytest.raises(TrtperfUsageError, match="a case entry is malformed"):
        read_results(path)


@pytest.mark.parametrize(("note", "kind"), [
    ("launch-bound: the host took 0.3100 ms to enqueue each inference", "launch-bound"),
    ("short inference (12.3 us): each CUDA-event pair adds ~2-3 us", "short inference"),
    ("timing waited 2.0 s for another process timing on this device (cpu); timed alone", "timing waited"),
    ("CUDA graph not used: capturing the module in a CUDA graph failed (x: y); timed as stream launches",
     "CUDA graph not used"),
    ("high within-run spread: IQR/median 27.3% (> 10%)", "high within-run spread"),
    ("build only", "build only"),
    ("warm-up did not settle in 3 of 10 runs", "warm-up did not settle"),
    # Seen on the H200: one group per key ("baseline engine bf", "baseline engine e", ...) before the fix.
    ("baseline engine bf7b380bce6a is no longer in the cache: no paired A/B",
     "baseline engine is no longer in the cache"),
    ("baseline engine e0d2c1a9b3f4 is no longer in the cache: no paired A/B",
     "baseline engine is no longer in the cache"),
    # The zoo's fp16 cases grouped as "the fp" (cut at the digits of "fp16").
    ("the fp16 conversion clamped 1 constant to +-65504 (e.g. 'val_111': [-3.403e+38, -3.403e+38]): the variant",
     "the fp16 conversion clamped"),
    ("int8 calibration clipped 3 activations", "int8 calibration clipped"),
])
def test_note_kind(note: str, kind: str) -> None:
    assert note_kind(note) == kind


def test_summary_groups_notes_by_kind_one_line_each() -> None:
    """Issue 14: one paragraph per case made ~250 lines for 84 cases; now one line per kind of note."""
    results = [
        _row(f"m[torch-fp32-b{b}-s1]", stats={"median_ms": 0.3, "p99_ms": 0.4},
             verdict={"status": "no baseline", "note": f"no baseline; launch-bound: the host took 0.{b} ms; even "
                                                       f"with CUDA-graph replay; high within-run spread: IQR/median "
                                                       f"{b}%; a noisy machine: pin cores"},
             notes=["CUDA graph not used: capture failed (why); timed as stream launches"] if b == 2 else [])
        for b in (1, 2, 4)
    ]
    assert grouped_notes(results) == {
        "launch-bound": ["m[torch-fp32-b1-s1]", "m[torch-fp32-b2-s1]", "m[torch-fp32-b4-s1]"],
        "high within-run spread": ["m[torch-fp32-b1-s1]", "m[torch-fp32-b2-s1]", "m[torch-fp32-b4-s1]"],
        "CUDA graph not used": ["m[torch-fp32-b2-s1]"],
    }
    text = render_summary(results, width=200)
    lines = [line for line in text.splitlines() if "(3): " in line or "(1): " in line]
    assert lines == ["launch-bound (3): m[torch-fp32-b1-s1], m[torch-fp32-b2-s1], m[torch-fp32-b4-s1]",
                     "high within-run spread (3): m[torch-fp32-b1-s1], m[torch-fp32-b2-s1], m[torch-fp32-b4-s1]",
                     "CUDA graph not used (1): m[torch-fp32-b2-s1]"]
    assert "0.1 ms" not in text  # the details stay in results.json


def test_an_untimed_case_says_why_before_its_other_notes() -> None:
    """The zoo at --trtperf-no-timing: fp16 cases showed their precision note, cut, as their verdict."""
    clamped = "the fp16 conversion clamped 1 constant to +-65504"
    results = [_row("m[onnxruntime-fp16-b2-s1]", notes=[clamped, "no timing"]),
               _row("m[onnxruntime-fp32-b2-s1]", notes=[clamped]),
               _row("m[tensorrt-fp32-b2-s1]", notes=["build only"])]
    verdicts = [row[-1] for row in summary_rows(results)]
    assert verdicts == ["no timing", "the fp16 conversion clamped", "build only"]


def test_a_non_finite_reference_is_named_in_the_parity_column() -> None:
    """A NaN reference gives max_abs 0.0 over its finite elements: '0.0e+00 FAIL' read as a near-pass."""
    nan_ref = {"max_abs": 0.0, "reference_nonfinite": 35, "tolerance": {"allow_nonfinite": False}}
    allowed = {"max_abs": 1e-6, "reference_nonfinite": 3, "tolerance": {"allow_nonfinite": True}}
    results = [CaseResult(case=Case("nan", "onnxruntime", "fp32", 4, 1), outcome="failed",
                          parity={"passed": False, "outputs": [nan_ref]}),
               CaseResult(case=Case("ok", "onnxruntime", "fp32", 4, 1), parity={"passed": True, "outputs": [allowed]})]
    parity = {row[0]: row[SUMMARY_HEADER.index("parity err")] for row in summary_rows(results)}
    assert parity == {"nan[onnxruntime-fp32-b4-s1]": "NaN/Inf ref FAIL", "ok[onnxruntime-fp32-b4-s1]": "1.0e-06"}


def test_notes_group_as_whole_notes_not_fragments() -> None:
    """Found by a new-user run: the groups read 'too few runs to decide a regression ( (6)', 'at least (6)',
    'iterations_per_sample (12)' and 'l (12)' (a mode mismatch cut at ';' and at the '2' of 'l2_flush')."""
    few = CaseResult(case=Case("a", "onnxruntime", "fp32", 1, 1), verdict={
        "status": "inconclusive",
        "note": "too few runs to decide a regression (3 baseline, 3 candidate; at least 5 each); noisy: run-to-run "
                "CV of run medians 6.0% > half the threshold (2.5%); expect inconclusive verdicts or raise the "
                "threshold"})
    mismatch = CaseResult(case=Case("b", "onnxruntime", "fp32", 1, 1), verdict={
        "status": "mode mismatch", "note": "iterations_per_sample: baseline 4, this run 1, l2_flush: baseline True, "
                                           "this run False"})
    assert list(grouped_notes([few, mismatch])) == ["too few runs to decide a regression", "noisy", "mode mismatch"]


@pytest.mark.parametrize("width", [80, 100, 120])
def test_summary_fits_the_terminal_and_keeps_every_case_id_whole(width: int) -> None:
    """At 80-120 columns the table was 140 wide with long ids and rich folded every numeric cell."""
    keys = ["bert_base_uncased_long_name[torch_compile-bf16-b16-seq512-width64-s2]",
            "segformer_b0[tensorrt-fp16-b8-seq128-s1]", "mlp[onnxruntime-fp32-b32-s2]"]
    results = [_row(key, stats={"median_ms": 12.5, "p99_ms": 13.75}, baseline={"stats": {"median_ms": 11.9}},
                    verdict={"status": "regressed", "ratio": 1.05}, parity={"passed": True, "outputs": [
                        {"max_abs": 1e-5}]}, notes=["launch-bound: the host took 0.31 ms"]) for key in keys]
    text = render_summary(results, width=width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), [line for line in lines if len(line) > width]
    for key in keys:  # on a line of their own, whole, with the verdict; the numbers on the next line
        (index,) = [i for i, line in enumerate(lines) if line.startswith(key)]
        assert lines[index] == f"{key}  regressed"
        assert lines[index + 1].split() == ["12.500", "13.750", "-", "11.900", "+5.0%", "1.0e-05"]
    assert "(vs torch: speed-up over torch eager on the same device)" in lines
    assert [line.split(" (3):")[0] for line in lines if "(3):" in line] == ["launch-bound"]


def test_summary_is_one_line_per_case_where_it_fits() -> None:
    results = [_row("mlp[onnxruntime-fp32-b32-s2]", stats={"median_ms": 0.132, "p99_ms": 0.145},
                    verdict={"status": "a verdict with a long note that does not fit in the room left"})]
    lines = render_summary(results, width=120).splitlines()
    assert lines[2].startswith("mlp[onnxruntime-fp32-b32-s2]  ") and "0.132" in lines[2]
    assert len(lines[2]) == 120 and lines[2].endswith("…")  # the verdict cut to fit; in full in results.json
    results[0].verdict = {"status": "pass"}
    lines = render_summary(results, width=120).splitlines()
    assert lines[1].split() == ["case", "median", "ms", "p99", "ms", "vs", "torch", "(same", "device)", "baseline",
                                "ms", "change", "parity", "err", "verdict"]
    assert lines[2].split()[::7] == ["mlp[onnxruntime-fp32-b32-s2]", "pass"]
