"""The ``trtperf`` command, run through ``cli.main`` on files made here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trtperf.cases import Case
from trtperf.cli import main
from trtperf.record.baselines import SCHEMA_VERSION, BaselineStore
from trtperf.record.results import CaseResult, read_results, write_results
from trtperf.timing.stats import RunSamples, summarize

SLUG = "cpu-test"


def _stats(median_ms: float) -> dict[str, Any]:
    runs = [RunSamples(latencies=(median_ms / 1e3,) * 4, wall_s=median_ms * 4 / 1e3, inferences=4)] * 3
    return summarize(runs, batch=1).to_json()


def _result(key: str, median_ms: float = 2.0, *, parity_passed: bool = True, timed: bool = True,
            slug: str = SLUG) -> CaseResult:
    return CaseResult(
        case=Case.from_key(key),
        device={"kind": "cpu", "name": "Test CPU", "slug": slug},
        environment={"backend": "onnxruntime", "backend_version": "1.0"},
        stats=_stats(median_ms) if timed else None,
        parity={"passed": parity_passed, "outputs": [{"max_abs": 0.0 if parity_passed else 0.5}]},
        verdict={"status": "pass", "ratio": 1.01},
        timing_mode={"clock": "host"},
    )


@pytest.fixture
def results_file(tmp_path: Path) -> Path:
    path = tmp_path / "results.json"
    write_results(path, [
        _result("mlp[onnxruntime-fp32-b1-s1]", 2.0),
        _result("cnn[onnxruntime-fp32-b8-s2]", 5.0),
        _result("broken[onnxruntime-fp32-b1-s1]", parity_passed=False),
        _result("untimed[onnxruntime-fp32-b1-s1]", timed=False),
    ], {"trtperf_version": "test"})
    return path


def test_baseline_show_with_no_files(baseline_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    baseline_dir.mkdir()
    assert main(["baseline", "show", "--baseline-dir", str(baseline_dir)]) == 0
    assert capsys.readouterr().out == f"no baseline files in {baseline_dir}\n"


def test_baseline_update_from_results_then_show(results_file: Path, baseline_dir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    store = BaselineStore(baseline_dir)
    store.update(SLUG, {"name": "Test CPU"}, {"kept[onnxruntime-fp32-b1-s1]": {"stats": _stats(9.0)}})
    assert main(["baseline", "update", "--from", str(results_file), "--baseline-dir", str(baseline_dir)]) == 0
    out = capsys.readouterr().out
    assert f"baseline updated: {baseline_dir / (SLUG + '.json')} (2 cases written, other entries kept)" in out
    assert "not recorded (no timing, or parity failed): broken[onnxruntime-fp32-b1-s1]" in out
    assert "not recorded (no timing, or parity failed): untimed[onnxruntime-fp32-b1-s1]" in out
    document = json.loads((baseline_dir / f"{SLUG}.json").read_text())
    assert document["schema_version"] == SCHEMA_VERSION
    assert sorted(document["entries"]) == [
        "cnn[onnxruntime-fp32-b8-s2]", "kept[onnxruntime-fp32-b1-s1]", "mlp[onnxruntime-fp32-b1-s1]"]

    assert main(["baseline", "show", "--baseline-dir", str(baseline_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{baseline_dir / (SLUG + '.json')}  (Test CPU, 3 cases)"
    cnn = next(line for line in lines if "cnn[onnxruntime-fp32-b8-s2]" in line)
    assert "median    5.0000 ms" in cnn and "runs   3" in cnn and "onnxruntime 1.0" in cnn
    assert [line.split()[0] for line in lines[1:]] == sorted(line.split()[0] for line in lines[1:])


def test_baseline_update_with_k_selects_cases(results_file: Path, baseline_dir: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "update", "--from", str(results_file), "--baseline-dir", str(baseline_dir),
                 "-k", "cnn"]) == 0
    assert "(1 case written, other entries kept)" in capsys.readouterr().out
    loaded = BaselineStore(baseline_dir).load(SLUG)
    assert loaded is not None and list(loaded.entries) == ["cnn[onnxruntime-fp32-b8-s2]"]


def test_baseline_update_with_nothing_to_record_fails(results_file: Path, baseline_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "update", "--from", str(results_file), "--baseline-dir", str(baseline_dir),
                 "-k", "broken"]) == 1
    assert capsys.readouterr().out == f"{results_file}: no timed case to record matching -k 'broken'\n"
    assert not (baseline_dir / f"{SLUG}.json").exists()


def test_baseline_update_refuses_a_corrupt_baseline_and_keeps_it(results_file: Path, baseline_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    baseline_dir.mkdir()
    corrupt = baseline_dir / f"{SLUG}.json"
    corrupt.write_bytes(b'{"schema_version": 1, "entr')
    assert main(["baseline", "update", "--from", str(results_file), "--baseline-dir", str(baseline_dir)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"trtperf: error: {corrupt}: not valid JSON")
    assert corrupt.read_bytes() == b'{"schema_version": 1, "entr'


def test_baseline_show_unknown_device(baseline_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    BaselineStore(baseline_dir).update(SLUG, {}, {"a[onnxruntime-fp32-b1-s1]": {"stats": _stats(1.0)}})
    assert main(["baseline", "show", "--baseline-dir", str(baseline_dir), "--device", "nvidia-h100"]) == 1
    err = capsys.readouterr().err
    assert "nvidia-h100.json: no such baseline file; known devices: ['cpu-test']" in err


def test_baseline_update_from_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["baseline", "update", "--from", str(tmp_path / "nope.json"), "--baseline-dir", str(tmp_path)]) == 1
    assert "nope.json: no such results file; pass the file a run wrote" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["history", "--dir", "{missing}"],
    ["baseline", "show", "--baseline-dir", "{missing}"],
    ["baseline", "migrate", "--baseline-dir", "{missing}"],
    ["baseline", "update", "--from", "{missing}", "--baseline-dir", "{tmp}"],
    ["baseline", "diff", "{missing}", "{missing}"],
    ["cache", "ls", "--cache-dir", "{missing}"],
    ["cache", "verify", "--cache-dir", "{missing}"],
    ["cache", "prune", "--older-than", "1", "--cache-dir", "{missing}"],
    ["results", "show", "{missing}"],
    ["results", "merge", "{missing}", "-o", "{tmp}/merged.json"],
    ["results", "report", "{missing}", "--markdown", "{tmp}/r.md"],
])
def test_every_command_fails_on_a_missing_input_path_naming_it_and_the_fix(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`trtperf history --dir nope` said "no history runs" and exited 0 (a typo passed CI); `cache ls` created
    the directory it was asked to list."""
    missing = tmp_path / "nope"
    assert main([a.format(missing=missing, tmp=tmp_path) for a in argv]) == 1
    out = capsys.readouterr()
    assert str(missing) in out.err and ("pass " in out.err) and out.out == ""
    assert not missing.exists() and not (tmp_path / "merged.json").exists()


