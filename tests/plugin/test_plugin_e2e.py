"""The plugin as a user runs it: a small suite through pytester, on the real ONNX Runtime backend."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from onnx import numpy_helper

from trtperf.cache import ArtifactCache, root_name
from trtperf.fsutil import atomic_write_json, file_sha256

# These runs exercise the onnxruntime path; other backends have their own plugin tests.
FAST = ["--trtperf-backend", "onnxruntime", "--trtperf-runs", "3", "--trtperf-min-time", "0.05",
        "--trtperf-min-iters", "10", "--trtperf-warmup", "0.02",
        "-p", "no:cacheprovider"]


@pytest.fixture
def suite(pytester: pytest.Pytester, tmp_path: Path, tiny_suite: Callable[..., None]) -> list[str]:
    tiny_suite()
    pytester.makeini("[pytest]\n")
    # "--opt=PATH", not "--opt PATH": pytest picks its rootdir (and so the ini file) from
    # positional-looking arguments that exist as paths.
    return [*FAST, f"--trtperf-cache-dir={tmp_path / 'cache'}", f"--trtperf-baseline-dir={tmp_path / 'baselines'}",
            f"--trtperf-results={tmp_path / 'results.json'}"]


def _baseline_files(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "baselines").glob("*.json") if not p.name.endswith(".samples.json"))


def test_clean_pass_reports_no_baseline_and_writes_results(pytester: pytest.Pytester, suite: list[str],
                                                           tmp_path: Path) -> None:
    result = pytester.runpytest(*suite)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*tiny[[]onnxruntime-fp32-b4-s1[]]*no baseline*", "*results written to*"])
    document = json.loads((tmp_path / "results.json").read_text())
    (case,) = document["cases"]
    assert case["case"]["key"] == "tiny[onnxruntime-fp32-b4-s1]"
    assert case["parity"]["passed"] is True
    assert case["stats"]["runs"] == 3 and case["stats"]["samples"] >= 30
    assert not _baseline_files(tmp_path), "a plain run must not write baselines"


@pytest.mark.timed
def test_update_writes_baseline_then_rerun_passes(pytester: pytest.Pytester, suite: list[str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  same_engine_rerun: list[str]) -> None:
    monkeypatch.setenv("TRTPERF_LOCK_DIR", str(tmp_path / "locks"))
    pytester.runpytest(*suite, "--trtperf-update-baselines").assert_outcomes(passed=1)
    (path,) = _baseline_files(tmp_path)
    # The baseline directory (committed to git) holds the user's files only: no lock, no temporary file.
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.stem + ".samples.json"]
    assert [p.name for p in (tmp_path / "locks").iterdir() if p.name.startswith(path.name + "-")], "its lock is here"
    baseline = json.loads(path.read_text())
    assert list(baseline["entries"]) == ["tiny[onnxruntime-fp32-b4-s1]"]
    assert path.read_text().endswith("\n")
    # This test is about the baseline round trip, test_gate_plugin about the gate.
    rerun = pytester.runpytest(*suite, *same_engine_rerun)
    rerun.assert_outcomes(passed=1)
    rerun.stdout.fnmatch_lines(["*tiny[[]onnxruntime-fp32-b4-s1[]]*pass*"])


@pytest.mark.timed
def test_injected_slowdown_fails_as_regression(pytester: pytest.Pytester, suite: list[str], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, same_engine_rerun: list[str]) -> None:
    pytester.runpytest(*suite, "--trtperf-update-baselines").assert_outcomes(passed=1)
    monkeypatch.setenv("TRTPERF_TEST_HEAVY", "1")
    result = pytester.runpytest(*suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*tiny[[]onnxruntime-fp32-b4-s1[]]: latency regressed: median * ms vs baseline * ms (x*) in *cpu-*.json."
        " If the slowdown is intended, record it with `pytest <your suites> -k 'tiny' --trtperf-update-baselines`*",
    ])
    # Accepting the intended slowdown: the update records it and keeps the run green.
    pytester.runpytest(*suite, "--trtperf-update-baselines").assert_outcomes(passed=1)
    pytester.runpytest(*suite, *same_engine_rerun).assert_outcomes(passed=1)  # the heavy model is the baseline now


def _engine_artifacts(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / root_name() / "engine-onnxruntime").rglob("*.onnx"))


def test_perturbed_engine_weight_fails_parity_with_details(pytester: pytest.Pytester, suite: list[str],
                                                           tmp_path: Path) -> None:
    pytester.runpytest(*suite, "--trtperf-no-timing").assert_outcomes(passed=1)
    (engine,) = _engine_artifacts(tmp_path / "cache")
    # Simulate a miscompiled engine: change one weight, and keep the cache metadata consistent so
    # the entry is trusted (this is what a wrong-but-intact engine looks like).
    model = onnx.load(str(engine))
    initializer = max(model.graph.initializer, key=lambda t: int(numpy_helper.to_array(t).size))
    weights = numpy_helper.to_array(initializer).copy()
    weights.flat[0] += 5.0
    initializer.CopyFrom(numpy_helper.from_array(weights, initializer.name))
    onnx.save(model, str(engine))
    meta_path = engine.with_name(engine.name + ".meta.json")
    meta = json.loads(meta_path.read_text())
    meta.update(size=engine.stat().st_size, sha256=file_sha256(engine))
    meta["hmac"] = ArtifactCache(engine.parents[4]).sign(meta)  # re-signed by this user: trusted
    atomic_write_json(meta_path, meta)

    result = pytester.runpytest(*suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*tiny[[]onnxruntime-fp32-b4-s1[]]: outputs differ from the ONNX Runtime fp32 reference*",
        "*output 'y' [[]4, 8[]]: max abs error *, max rel error *, worst at index [[]*[]] (got *, expected *);"
        " *% of elements outside atol=1e-06 + rtol=0.001*|expected| + 0.001*rms(expected) [[]rms *[]]*"
        "; relative L2 error * (max 1e-05 = 10 x this model's own error 0 on this output (ONNX Runtime's optimized"
        " run vs the unoptimized reference), kept within [[]1e-05, 0.0003[]])",
        "*set tolerances= in the model declaration of 'tiny'*",
    ])


def test_truncated_cache_entry_is_rebuilt(pytester: pytest.Pytester, suite: list[str], tmp_path: Path) -> None:
    pytester.runpytest(*suite, "--trtperf-no-timing").assert_outcomes(passed=1)
    (engine,) = _engine_artifacts(tmp_path / "cache")
    engine.write_bytes(engine.read_bytes()[:100])
    result = pytester.runpytest(*suite, "--trtperf-no-timing", "-W", "default")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*CacheCorruptionWarning*onnxruntime engine tiny*truncated*rebuilt it*"])
    assert engine.stat().st_size > 100


def test_a_repaired_cache_entry_passes_under_warnings_as_errors(pytester: pytest.Pytester, suite: list[str],
                                                               tmp_path: Path) -> None:
    # A new user's trial (2026-12-07): under filterwarnings = error the repair's warning failed the case
    # ("build failed: CacheCorruptionWarning ... rebuilt it") although the entry was good again.
    pytester.runpytest(*suite, "--trtperf-no-timing").assert_outcomes(passed=1)
    (engine,) = _engine_artifacts(tmp_path / "cache")
    engine.write_bytes(engine.read_bytes()[:100])
    pytester.makeini("[pytest]\nfilterwarnings =\n    error\n")
    pytester.runpytest(*suite, "--trtperf-no-timing").assert_outcomes(passed=1)
    (case,) = json.loads((tmp_path / "results.json").read_text())["cases"]
    assert any(n.startswith("cache entry repaired: onnxruntime engine tiny[") and n.endswith("rebuilt it")
               for n in case["notes"])


def test_unavailable_combination_is_skipped_with_reason(pytester: pytest.Pytester, suite: list[str],
                                                        tiny_suite: Callable[..., None]) -> None:
    tiny_suite(settings="{'precisions': ('fp32', 'tf32')}")
    result = pytester.runpytest(*suite, "--trtperf-no-timing", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*tiny[[]onnxruntime-tf32-b4-s1[]]: tf32 is a GPU math mode*"])


def test_selection_options_and_k(pytester: pytest.Pytester, suite: list[str], tiny_suite: Callable[..., None]) -> None:
    tiny_suite(batches="(1, 4)", streams="(1, 2)")
    result = pytester.runpytest(*suite, "--collect-only", "-q", "--trtperf-batch", "4")
    result.stdout.fnmatch_lines(["*tiny[[]onnxruntime-fp32-b4-s1[]]", "*tiny[[]onnxruntime-fp32-b4-s2[]]"])
    assert "b1-" not in result.stdout.str()
    result = pytester.runpytest(*suite, "--collect-only", "-q", "-k", "s2 and b1")
    result.stdout.fnmatch_lines(["*tiny[[]onnxruntime-fp32-b1-s2[]]", "*1/4 tests collected*"])


def test_a_model_that_k_deselects_is_not_named_when_it_has_no_case(pytester: pytest.Pytester,
                                                                    suite: list[str]) -> None:
    pytester.makepyfile(test_other='''
        import trtperf
        from trtperf import InputSpec
        from torch import nn

        @trtperf.model(inputs=[InputSpec("x", ("batch", 8))], outputs=["y"], batches=(1,), max_batch=2)
        def small():
            return nn.Linear(8, 2)
    ''')
    result = pytester.runpytest(*suite, "--collect-only", "-q", "--trtperf-batch", "4", "-k", "tiny")
    result.stdout.fnmatch_lines(["*tiny[[]onnxruntime-fp32-b4-s1[]]"])
    assert "'small'" not in result.stdout.str()  # -k tiny deselects it: its batch limit is not the user's problem
    result = pytester.runpytest(*suite, "--collect-only", "-q", "--trtperf-batch", "4", "-k", "small or tiny")
    result.stdout.fnmatch_lines(["*--trtperf-batch 4 is above max_batch 2 of model 'small'*"])
    result = pytester.runpytest(*suite, "--collect-only", "-q", "--trtperf-batch", "4", "-k", "test_other")
    result.stdout.fnmatch_lines(["*--trtperf-batch 4 is above max_batch 2 of model 'small'*"])  # by its file
    for expression in ("onnxruntime", "b1", "small[", "not tiny"):  # what its cases' names would have matched
        result = pytester.runpytest(*suite, "--collect-only", "-q", "--trtperf-batch", "4", "-k", expression)
        result.stdout.fnmatch_lines(["*--trtperf-batch 4 is above max_batch 2 of model 'small'*"])


def test_bad_option_value_is_a_usage_error(pytester: pytest.Pytester, suite: list[str]) -> None:
    result = pytester.runpytest(*suite, "--trtperf-runs", "zero")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*Invalid runs 'zero' from --trtperf-runs*"])


def test_ini_and_env_layers(pytester: pytest.Pytester, suite: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\ntrtperf_runs = 2\ntrtperf_threshold = 7%\n")
    without_runs = [a for a in suite if a not in ("--trtperf-runs", "3")]
    result = pytester.runpytest(*without_runs, "--collect-only")
    result.stdout.fnmatch_lines(["*runs=2 *threshold=7.0%*"])
    monkeypatch.setenv("TRTPERF_RUNS", "4")
    result = pytester.runpytest(*without_runs, "--collect-only")
    result.stdout.fnmatch_lines(["*runs=4 *threshold=7.0%*"])
    result = pytester.runpytest(*without_runs, "--collect-only", "--trtperf-runs", "6")
    result.stdout.fnmatch_lines(["*runs=6 *threshold=7.0%*"])


def test_help_lists_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*trtperf*", "*--trtperf-backend=NAMES*", "*--trtperf-update-baselines*"])


@pytest.mark.timed
def test_xdist_workers_report_to_the_controller_which_writes_baselines(pytester: pytest.Pytester, suite: list[str],
                                                                     tmp_path: Path,
                                                                     tiny_suite: Callable[..., None]) -> None:
    tiny_suite(batches="(1, 4)", streams="(1, 2)")
    result = pytester.runpytest_subprocess(*suite, "-n", "2", "-p", "no:benchmark", "--trtperf-update-baselines",
                                           f"--junitxml={tmp_path / 'junit.xml'}",
                                           f"--trtperf-benchmark-json={tmp_path / 'bench.json'}")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([
        # The controller collects nothing: the baseline file per device, as it stood before the run, comes
        # with the summary.
        "trtperf: baseline for onnxruntime*on device cpu-*: *cpu-*.json (missing: no baseline gating for this device)",
        "*baseline updated: *cpu-*.json (4 cases written, other entries kept)*"])
    (path,) = _baseline_files(tmp_path)
    assert len(json.loads(path.read_text())["entries"]) == 4
    assert len(json.loads((tmp_path / "results.json").read_text())["cases"]) == 4
    # The reports see every worker's cases; JUnit gets the numbers, not the results blob the workers send.
    assert [b["name"] for b in json.loads((tmp_path / "bench.json").read_text())["benchmarks"]] == [
        "tiny[onnxruntime-fp32-b1-s1]", "tiny[onnxruntime-fp32-b1-s2]", "tiny[onnxruntime-fp32-b4-s1]",
        "tiny[onnxruntime-fp32-b4-s2]"]
    junit = (tmp_path / "junit.xml").read_text()
    assert junit.count('<property name="median_ms"') == 4 and 'name="trtperf"' not in junit


PROJECT_TESTS = """
import pytest

