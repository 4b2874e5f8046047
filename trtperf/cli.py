"""The ``trtperf`` command: inspect and update baselines, show and merge results files.

    trtperf baseline show [--baseline-dir DIR] [--device SLUG]
    trtperf baseline update --from RESULTS.json [--baseline-dir DIR] [-k SUBSTRING]
    trtperf baseline migrate [--baseline-dir DIR]
    trtperf baseline diff OLD.json NEW.json [-k SUBSTRING] [--markdown] [--all]
    trtperf cache ls | verify | prune [--older-than DAYS] [--max-size GB] [--dry-run]  [--cache-dir DIR]
    trtperf results show RESULTS.json
    trtperf history [--dir DIR] [-k CASE] [--min-change 5%]
    trtperf results merge A.json B.json ... -o MERGED.json
    trtperf results report RESULTS.json [--markdown PATH] [--html PATH] [--benchmark-json PATH] [--history DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from trtperf.config import OPTIONS_BY_FIELD
from trtperf.errors import TrtperfError
from trtperf.record.baselines import (
    SCHEMA_VERSION,
    BaselineStore,
    entry_problem,
    load_baseline_file,
    record_results,
    recordable,
    samples_path,
    write_baseline_file,
)
from trtperf.record.naturalsort import natural_sorted
from trtperf.record.results import CaseResult, read_results, render_summary, write_results
from trtperf.text import plural

if TYPE_CHECKING:
    from trtperf.cache import ArtifactCache


def _add_baseline_dir(parser: argparse.ArgumentParser) -> None:
    option = OPTIONS_BY_FIELD["baseline_dir"]
    parser.add_argument("--baseline-dir", type=option.parse, default=Path("baselines"), metavar=option.metavar,
                        help=option.help.replace("<rootdir>/baselines", "./baselines"))


def _select(results: list[CaseResult], substring: str | None) -> list[CaseResult]:
    return [r for r in results if substring is None or substring in r.case.key]


def _existing_dir(path: Path, what: str, fix: str) -> Path:
    """``path`` when it is a directory; else TrtperfError naming it and the fix (exit 1): a command reading a
    directory that is not there must not report "nothing found" and succeed (a typo would pass CI)."""
    if not path.is_dir():
        state = "is not a directory" if path.exists() else "does not exist"
        raise TrtperfError(f"{what} {path} {state}; {fix}")
    return path


def _baseline_dir(args: argparse.Namespace) -> Path:
    return _existing_dir(args.baseline_dir, "baseline directory", "pass the directory holding the baseline files "
                         "with --baseline-dir (a run writes them with --trtperf-update-baselines)")


def _number(value: object) -> str:
    return f"{value:9.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else f"{'?':>9}"


def cmd_baseline_show(args: argparse.Namespace) -> int:
    store = BaselineStore(_baseline_dir(args))
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
        print(f"{loaded.path}  ({loaded.device.get('name', slug)}, {plural(len(loaded.entries), 'case')})")
        for key in natural_sorted(loaded.entries):
            entry = loaded.entries[key]
            problem = entry_problem(entry)
            if problem:
                print(f"  {key:<48} MALFORMED: {problem}; `pytest <your suites> -k '{key}' --trtperf-update-baselines` "
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
        print(f"baseline updated: {path} ({plural(count, 'case')} written, other entries kept)")
    for r in results:
        if not recordable(r):
            print(f"not recorded (no timing, or parity failed): {r.case.key}")
    return 0


def cmd_baseline_migrate(args: argparse.Namespace) -> int:
    store = BaselineStore(_baseline_dir(args))
    if not store.slugs():
        print(f"no baseline files in {args.baseline_dir}: nothing to migrate")
    for slug in store.slugs():
        path = store.path_for(slug)
        before = json.loads(path.read_text()).get("schema_version")
        loaded = load_baseline_file(path)
        write_baseline_file(loaded)
        print(f"{path}: schema {before} -> {SCHEMA_VERSION}, {plural(len(loaded.entries), 'case')} "
              f"(samples in {samples_path(path).name})")
    return 0


def cmd_results_show(args: argparse.Namespace) -> int:
    import shutil

    print(render_summary(read_results(args.path), width=max(80, shutil.get_terminal_size((120, 24)).columns)), end="")
    return 0


def cmd_results_merge(args: argparse.Namespace) -> int:
    merged: dict[tuple[str, str], CaseResult] = {}
    for path in args.paths:
        for r in read_results(path):
            merged[(r.device.get("slug", ""), r.case.key)] = r  # later files win
    write_results(args.output, list(merged.values()), {"merged_from": [str(p) for p in args.paths]})
    print(f"merged {plural(len(merged), 'case result')} from {plural(len(args.paths), 'file')} into {args.output}")
    return 0


def cmd_results_report(args: argparse.Namespace) -> int:
    import dataclasses

    from trtperf.config import Settings
    from trtperf.record.reports import write_reports

    if not (args.markdown or args.html or args.benchmark_json):
        raise TrtperfError("results report needs --markdown, --html and/or --benchmark-json")
    settings = dataclasses.replace(Settings(), markdown=args.markdown, html=args.html,
                                   benchmark_json=args.benchmark_json)
    history = None
    if args.history is not None:
        from trtperf.record.history import HistoryStore

        history = HistoryStore(_existing_dir(args.history, "history directory", "pass the directory a run "
                                             "wrote with --trtperf-history DIR, or leave out --history"))
    for line in write_reports(settings, read_results(args.path), {}, {}, environ={}, history=history):
        print(line)
    return 0


def cmd_baseline_diff(args: argparse.Namespace) -> int:
    from trtperf.record.diff import diff_files, render_diff

    print(render_diff(diff_files(args.old, args.new, args.k), markdown=args.markdown, show_same=args.all), end="")
    return 0


def _cache(args: argparse.Namespace) -> ArtifactCache:
    """The cache of --cache-dir, else TRTPERF_CACHE_DIR, else the default: the one pytest runs use."""
    import os

    from trtperf.cache import ArtifactCache
    from trtperf.config import default_cache_dir

    def given(field: str) -> Path | None:
        """--FIELD, else its TRTPERF_* variable (as a pytest run resolves it), else None."""
        option = OPTIONS_BY_FIELD[field]
        if getattr(args, field, None) is not None:
            return Path(getattr(args, field))
        return Path(option.parse(os.environ[option.env])) if os.environ.get(option.env) else None

    # The key file matters: `cache verify` under another key would call every entry unsigned.
    directory = given("cache_dir") or default_cache_dir()
    # Not created here: listing a cache that is not there is a wrong path, not an empty cache.
    _existing_dir(directory, "cache directory", "pass the cache a run used with --cache-dir (or TRTPERF_CACHE_DIR; "
                  f"a pytest run without --trtperf-cache-dir uses {default_cache_dir()})")
    return ArtifactCache(directory, key_file=given("cache_key_file"))


def cmd_cache_ls(args: argparse.Namespace) -> int:
    from trtperf.cachectl import describe, entries

    cache = _cache(args)
    found = list(entries(cache))
    for entry in found:
        print(describe(entry))
    print(f"{plural(len(found), 'entry')}, {sum(e.size for e in found) / 1e9:.3f} GB in {cache.root}")
    return 0


def cmd_cache_verify(args: argparse.Namespace) -> int:
    from trtperf.cachectl import describe, entries, verify

    bad = 0
    cache = _cache(args)
    found = list(entries(cache))
    for entry in found:
        problem = verify(cache, entry)
        if problem:
            bad += 1
            print(f"CORRUPT {describe(entry)}: {problem}")
    print(f"{plural(len(found), 'entry')} checked, {bad} corrupt" + (" (trtperf rebuilds them on next use; "
          "`trtperf cache prune --older-than 0` deletes everything)" if bad else ""))
    return 1 if bad else 0


def cmd_cache_prune(args: argparse.Namespace) -> int:
    from trtperf.cachectl import describe, prune

    if args.older_than is None and args.max_size is None:
        raise TrtperfError("cache prune needs --older-than DAYS and/or --max-size GB")
    deleted, busy = prune(_cache(args), args.older_than, args.max_size, dry_run=args.dry_run)
    for entry in deleted:
        print(("would delete " if args.dry_run else "deleted ") + describe(entry))
    for entry in busy:
        print(f"in use, kept {describe(entry)}")
    print(f"{'would free' if args.dry_run else 'freed'} {sum(e.size for e in deleted) / 1e9:.3f} GB "
          f"({plural(len(deleted), 'entry')})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from trtperf.record.history import HistoryStore, render_history

    store = HistoryStore(_existing_dir(args.dir, "history directory", "pass the directory a run wrote with "
                                       "`pytest ... --trtperf-history DIR` as --dir DIR"))
    series = store.series(args.k)
    if not series:
        runs = len(store.run_files())
        print(f"no history runs in {args.dir}" if not runs else
              f"no case in the {plural(runs, 'history run')} of {args.dir}" + (f" matches -k {args.k!r}" if args.k else
                                                                             " has a median"))
        return 0
    print(render_history(series, args.min_change), end="")
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

    migrate = baseline_cmds.add_parser("migrate", help="rewrite every baseline file in the current schema")
    _add_baseline_dir(migrate)
    migrate.set_defaults(func=cmd_baseline_migrate)

    results = commands.add_parser("results", help="show or merge results files")
    results_cmds = results.add_subparsers(dest="action", required=True)
    rshow = results_cmds.add_parser("show", help="print the summary table of a results file")
    rshow.add_argument("path", type=Path)
    rshow.set_defaults(func=cmd_results_show)
    merge = results_cmds.add_parser("merge", help="merge results files from several runners (later files win)")
    merge.add_argument("paths", type=Path, nargs="+")
    merge.add_argument("-o", "--output", type=Path, required=True)
    merge.set_defaults(func=cmd_results_merge)
    report = results_cmds.add_parser("report", help="write the Markdown, HTML or pytest-benchmark report of a "
                                     "saved (or merged) results file")
    report.add_argument("path", type=Path)
    report.add_argument("--markdown", type=Path, metavar="PATH")
    report.add_argument("--html", type=Path, metavar="PATH")
    report.add_argument("--benchmark-json", type=Path, metavar="PATH")
    report.add_argument("--history", type=Path, metavar="DIR", help="a history directory to plot (not appended to)")
    report.set_defaults(func=cmd_results_report)
    diff = baseline_cmds.add_parser("diff", help="compare two baseline files, or a results file against a baseline")
    diff.add_argument("old", type=Path, help="a baseline file")
    diff.add_argument("new", type=Path, help="a baseline file, or a results JSON (a run not recorded yet)")
    diff.add_argument("-k", metavar="SUBSTRING", help="only cases whose key contains SUBSTRING")
    diff.add_argument("--markdown", action="store_true", help="a Markdown table (for a pull request)")
    diff.add_argument("--all", action="store_true", help="also list unchanged cases")
    diff.set_defaults(func=cmd_baseline_diff)

    cache = commands.add_parser("cache", help="list, verify or prune the artifact cache")
    cache_cmds = cache.add_subparsers(dest="action", required=True)
    cache_option = OPTIONS_BY_FIELD["cache_dir"]
    for name, func, text in (("ls", cmd_cache_ls, "list the entries, their size and age"),
                             ("verify", cmd_cache_verify, "check every entry's size and SHA-256 (exit 1: corrupt)"),
                             ("prune", cmd_cache_prune, "delete old entries (only trtperf's own files)")):
        sub = cache_cmds.add_parser(name, help=text)
        sub.add_argument("--cache-dir", type=cache_option.parse, default=None, metavar="DIR", help=cache_option.help)
        key_option = OPTIONS_BY_FIELD["cache_key_file"]
        sub.add_argument("--cache-key-file", type=key_option.parse, default=None, metavar="PATH",
                         help=key_option.help.replace("%", "%%"))
        sub.set_defaults(func=func)
        if name == "prune":
            sub.add_argument("--older-than", type=float, metavar="DAYS", help="delete entries last written "
                             "more than DAYS ago")
            sub.add_argument("--max-size", type=float, metavar="GB", help="then delete the oldest until the "
                             "cache holds at most GB gigabytes")
            sub.add_argument("--dry-run", action="store_true", help="only list what would be deleted")

    history = commands.add_parser("history", help="each case's median over the runs of a history directory, "
                                  "with change points (ruptures)")
    history.add_argument("--dir", type=Path, default=Path(".trtperf/history"), metavar="DIR",
                         help="history directory written by --trtperf-history (default .trtperf/history)")
    history.add_argument("-k", metavar="CASE", help="only cases whose key contains CASE")
    history.add_argument("--min-change", type=OPTIONS_BY_FIELD["threshold"].parse, default=0.05,
                         metavar="FRACTION", help="smallest change of the median reported as a change point "
                         "(default 5%%)")
    history.set_defaults(func=cmd_history)
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
