"""Seconds per verdict of a warm rerun of the example suites: the old defaults and today's, side by side.

For each design (``old``: the defaults before issue 14 item 5, reproduced by options from
``trtperf.config.OLD_DESIGN``; ``new``: today's defaults, no options), in one job:

1. a first run records baselines into a fresh temporary ``--trtperf-baseline-dir`` (``--trtperf-update-baselines``);
2. a warm rerun (artifact cache warm, baselines from step 1) is judged against them.

Per-verdict seconds = a timed case's wall time in the warm rerun (pytest's call time from the junit XML:
export/build cache hits, reference, parity, timing, judging, re-measurement; everything of the case).
Records run first for both designs, then the reruns in the order ``new, old`` (``--rounds 2`` adds
``old, new``: ABBA, so that drift of this shared machine's load hits both).

This CPU::

    python bench/verdict_seconds.py                     # fp32 cases of cnn, mlp, transformer; onnxruntime + torch

GPU (pytest plugin not installed, artifacts cached under /tmp/c)::

    python bench/verdict_seconds.py --backends torch --pytest-args "-p trtperf.plugin --trtperf-cache-dir /tmp/c"

Results: bench/results/verdict_seconds-<device>-<backends>.{txt,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trtperf.config import OLD_DESIGN

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SUITES = ("suites/test_cnn.py", "suites/test_mlp.py", "suites/test_transformer.py")


def design_options(name: str) -> list[str]:
    """pytest options of a design: ``old`` spells out OLD_DESIGN, ``new`` is today's defaults (none)."""
    if name == "new":
        return []
    if name == "old":
        return [f"--trtperf-{k.replace('_', '-')}={v}" for k, v in OLD_DESIGN.items()]
    raise SystemExit(f"unknown design {name!r}; known: new, old")


