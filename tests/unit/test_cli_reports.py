"""`trtperf baseline diff` and `trtperf cache ls | verify | prune` (issue 15, item 7)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from trtperf.cache import ArtifactCache
from trtperf.cachectl import Entry, entries, prune_plan
from trtperf.cases import Case
from trtperf.cli import main
from trtperf.record.baselines import BaselineStore, record_results
from trtperf.record.results import CaseResult, write_results
from trtperf.timing.stats import RunSamples, summarize
from trtperf.verdict.judging import run_details


def _result(key: str, median_ms: float) -> CaseResult:
    runs = [RunSamples(latencies=tuple(median_ms * 1e-3 * (1 + 0.001 * i) for i in range(20)), wall_s=0.1,
                       inferences=20) for _ in range(5)]
    return CaseResult(case=Case.from_key(key), device={"slug": "cpu-x", "name": "x"},
                      stats=summarize(runs, 1).to_json(), samples=run_details(runs))


def test_baseline_diff_of_two_files_and_of_a_results_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    record_results(BaselineStore(old_dir), [_result("m[onnxruntime-fp32-b16-s1]", 2.0),
                                            _result("m[onnxruntime-fp32-b2-s1]", 1.0),
                                            _result("gone[onnxruntime-fp32-b1-s1]", 1.0)], "0.1.0")
    new_results = [_result("m[onnxruntime-fp32-b16-s1]", 2.0), _result("m[onnxruntime-fp32-b2-s1]", 1.2),
                   _result("new[onnxruntime-fp32-b1-s1]", 1.0)]
    record_results(BaselineStore(new_dir), new_results, "0.1.0")
    assert main(["baseline", "diff", str(old_dir / "cpu-x.json"), str(new_dir / "cpu-x.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("baseline diff: 1 changed, 1 added, 1 removed, 1 same")
    lines = out.splitlines()
    (b2,) = [line for line in lines if line.startswith("m[onnxruntime-fp32-b2-s1]")]
    assert "+20.0%" in b2 and b2.endswith("changed")
    assert not any(line.startswith("m[onnxruntime-fp32-b16-s1]") for line in lines), "unchanged hidden"
    assert [line.split()[0] for line in lines[2:]] == ["gone[onnxruntime-fp32-b1-s1]", "m[onnxruntime-fp32-b2-s1]",
                                                      "new[onnxruntime-fp32-b1-s1]"]
    results_path = tmp_path / "results.json"
    write_results(results_path, new_results, {})
    assert main(["baseline", "diff", str(old_dir / "cpu-x.json"), str(results_path), "--markdown", "--all"]) == 0
    markdown = capsys.readouterr().out
    assert markdown.startswith("**baseline diff**: 1 changed, 1 added, 1 removed, 1 same")
    assert re.search(r"\| `m\[onnxruntime-fp32-b2-s1\]` \| 1\.0\d* \| 1\.2\d* \| \+20\.0% \|", markdown)
    assert markdown.index("b2-s1") < markdown.index("b16-s1")


@pytest.mark.parametrize(("old_ms", "new_ms", "status", "shown"), [
    (1.0, 0.99951, "same", "+0.0%"),    # -0.049 %: printed "-0.0%" and "changed" before
    (1.0, 1.00049, "same", "+0.0%"),
    (1.0, 0.9994, "changed", "-0.1%"),  # shows as -0.1 %: a change
    (1.0, 1.0006, "changed", "+0.1%"),
])
def test_baseline_diff_a_change_rounding_to_zero_is_no_change(tmp_path: Path, old_ms: float, new_ms: float,
                                                              status: str, shown: str) -> None:
    from trtperf.record.diff import diff_files, render_diff

    key = "m[onnxruntime-fp32-b1-s1]"
    record_results(BaselineStore(tmp_path / "old"), [_result(key, old_ms)], "0.1.0")
    record_results(BaselineStore(tmp_path / "new"), [_result(key, new_ms)], "0.1.0")
    (row,) = diff_files(tmp_path / "old" / "cpu-x.json", tmp_path / "new" / "cpu-x.json")
    assert row.status == status
    text = render_diff([row], show_same=True)
    assert f" {shown} " in text and "-0.0%" not in text
    assert text.startswith(f"baseline diff: {int(status == 'changed')} changed")


def test_baseline_diff_names_an_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["baseline", "diff", str(bad), str(bad)]) == 1
    assert "bad.json: cannot read it as JSON" in capsys.readouterr().err


def _fill(cache: ArtifactCache, name: str, size: int) -> Path:
    def produce(path: Path) -> None:
        path.write_bytes(b"x" * size)

    entry = cache.get_or_create("export", {"name": name}, produce, suffix=".onnx")
    cache.sidecar(entry, "layers.txt").write_text("derived")
    return entry.path


def _age(path: Path, days: float) -> None:
    then = time.time() - days * 86400
    for p in path.parent.glob(path.name + "*"):
        os.utime(p, (then, then))


def test_cache_ls_verify_and_prune_touch_only_trtperf_files(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "cache"
    cache = ArtifactCache(directory)
    old, new = _fill(cache, "old", 1000), _fill(cache, "new", 2000)
    _age(old, 40)
    mine = directory / "notes.txt"  # the user's file beside trtperf's root: never touched
    mine.write_text("keep me")
    in_root = cache.root / "export" / "notes.txt"  # not of trtperf's layout inside its root: never touched
    in_root.write_text("keep me too")
    stray = cache.root / "export" / "ff" / "not-a-key"  # a directory of another shape
    stray.mkdir(parents=True)
    assert len(list(entries(cache))) == 2
    assert main(["cache", "ls", f"--cache-dir={directory}"]) == 0
    assert "2 entries" in capsys.readouterr().out
    assert main(["cache", "verify", f"--cache-dir={directory}"]) == 0
    new.write_bytes(b"truncated")
    assert main(["cache", "verify", f"--cache-dir={directory}"]) == 1
    assert "CORRUPT" in capsys.readouterr().out
    assert main(["cache", "prune", f"--cache-dir={directory}", "--older-than", "30", "--dry-run"]) == 0
    assert "would delete" in capsys.readouterr().out and old.exists()
    assert main(["cache", "prune", f"--cache-dir={directory}", "--older-than", "30"]) == 0
    assert not old.exists() and not old.parent.exists()
    assert new.exists() and mine.read_text() == "keep me" and in_root.exists() and stray.is_dir()
    assert main(["cache", "prune", f"--cache-dir={directory}", "--max-size", "0"]) == 0
    assert not new.exists() and list(entries(cache)) == []
    assert main(["cache", "prune", f"--cache-dir={directory}"]) == 1  # neither limit given


def _entry(mtime: float, size: int) -> Entry:
    return Entry("k", f"{int(mtime):064d}", Path("a"), Path("d"), size, mtime)


def test_prune_plan_deletes_old_then_oldest_until_under_the_size() -> None:
    day = 86400.0
    now = 100 * day
    items = [_entry(now - 50 * day, 10), _entry(now - 5 * day, 400_000_000), _entry(now - 3 * day, 400_000_000),
             _entry(now - 1 * day, 400_000_000)]
    assert prune_plan(items, 30, None, now) == items[:1]
    assert prune_plan(items, None, 0.9, now) == items[:2]
    assert prune_plan(items, 30, 0.9, now) == items[:2]
    assert prune_plan(items, None, None, now) == []


def test_results_report_writes_reports_of_a_saved_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results_path = tmp_path / "results.json"
    write_results(results_path, [_result("m[onnxruntime-fp32-b16-s1]", 2.0), _result("m[onnxruntime-fp32-b2-s1]", 1.0)],
                  {})
    md, bench = tmp_path / "s.md", tmp_path / "b.json"
    assert main(["results", "report", str(results_path), "--markdown", str(md), "--benchmark-json", str(bench)]) == 0
    assert "Markdown summary written to" in capsys.readouterr().out
    assert md.read_text().index("b2-s1") < md.read_text().index("b16-s1")
    assert [b["name"] for b in json.loads(bench.read_text())["benchmarks"]] == ["m[onnxruntime-fp32-b2-s1]",
                                                                               "m[onnxruntime-fp32-b16-s1]"]
    assert main(["results", "report", str(results_path)]) == 1


def test_cache_verify_uses_the_key_file_a_run_used(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a new-user run: with TRTPERF_CACHE_KEY_FILE set, `cache verify` checked against the default
    key and called all 38 entries corrupt."""
    key = tmp_path / "keys" / "cache.key"
    _fill(ArtifactCache(tmp_path / "cache", key_file=key), "one", 100)
    monkeypatch.setenv("TRTPERF_CACHE_KEY_FILE", str(key))
    assert main(["cache", "verify", f"--cache-dir={tmp_path / 'cache'}"]) == 0
    assert "1 entry checked, 0 corrupt" in capsys.readouterr().out
    monkeypatch.delenv("TRTPERF_CACHE_KEY_FILE")
    assert main(["cache", "verify", f"--cache-dir={tmp_path / 'cache'}", f"--cache-key-file={key}"]) == 0
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-config"))  # another user's key: unsigned for it
    assert main(["cache", "verify", f"--cache-dir={tmp_path / 'cache'}"]) == 1