def test_history_of_an_empty_directory_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"no history runs in {tmp_path}\n"


def test_results_show(results_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["results", "show", str(results_file)]) == 0
    out = capsys.readouterr().out
    assert "trtperf summary" in out
    for key in ("mlp[onnxruntime-fp32-b1-s1]", "cnn[onnxruntime-fp32-b8-s2]", "broken[onnxruntime-fp32-b1-s1]"):
        assert key in out
    assert "+1.0%" in out and "FAIL" in out


def test_results_merge_later_files_win(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, merged = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "out" / "merged.json"
    write_results(first, [_result("mlp[onnxruntime-fp32-b1-s1]", 2.0), _result("cnn[onnxruntime-fp32-b1-s1]", 3.0)],
                  {})
    write_results(second, [_result("mlp[onnxruntime-fp32-b1-s1]", 7.0),
                           _result("mlp[onnxruntime-fp32-b1-s1]", 8.0, slug="cpu-other")], {})
    assert main(["results", "merge", str(first), str(second), "-o", str(merged)]) == 0
    assert capsys.readouterr().out == f"merged 3 case results from 2 files into {merged}\n"
    rows = {(r.device["slug"], r.case.key): r for r in read_results(merged)}
    assert sorted(rows) == [("cpu-other", "mlp[onnxruntime-fp32-b1-s1]"), (SLUG, "cnn[onnxruntime-fp32-b1-s1]"),
                            (SLUG, "mlp[onnxruntime-fp32-b1-s1]")]
    stats = rows[(SLUG, "mlp[onnxruntime-fp32-b1-s1]")].stats
    assert stats is not None and stats["median_ms"] == pytest.approx(7.0)
    assert json.loads(merged.read_text())["meta"] == {"merged_from": [str(first), str(second)]}


def test_results_merge_of_a_bad_file_fails_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 42}')
    merged = tmp_path / "merged.json"
    assert main(["results", "merge", str(bad), "-o", str(merged)]) == 1
    assert "not a trtperf results file" in capsys.readouterr().err
    assert not merged.exists()


@pytest.mark.parametrize("argv", [[], ["baseline"], ["baseline", "update"], ["results", "merge", "a.json"],
                                  ["frobnicate"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code == 2
    assert "usage: trtperf" in capsys.readouterr().err


def test_baseline_show_names_a_malformed_entry_instead_of_crashing(baseline_dir: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    baseline_dir.mkdir()
    good = {"stats": {"run_medians_ms": [1.0], "median_ms": 1.0, "p99_ms": 1.2, "runs": 1}}
    (baseline_dir / f"{SLUG}.json").write_text(json.dumps({
        "schema_version": SCHEMA_VERSION, "device": "not an object",
        "entries": {"m[onnxruntime-fp32-b1-s1]": {**good, "timing_mode": "compute"},
                    "n[onnxruntime-fp32-b1-s1]": good}}))
    (baseline_dir / "cpu-broken.json").write_text("{not json")
    assert main(["baseline", "show", "--baseline-dir", str(baseline_dir)]) == 1
    out, err = capsys.readouterr()
    assert "m[onnxruntime-fp32-b1-s1]" in out and "MALFORMED: field 'timing_mode' must be a JSON object" in out
    assert "n[onnxruntime-fp32-b1-s1]" in out and "1.0000 ms" in out
    assert "cpu-broken.json: not valid JSON" in err
