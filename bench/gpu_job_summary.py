"""Summarize a bench/gpu_job.sh folder: per step and backend, the outcomes, how the GPU cases were timed
(CUDA-graph replays, delay kernel), how many were launch-bound, and seconds per case.

- launch-bound: the host enqueued an inference slower than the GPU ran it *and* nothing kept the GPU from
  waiting for it (no delay kernel): the latency then follows the host (issue 14's count);
- host-bound launches: the same host speed, timed behind the delay kernel: the latency is the GPU's;
- seconds per case: pytest's ``--durations=0`` call time of each case (setup and teardown are ~0), i.e.
  the whole case: cache lookups, parity, timing and the verdict. In a gate step with a warm cache that is
  the seconds per verdict.

Usage: ``python bench/gpu_job_summary.py DIR [--out FILE]`` (DIR holds record-*.json/.log, gate-*.json/.log).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

DURATION = re.compile(r"^\s*([0-9.]+)s call\s+\S+::(\S+)")


def durations(log: Path) -> dict[str, float]:
    """Case name (``model[...]``) -> seconds of its call phase, from pytest's --durations=0 lines."""
    out: dict[str, float] = {}
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            match = DURATION.match(line)
            if match:
                out[match.group(2)] = float(match.group(1))
    return out


def notes_of(case: dict[str, Any]) -> list[str]:
    verdict = case.get("verdict") or {}
    return [*case.get("notes", []), *[n for n in str(verdict.get("note", "")).split("; ") if n]]


def summarize(folder: Path) -> str:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    seconds: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for path in sorted(folder.glob("*.json")):
        parts = path.stem.split("-")
        if len(parts) < 3 or parts[0] not in ("record", "gate"):
            continue
        key = (parts[0], parts[1])
        groups[key].extend(json.loads(path.read_text()).get("cases", []))
        seconds[key].update(durations(path.with_suffix(".log")))
    lines = []
    for (step, backend), cases in sorted(groups.items()):
        outcomes = Counter(str(c.get("outcome")) for c in cases)
        timed = [c for c in cases if c.get("stats")]
        gpu = [c for c in timed if (c.get("timing_mode") or {}).get("clock") == "cuda_event"]
        graphs = sum(1 for c in gpu if c["timing_mode"].get("cuda_graph"))
        delayed = sum(1 for c in gpu if c["timing_mode"].get("delay_kernel"))
        launch_bound = [c["case"]["key"] for c in gpu if any(n.startswith("launch-bound") for n in notes_of(c))]
        host_bound = [c["case"]["key"] for c in gpu if any(n.startswith("host-bound launches") for n in notes_of(c))]
        verdicts = Counter(str((c.get("verdict") or {}).get("status")) for c in timed)
        secs = [s for name, s in seconds[(step, backend)].items()
                if any(c["case"]["key"].endswith(name) for c in timed)]
        lines.append(f"== {step} {backend}: {len(cases)} cases, outcomes {dict(outcomes)}, verdicts {dict(verdicts)}")
        lines.append(f"   GPU-timed {len(gpu)}: graph replays {graphs}, delay kernel {delayed}; launch-bound "
                     f"{len(launch_bound)} ({len(launch_bound) / max(1, len(gpu)):.0%}), host-bound launches "
                     f"{len(host_bound)}")
        if secs:
            lines.append(f"   seconds per timed case: median {statistics.median(secs):.2f}, max {max(secs):.2f}, "
                         f"<= 2 s: {sum(s <= 2 for s in secs)} of {len(secs)}, <= 4 s: {sum(s <= 4 for s in secs)}")
        staged = [c["stage_seconds"] for c in timed if c.get("stage_seconds")]  # results since stage_seconds
        if staged:
            names = list(dict.fromkeys(n for st in staged for n in st))
            lines.append("   median seconds per stage: " + ", ".join(
                f"{n} {statistics.median(st[n] for st in staged if n in st):.2f}" for n in names))
        for key in launch_bound:
            lines.append(f"   launch-bound: {key}")
        for case in cases:
            if case.get("outcome") == "failed":
                lines.append(f"   FAILED {case['case']['key']} ({case.get('failed_stage', '')}): "
                             f"{str(case.get('message', ''))[:300]}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    text = summarize(args.folder)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
