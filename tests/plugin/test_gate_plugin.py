"""The statistical gate through pytest, on the real ONNX Runtime backend (issue 6)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FAST = ["--trtperf-backend", "onnxruntime", "--trtperf-runs", "5", "--trtperf-min-time", "0.03",
        "--trtperf-min-iters", "10", "--trtperf-warmup", "0.01", "-p", "no:cacheprovider"]
KEY = "tiny[onnxruntime-fp32-b4-s1]"


@pytest.fixture
def suite(pytester: pytest.Pytester, tmp_path: Path, tiny_suite: Callable[..., None]) -> Callable[..., list[str]]:
    """Writes the tiny suite (its heavy variant: a 512-wide, 6-deep MLP); returns the run's arguments."""

    def write(batches: str = "(4,)", settings: str = "{}") -> list[str]:
        tiny_suite(batches=batches, settings=settings, heavy=(512, 6))
        pytester.makeini("[pytest]\n")
        # "--opt=PATH": a separate existing PATH argument would move pytest's rootdir away from the ini file.
        return [*FAST, f"--trtperf-cache-dir={tmp_path / 'cache'}",
                f"--trtperf-baseline-dir={tmp_path / 'baselines'}", f"--trtperf-results={tmp_path / 'results.json'}"]

    return write


def _cases(tmp_path: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((tmp_path / "results.json").read_text())
    return {c["case"]["key"]: c for c in document["cases"]}


def _baseline(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    (path,) = sorted(p for p in (tmp_path / "baselines").glob("*.json") if not p.name.endswith(".samples.json"))
    return path, json.loads(path.read_text())


@pytest.mark.timed
def test_a_real_slowdown_is_judged_by_a_paired_ab_against_the_old_engine(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suite: Callable[..., list[str]]
) -> None:
    args = suite()
    pytester.runpytest(*args, "--trtperf-update-baselines").assert_outcomes(passed=1)
    monkeypatch.setenv("TRTPERF_TEST_HEAVY", "1")  # new ONNX, new engine; the old engine stays cached
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"*{KEY.replace('[', '[[]')}: latency regressed: median * ms vs baseline * ms (x*, CI *, p *, * vs * runs, "
        "paired A/B: the baseline's engine re-measured in this job;*Wilcoxon*) in *cpu-*.json. If the slowdown "
        "is intended, record it with `pytest <your suites> -k 'tiny' --trtperf-update-baselines`*",
    ])
    result.stdout.fnmatch_lines(["*tiny*regressed (paired)*"])
    verdict = _cases(tmp_path)[KEY]["verdict"]
    assert verdict["status"] == "regressed" and verdict["paired"] is True
    assert verdict["ratio_low"] > 1.01 and verdict["p_value"] <= verdict["alpha"]
    assert verdict["runs_baseline"] == verdict["runs_candidate"] >= 9  # 9 pairs reach alpha 0.01/3 (1/512)


@pytest.mark.timed
def test_rerun_passes_and_the_baseline_keeps_what_the_gate_needs(pytester: pytest.Pytester, tmp_path: Path,
                                                                  suite: Callable[..., list[str]],
                                                                  same_engine_rerun: list[str]) -> None:
    args = suite(batches="(2, 4)")
    pytester.runpytest(*args, "--trtperf-update-baselines").assert_outcomes(passed=2)
    path, document = _baseline(tmp_path)
    assert document["schema_version"] == 3
    entry = document["entries"][KEY]
    assert len(entry["stats"]["run_medians_ms"]) == 10  # a recording takes >= 10 runs (5 per look otherwise)
    samples = json.loads(path.with_name(path.stem + ".samples.json").read_text())["samples"][KEY]  # the sidecar
    assert len(samples["run_p99_ms"]) == 10 and 0 < len(samples["raw_ms"]) <= 3
    rerun = pytester.runpytest(*args, *same_engine_rerun)
    rerun.assert_outcomes(passed=2)
    for case in _cases(tmp_path).values():
        verdict = case["verdict"]
        assert verdict["status"] in ("pass", "inconclusive"), verdict  # never regressed against itself
        assert verdict["alpha"] == pytest.approx(0.01 / (6 * 2))  # 6 looks x 2 cases in the session
        assert "Mann-Whitney" in verdict["test"]


@pytest.mark.timed
def test_a_v1_baseline_file_is_migrated_in_a_real_run(pytester: pytest.Pytester, tmp_path: Path,
                                                       suite: Callable[..., list[str]]) -> None:
    args = suite()
    pytester.runpytest(*args, "--trtperf-update-baselines").assert_outcomes(passed=1)
    path, document = _baseline(tmp_path)
    document["schema_version"] = 1  # what trtperf 0.1 wrote: no samples, and run medians 1000x slower
    del document["samples_file"]
    for entry in document["entries"].values():
        entry["stats"]["run_medians_ms"] = [v * 1000 for v in entry["stats"]["run_medians_ms"]]
    v1_text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    path.write_text(v1_text)
    result = pytester.runpytest(*args, "--trtperf-confidence", "0.95")  # alpha 0.05/6: 5 vs 10 runs can reach it
    result.assert_outcomes(passed=1)
    verdict = _cases(tmp_path)[KEY]["verdict"]
    assert verdict["status"] == "improved" and verdict["ratio"] < 0.01
    assert path.read_text() == v1_text, "a plain run never rewrites a baseline file"


@pytest.mark.timed
def test_gate_settings_come_from_ini_and_model(pytester: pytest.Pytester, tmp_path: Path,
                                               suite: Callable[..., list[str]], same_engine_rerun: list[str]) -> None:
    args = suite(settings='{"effect_floor": "2%"}')
    pytester.makeini("[pytest]\ntrtperf_confidence = 0.95\ntrtperf_remeasure = 0\n")
    pytester.runpytest(*args, "--trtperf-update-baselines").assert_outcomes(passed=1)
    pytester.runpytest(*args, *same_engine_rerun).assert_outcomes(passed=1)
    verdict = _cases(tmp_path)[KEY]["verdict"]
    assert verdict["alpha"] == pytest.approx(0.05)  # (1 - 0.95) / (1 look x 1 case)
    assert "floor 2.0%" in verdict["test"] and verdict["looks"] == 1


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--trtperf-confidence", "1.5", "Invalid confidence '1.5' from --trtperf-confidence"),
    ("--trtperf-remeasure", "-1", "Invalid remeasure '-1' from --trtperf-remeasure"),
])
def test_bad_gate_option_is_a_usage_error(pytester: pytest.Pytester, option: str, value: str, message: str,
                                          suite: Callable[..., list[str]]) -> None:
    result = pytester.runpytest(*suite(), option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
