"""The ``trtperf`` command: inspect and update baselines, show and merge results files.

    trtperf baseline show [--baseline-dir DIR] [--device SLUG]
    trtperf baseline update --from RESULTS.json [--baseline-dir DIR] [-k SUBSTRING]
    trtperf results show RESULTS.json
    trtperf results merge A.json B.json ... -o MERGED.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from trtperf.config import OPTIONS_BY_FIELD
from trtperf.errors import TrtperfError
from trtperf.record.baselines import BaselineStore, entry_problem, record_results, recordable
from trtperf.record.results import CaseResult, read_results, render_summary, write_results


def _add_baseline_dir(parser: argparse.ArgumentParser) -> None:
    option = OPTIONS_BY_FIELD["baseline_dir"]
    parser.add_argument("--baseline-dir", type=option.parse, default=Path("baselines"), metavar=option.metavar,
                        help=option.help.replace("<rootdir>/baselines", "./baselines"))


def _select(results: list[CaseResult], substring: str | None) -> list[CaseResult]:
    return [r for r in results if substring is None or substring in r.case.key]


def _number(value: object) -> str:
    return f"{value:9.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else f"{'?':>9}"


def cmd_baseline_show(args: argparse.Namespace) -> int:
    store = BaselineStore(args.baseline_dir)
    slugs = [args.device] if args.device else store.slugs()
    if not slugs:
        print(f"no baseline files in {args.baseline_dir}")
        return 0
    status = 0
    for slug in slugs:
        try:
            loaded = store.load(slug, lenient=True)
        except TrtperfError as exc:  # one unreadable file does not hide the others
            print(f"trtperf: error: {exc}", file=sys.stderr)
            status = 1
            continue
        if loaded is None:
            raise TrtperfError(f"{store.path_for(slug)}: no such baseline file; known devices: {store.slugs()}")
        print(f"{loaded.path}  ({loaded.device.get('name', slug)}, {len(loaded.entries)} cases)")
        for key in sorted(loaded.entries):
            entry = loaded.entries[key]
            problem = entry_problem(entry)
            if problem:
                print(f"  {key:<48} MALFORMED: {problem}; `pytest suites -k '{key}' --trtperf-update-baselines` "
                      f"replaces it")
                continue
            stats = entry["stats"]
            env = entry.get("environment") or {}
            print(f"  {key:<48} median {_number(stats.get('median_ms'))} ms  "
                  f"p99 {_number(stats.get('p99_ms'))} ms  runs {stats.get('runs', '?')!s:>3}  "
                  f"{env.get('backend', '')} {env.get('backend_version', '')}  {entry.get('recorded_at', '')}")
    return status


def cmd_baseline_update(args: argparse.Namespace) -> int:
    from trtperf import __version__

    results = _select(read_results(args.source), args.k)
    written = record_results(BaselineStore(args.baseline_dir), results, __version__)
    if not written:
        print(f"{args.source}: no timed case to record" + (f" matching -k {args.k!r}" if args.k else ""))
        return 1
    for path, count in written.items():
        print(f"baseline updated: {path} ({count} cases written, other entries kept)")
    for r in results:
        if not recordable(r):
            print(f"not recorded (no timing, or parity failed): {r.case.key}")
    return 0


def cmd_results_show(args: argparse.Namespace) -> int:
    print(render_summary(read_results(args.path)), end="")
    return 0


def cmd_results_merge(args: argparse.Namespace) -> int:
    merged: dict[tuple[str, str], CaseResult] = {}
    for path in args.paths:
        for r in read_results(path):
            merged[(r.device.get("slug", ""), r.case.key)] = r  # later files win
    write_results(args.output, list(merged.values()), {"merged_from": [str(p) for p in args.paths]})
    print(f"merged {len(merged)} case results from {len(args.paths)} files into {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trtperf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    baseline = commands.add_parser("baseline", help="inspect or update per-device baseline files")
    baseline_cmds = baseline.add_subparsers(dest="action", required=True)
    show = baseline_cmds.add_parser("show", help="list the cases in each baseline file")
    _add_baseline_dir(show)
    show.add_argument("--device", help="only this device slug (a file name without .json)")
    show.set_defaults(func=cmd_baseline_show)
    update = baseline_cmds.add_parser("update", help="record a saved results file as the new baseline")
    update.add_argument("--from", dest="source", type=Path, required=True, metavar="RESULTS",
                        help="results JSON written by a pytest run (default location .trtperf/results.json)")
    update.add_argument("-k", metavar="SUBSTRING", help="only cases whose key contains SUBSTRING")
    _add_baseline_dir(update)
    update.set_defaults(func=cmd_baseline_update)

    results = commands.add_parser("results", help="show or merge results files")
    results_cmds = results.add_subparsers(dest="action", required=True)
    rshow = results_cmds.add_parser("show", help="print the summary table of a results file")
    rshow.add_argument("path", type=Path)
    rshow.set_defaults(func=cmd_results_show)
    merge = results_cmds.add_parser("merge", help="merge results files from several runners (later files win)")
    merge.add_argument("paths", type=Path, nargs="+")
    merge.add_argument("-o", "--output", type=Path, required=True)
    merge.set_defaults(func=cmd_results_merge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TrtperfError as exc:
        print(f"trtperf: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