def run_pytest(args: argparse.Namespace, design: str, baseline_dir: Path, work: Path, tag: str,
               record: bool) -> dict[str, dict[str, Any]]:
    """One pytest session; per case key: wall seconds (junit) and the verdict (results JSON)."""
    junit, results = work / f"{tag}.xml", work / f"{tag}.json"
    cmd = [sys.executable, "-m", "pytest", *args.suites, "-p", "no:cacheprovider", "-q", "--no-header",
           "-k", args.k, f"--trtperf-backend={args.backends}", f"--trtperf-baseline-dir={baseline_dir}",
           f"--trtperf-results={results}", "--trtperf-progress=off", f"--junitxml={junit}",
           *design_options(design), *(["--trtperf-update-baselines"] if record else []),
           *shlex.split(args.pytest_args)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    print(f"{tag}: {wall:.0f} s, exit {proc.returncode}: {proc.stdout.strip().splitlines()[-1:]}", flush=True)
    times = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        times[case.get("name", "")] = float(case.get("time", "0"))
    out: dict[str, dict[str, Any]] = {}
    for case in json.loads(results.read_text())["cases"]:
        key = case["case"]["key"]
        args.device_slug = (case.get("device") or {}).get("slug") or args.device_slug
        verdict = case.get("verdict") or {}
        out[key] = {"seconds": times.get(key), "status": verdict.get("status"),
                    "runs": verdict.get("runs_candidate"), "looks": verdict.get("looks"),
                    "paired": verdict.get("paired"), "outcome": case.get("outcome"),
                    "ratio": verdict.get("ratio"), "ratio_ci": [verdict.get("ratio_low"), verdict.get("ratio_high")],
                    "p_value": verdict.get("p_value")}
    return out


def summarize(cases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    secs = [c["seconds"] for c in cases.values() if c["status"] not in (None, "no baseline") and c["seconds"]]
    statuses: dict[str, int] = {}
    for c in cases.values():
        if c["status"] not in (None, "no baseline"):
            statuses[c["status"]] = statuses.get(c["status"], 0) + 1
    return {"verdicts": len(secs), "median_s": statistics.median(secs) if secs else None,
            "mean_s": statistics.fmean(secs) if secs else None, "max_s": max(secs) if secs else None,
            "total_s": sum(secs), "statuses": statuses}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suites", nargs="+", default=list(SUITES))
    p.add_argument("--backends", default="onnxruntime,torch")
    p.add_argument("-k", default="fp32", help="pytest -k expression selecting the cases (default fp32)")
    p.add_argument("--designs", default="old,new")
    p.add_argument("--rounds", type=int, default=1, help="1: reruns new, old; 2: new, old, old, new (ABBA)")
    p.add_argument("--pytest-args", default="", help="more pytest options for every session, e.g. "
                   "'-p trtperf.plugin --trtperf-cache-dir /tmp/c' on a machine where the plugin is not installed")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--keep", type=Path, default=None,
                   help="keep each session's results JSON, junit XML and baselines in this folder")
    args = p.parse_args(argv)
    args.device_slug = "unknown"
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    for d in designs:
        design_options(d)
    started, load_before = time.time(), os.getloadavg()
    reruns: dict[str, list[dict[str, dict[str, Any]]]] = {d: [] for d in designs}
    with tempfile.TemporaryDirectory(prefix="verdict_seconds_") as tmp:
        work = Path(tmp)
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            work = args.keep
        dirs = {d: work / f"baselines-{d}" for d in designs}
        for d in designs:
            run_pytest(args, d, dirs[d], work, f"record-{d}", record=True)
        order = list(reversed(designs))
        for r in range(args.rounds):
            for d in (order if r % 2 == 0 else designs):
                reruns[d].append(run_pytest(args, d, dirs[d], work, f"rerun{r + 1}-{d}", record=False))
    keys = sorted({k for rounds in reruns.values() for res in rounds for k, c in res.items()
                   if c["status"] not in (None, "no baseline")})
    header = (f"verdict_seconds: warm rerun of {' '.join(args.suites)} -k {args.k!r}, backends {args.backends}, "
              f"on {os.cpu_count()} logical cores; designs: "
              + "; ".join(f"{d} ({' '.join(design_options(d)) or 'defaults'})" for d in designs)
              + f"; load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}; {time.time() - started:.0f} s total")
    lines = [header, "", f"{'case':<40}" + "".join(f" {d + ' s':>8} {d + ' verdict':>22}" for d in designs)]
    for key in keys:
        row = f"{key:<40}"
        for d in designs:
            for res in reruns[d][:1]:
                c = res.get(key, {})
                what = f"{c.get('status')} {c.get('runs')}r/{c.get('looks')}l{' P' if c.get('paired') else ''}"
                row += f" {c.get('seconds') or 0:>8.2f} {what:>22}"
        lines.append(row)
    lines.append("")
    summary = {d: [summarize(res) for res in reruns[d]] for d in designs}
    for d in designs:
        for i, s in enumerate(summary[d]):
            lines.append(f"{d} rerun {i + 1}: {s['verdicts']} verdicts, per-verdict seconds median "
                         f"{s['median_s']:.2f}, mean {s['mean_s']:.2f}, max {s['max_s']:.2f}, "
                         f"total {s['total_s']:.0f} s; {s['statuses']}")
    if "old" in summary and "new" in summary:
        old_m = statistics.fmean(s["mean_s"] for s in summary["old"])
        new_m = statistics.fmean(s["mean_s"] for s in summary["new"])
        lines.append(f"mean seconds per verdict: old {old_m:.2f}, new {new_m:.2f}: x{old_m / new_m:.2f} faster")
    lines.append("(r = candidate runs, l = looks, P = paired A/B; seconds = the case's pytest call time)")
    text = "\n".join(lines) + "\n"
    print(text)
    stem = args.out or RESULTS / f"verdict_seconds-{args.device_slug}-{args.backends.replace(',', '-')}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.txt").write_text(text)
    Path(f"{stem}.json").write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "summary": summary,
                                                "reruns": reruns}, indent=1, sort_keys=True, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