@pytest.mark.parametrize("mode", ["resize-up2-b4-s1"])  # shaped like a trtperf case id
def test_resize(mode):
    pass
"""


def test_xdist_a_project_test_shaped_like_a_case_is_no_trtperf_session(pytester: pytest.Pytester,
                                                                        tmp_path: Path) -> None:
    """The controller took such ids for trtperf cases and wrote an empty results file; the workers now say."""
    pytester.makepyfile(test_project=PROJECT_TESTS)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider",
                                           f"--trtperf-results={tmp_path / 'results.json'}")
    result.assert_outcomes(passed=1)
    assert not (tmp_path / "results.json").exists()
    assert "trtperf" not in result.stdout.str().split("passed")[-1] and "no trtperf case ran" not in result.stdout.str()


def test_xdist_the_controller_explains_an_empty_selection_and_reports_an_unknown_axis(
        pytester: pytest.Pytester, suite: list[str], tmp_path: Path) -> None:
    result = pytester.runpytest_subprocess(*suite, "-n", "2", "--trtperf-batch", "60000")
    result.stdout.fnmatch_lines(["trtperf: no case selected:",
                                 "  --trtperf-batch 60000 is above max_batch 64 of model 'tiny' (*"])
    assert json.loads((tmp_path / "results.json").read_text())["cases"] == []
    (tmp_path / "results.json").unlink()
    result = pytester.runpytest_subprocess(*suite, "-n", "2", "--trtperf-dim", "sq=4")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["ERROR: --trtperf-dim sq=4: no collected model declares the axis 'sq'; *"])
    assert not (tmp_path / "results.json").exists() and "INTERNALERROR" not in result.stdout.str()


XDIST_CPU_SUITE = '''
from torch import nn
import trtperf
from trtperf import InputSpec

def _mlp():
    return nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 10))

@trtperf.model(inputs=[InputSpec("x", ("batch", 256))], outputs=["y"], batches=(16,), backends=["onnxruntime"])
def mlp_a():
    return _mlp()

@trtperf.model(inputs=[InputSpec("x", ("batch", 256))], outputs=["y"], batches=(16,), backends=["onnxruntime"])
def mlp_b():
    return _mlp()
'''


@pytest.mark.timed
def test_xdist_workers_on_one_cpu_take_turns_timing(pytester: pytest.Pytester, suite: list[str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14 / ../shared/cases/xdist_cpu_timing.py: two workers timing ONNX Runtime on one CPU measured each
    other. The timed parts now hold the machine-wide 'cpu' lock: their windows never overlap."""
    pytester.makepyfile(test_pair=XDIST_CPU_SUITE)
    monkeypatch.setenv("TRTPERF_LOCK_DIR", str(tmp_path / "locks"))
    result = pytester.runpytest_subprocess(*suite, "-n", "2", "-p", "no:benchmark", "--trtperf-runs", "5",
                                           "--trtperf-min-time", "0.2", "test_pair.py")
    result.assert_outcomes(passed=2)
    cases = json.loads((tmp_path / "results.json").read_text())["cases"]
    locks = [c["environment"]["device_lock"] for c in cases]
    assert {lock["name"] for lock in locks} == {"cpu"} and {lock["worker"] for lock in locks} == {"gw0", "gw1"}
    first, second = sorted(locks, key=lambda lock: lock["held_from"])
    assert first["held_until"] <= second["held_from"]  # serialized, not concurrent
    # Both were ready at about the same time, so the second waited for the first, and says so.
    waited = [n for c in cases for n in c["notes"] if n.startswith("timing waited")]
    assert second["waited_s"] > 0.05 and len(waited) == 1 and "another process timing on this device (cpu)" in waited[0]


@pytest.mark.timed
def test_a_baseline_from_another_timing_mode_fails_instead_of_being_compared(
    pytester: pytest.Pytester, suite: list[str], tmp_path: Path
) -> None:
    pytester.runpytest(*suite, "--trtperf-update-baselines").assert_outcomes(passed=1)
    (path,) = _baseline_files(tmp_path)
    document = json.loads(path.read_text())
    document["entries"]["tiny[onnxruntime-fp32-b4-s1]"]["timing_mode"]["cuda_graph"] = True
    atomic_write_json(path, document)
    result = pytester.runpytest(*suite)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*tiny[[]onnxruntime-fp32-b4-s1[]]: the baseline in *cpu-*.json was measured in another timing mode "
        "(cuda_graph: baseline True, this run False); the baseline was timed as CUDA-graph replays*"
        "--trtperf-update-baselines*",
    ])
