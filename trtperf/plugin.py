"""pytest wiring: options, collection of model suites into case items, results and summary.

Thin on purpose: every stage lives in the library (``trtperf.pipeline``). Heavy imports
(torch, onnxruntime, TensorRT) happen only when a case runs, so ``pytest --help`` stays cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from trtperf.cases import Case, dims_out_of_range, expand_cases, unknown_dim_axes, why_no_cases
from trtperf.config import OPTIONS, Settings, default_cache_dir, resolve
from trtperf.errors import TrtperfError, TrtperfUsageError
from trtperf.progress import ProgressCallback
from trtperf.record.junit import junit_properties
from trtperf.record.reports import write_reports
from trtperf.record.results import FAILED, PYTEST_STAGE, SKIPPED, CaseResult, render_summary, write_results
from trtperf.spec import ModelSpec, collected_by, name_conflict, unbound_declarations
from trtperf.text import plural

if TYPE_CHECKING:
    from trtperf.pipeline import CaseRunner

PROPERTY = "trtperf"
WORKER_OUTPUT = "trtperf"
"""The key of what an xdist worker tells the controller at its end (``config.workeroutput``)."""


@dataclass
class SessionState:
    settings: Settings
    baseline_dir: Path
    results_path: Path
    runner: CaseRunner | None = None
    results: list[CaseResult] = field(default_factory=list)
    baselines_written: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    results_error: str = ""
    notes: list[str] = field(default_factory=list)
    """Checked before any timing: new directories, missing baseline directory."""
    no_cases: dict[str, str] = field(default_factory=dict)
    """Model name -> which selection option left it without cases, and why."""
    dims_dropped: dict[str, str] = field(default_factory=dict)
    """Model name -> the ``--trtperf-dim`` values outside its declared range, where others of it run."""
    declared_axes: dict[str, set[str]] = field(default_factory=dict)
    """Named axis -> the collected models declaring it: ``--trtperf-dim`` must name one of them."""
    declared_models: dict[str, ModelSpec] = field(default_factory=dict)
    """Model name -> its first declaration collected (a second model under the name fails its cases)."""
    collected_keys: set[str] = field(default_factory=set)
    """Case keys collected so far: a key is one test and one baseline entry (a repeat is not collected again)."""
    runner_error: str = ""
    trtperf_session: bool = False
    """A model declaration was collected (here, or by an xdist worker): the session owns the results
    file, which it rewrites at the end even when no case ran. Other sessions leave it alone."""
    usage_error: str = ""
    """A usage error found after collection (an unknown --trtperf-dim axis): nothing runs, nothing is written."""
    worker_usage_error: str = ""
    """Under xdist, the usage error a worker found (it ran nothing): the controller reports it."""
    worker_lines: list[str] = field(default_factory=list)
    """Under xdist, the empty-selection lines a worker found, printed by the controller with the summary."""
    header_shown: bool = False
    deferred_header: list[str] = field(default_factory=list)
    """The post-collection lines (notes, baseline file per device) were printed after collection; an
    xdist controller, which collects nothing, prints them with the summary instead."""
    timed_cases: int = 1
    """Selected, not skipped cases: the gate splits its alpha over them (Bonferroni, issue 6)."""
    nodeids: dict[str, str] = field(default_factory=dict)
    """Case key -> pytest node id, for the reproduce commands of the reports."""
    reports_written: list[str] = field(default_factory=list)
    progress: ProgressCallback | None = None

    def get_runner(self) -> CaseRunner:
        if self.runner_error:
            raise TrtperfError(self.runner_error)
        if self.runner is None:
            from trtperf.pipeline import CaseRunner

            self.runner = CaseRunner(self.settings, self.baseline_dir)
            self.runner.family_size = self.timed_cases
            self.runner.progress = self.progress
        return self.runner


STATE_KEY = pytest.StashKey[SessionState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trtperf", "trtperf: TensorRT performance regression suite")
    for option in OPTIONS:
        if option.flag:
            group.addoption(f"--trtperf-{option.cli}", action="store_true", default=None,
                            dest=f"trtperf_{option.field}", help=option.help.replace("%", "%%"))
        else:
            group.addoption(f"--trtperf-{option.cli}", action="store", default=None, metavar=option.metavar,
                            dest=f"trtperf_{option.field}", help=option.help.replace("%", "%%"))
        parser.addini(option.ini, option.help, default=None)


def _ini_values(config: pytest.Config) -> dict[str, Any]:
    values = {}
    for option in OPTIONS:
        try:
            values[option.field] = config.getini(option.ini)
        except ValueError:
            values[option.field] = None
    return values


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "trtperf: a trtperf case (model x backend x precision x batch x streams); added automatically."
    )
    cli = {option.field: config.getoption(f"trtperf_{option.field}") for option in OPTIONS}
    try:
        settings = resolve(cli, os.environ, _ini_values(config))
    except TrtperfUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    root = config.rootpath
    # Paths resolved once, against the pytest root, so every stage (the Hypothesis reproducers
    # beside the results too) sees the same directories.
    settings = dataclasses.replace(settings, baseline_dir=settings.baseline_dir or root / "baselines",
                                   results=settings.results or root / ".trtperf" / "results.json")
    assert settings.baseline_dir is not None and settings.results is not None
    state = SessionState(settings=settings, baseline_dir=settings.baseline_dir, results_path=settings.results)
    try:
        state.notes = check_inputs(settings, state.baseline_dir, state.results_path)
    except TrtperfUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(_ResultCollector(state, _is_worker(config)), "trtperf-results")
    from trtperf import pytest_fixtures

    config.pluginmanager.register(pytest_fixtures, "trtperf-fixtures")


def check_inputs(settings: Settings, baseline_dir: Path, results_path: Path) -> list[str]:
    """Before any case runs: backend names, results path, baseline directory. Returns notes for the
    header; TrtperfUsageError for what would otherwise fail after minutes of timing."""
    from trtperf.backends import check_backend_names
    from trtperf.fsutil import check_writable

    try:
        check_backend_names(settings.backend or ())
    except TrtperfUsageError as exc:
        raise TrtperfUsageError(f"--trtperf-backend: {exc}") from None
    if settings.html is not None:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:  # not after minutes of timing (a new-user run)
            raise TrtperfUsageError(f"--trtperf-html {settings.html}: the HTML report needs matplotlib: "
                                    f"pip install 'trtperf[report]', or leave out --trtperf-html")
    notes = []
    note = check_writable(results_path, "--trtperf-results")  # first: it creates nothing when it fails
    if note:
        notes.append(f"results: {note}")
    cache_dir = settings.cache_dir or default_cache_dir()
    if not cache_dir.exists():  # an existing read-only cache is fine: it serves its hits
        check_writable(cache_dir, "--trtperf-cache-dir", directory=True)
    if settings.update_baselines:
        note = check_writable(baseline_dir, "--trtperf-baseline-dir", directory=True)
        if note or not baseline_dir.exists():
            notes.append(f"baselines: {baseline_dir} is a new directory; it will be created")
    elif not baseline_dir.is_dir() and not (settings.build_only or settings.no_timing):
        notes.append(f"baselines: {baseline_dir} does not exist: no case is gated (a typo in "
                     f"--trtperf-baseline-dir? record baselines with --trtperf-update-baselines)")
    return notes


def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:  # the terminal reporter exists from here on
        state.progress = _progress_reporter(session.config, state.settings.progress)


def _progress_reporter(config: pytest.Config, mode: str) -> ProgressCallback | None:
    """rich on a terminal, log lines otherwise, none in quiet mode (``auto``) or with ``off``; xdist
    workers stay silent (their output is not the user's terminal)."""
    if mode == "off" or _is_worker(config) or (mode == "auto" and config.option.verbose < 0):
        return None
    capman = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")
    if reporter is None:  # -p no:terminal
        return None
    writer = config.get_terminal_writer()
    # The live line shares pytest's line "path/test_x.py ..."; with -v that line is a long node id: log lines.
    if mode == "rich" or (mode == "auto" and writer.hasmarkup and config.option.verbose <= 0):
        from trtperf.progress import RichProgress, open_terminal

        console = open_terminal()
        if console is not None:
            return RichProgress(console)
    from trtperf.progress import LogProgress

    def write(line: str) -> None:
        with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
            if writer.width_of_current_line:  # pytest's "path/test_x.py ..": start a line of our own
                writer.line()
            writer.line(line)

    return LogProgress(write)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return []
    s = state.settings
    mode = "update baselines" if s.update_baselines else ("build only" if s.build_only else "gate")
    runs = (f"runs={s.record_runs} (a recording)" if s.update_baselines
            else f"runs={s.runs} per look (at most {s.runs * (1 + s.remeasure)})")
    return [
        f"trtperf: {mode}; {runs} min_time={s.min_time}s "
        f"min_iters={s.min_iters} warmup={s.warmup}s "
        f"threshold={s.threshold:.1%} timing_mode={s.timing_mode} cuda_graph={s.cuda_graph} "
        f"l2_flush={s.l2_flush} iterations_per_sample={s.iterations_per_sample} delay_kernel={s.delay_kernel}",
        f"trtperf: baselines {state.baseline_dir}; results {state.results_path}",
    ]


def _baseline_lines(state: SessionState) -> list[str]:
    s = state.settings
    if s.build_only or s.no_timing:
        return []
    from trtperf.backends import known_backends
    from trtperf.pipeline import baseline_file_lines

    return baseline_file_lines(s, state.baseline_dir, list(s.backend or known_backends()))


class CaseFailed(Exception):
    """A case failed (parity, regression, build); the message is the whole story."""


class CaseItem(pytest.Item):
    def __init__(self, *, spec: ModelSpec, case: Case, conflict: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.case = case
        self.conflict = conflict
        """Why this case may not run (its model's name is another model's): it fails with this, alone."""
        self.add_marker(pytest.mark.trtperf)

    def runtest(self) -> None:
        from trtperf.pipeline import failed_result

        state = self.config.stash[STATE_KEY]
        try:
            runner = state.get_runner()
        except Exception as exc:  # e.g. the cache directory cannot be used: every case says so, once each
            state.runner_error = state.runner_error or str(exc)
            result = failed_result(self.case, "setup", exc)
        else:
            result = (failed_result(self.case, "setup", TrtperfUsageError(self.conflict))
                      if self.conflict else runner.run(self.spec, self.case))
        self.user_properties.append((PROPERTY, json.dumps(result.to_json())))  # for the results; not in JUnit
        self.user_properties.extend(junit_properties(result))
        if result.outcome == FAILED:
            raise CaseFailed(result.message)
        if result.outcome == SKIPPED:
            pytest.skip(result.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (CaseFailed, TrtperfError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        # A line number is required for skip reports; the model's declaration is in this module.
        return self.path, 0, f"trtperf case {self.case.key}"


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> list[pytest.Item] | None:
    if not isinstance(obj, ModelSpec):
        return None
    module = getattr(collector, "obj", None)
    if not _collected_here(obj, module, collector.config):
        return []  # imported from another suite module: collected there
    return _case_items(collector, obj)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A module's declarations that no module-level name holds are collected too (never dropped). A module
    that failed to import on a declaration's error (``TrtperfUsageError``, e.g. ``threshold=5``) makes this a
    trtperf session, so the results file is rewritten instead of still showing an earlier run's cases (a new
    user's trial, 2026-12-07)."""
    report = yield
    if isinstance(collector, pytest.Module) and report.passed and report.result is not None:
        for spec in unbound_declarations(vars(collector.obj)):
            report.result.extend(_case_items(collector, spec))
    elif report.failed and TrtperfUsageError.__name__ in report.longreprtext:
        state = collector.config.stash.get(STATE_KEY, None)
        if state is not None:
            state.trtperf_session = True
    return report


def _case_items(collector: pytest.Collector, obj: ModelSpec) -> list[pytest.Item]:
    from trtperf.backends import known_backends
    from trtperf.pipeline import skip_reason

    state = collector.config.stash[STATE_KEY]
    s = state.settings
    items: list[pytest.Item] = []
    state.trtperf_session = True
    for axis in obj.dims:
        state.declared_axes.setdefault(axis, set()).add(obj.name)
    conflict = name_conflict(obj, state.declared_models)
    cases = expand_cases(obj, known_backends(), s.backend, s.precision, s.batch, s.streams, s.dim)
    declared = [c.key for c in expand_cases(obj, known_backends())] if not cases else []
    if not cases and _selected_by_keyword(collector.config, [obj.name, *declared], collector.nodeid):
        state.no_cases[obj.name] = why_no_cases(obj, known_backends(), s.backend, s.precision, s.batch, s.streams,
                                               s.dim)
    elif (dropped := dims_out_of_range(obj, s.dim)) is not None:
        state.dims_dropped[obj.name] = dropped
    for case in cases:
        if case.key in state.collected_keys and not conflict:  # one model declared twice with overlapping batches
            continue
        state.collected_keys.add(case.key)
        item = CaseItem.from_parent(collector, name=case.key, spec=obj, case=case, conflict=conflict)
        reason = skip_reason(obj, case, s)
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"{case.key}: {reason}"))
        items.append(item)
    return items


def _selected_by_keyword(config: pytest.Config, names: list[str], module_nodeid: str) -> bool:
    """Whether ``-k`` would have kept a case of a model that has none (``names``: the model's name and the
    keys of the cases it declares; collected in ``module_nodeid``): a model that ``-k`` deselects is not
    named in "no case selected". As pytest matches: an identifier matches when it is a substring of the
    case's name, of its module's path parts or of its marker ``trtperf`` (case-insensitive)."""
    expression = config.getoption("keyword", "")
    if not expression:
        return True
    try:
        from _pytest.mark.expression import Expression  # pytest's own -k grammar

        compiled = Expression.compile(expression)
    except Exception:  # another pytest's internals, or an expression pytest itself will reject
        return True
    haystack = [*(name.lower() for name in names), *(part.lower() for part in module_nodeid.split("/") if part),
                "trtperf"]
    return bool(compiled.evaluate(lambda sub, /, **_: any(sub.lower() in name for name in haystack)))


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """After collection, in a session that collected model declarations: notes from the input checks,
    the baseline file each device is gated against, and which selection option left a model without
    cases, and why. (Under pytest-xdist the controller collects nothing: it prints the notes and the
    baseline files with the summary.)"""
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.trtperf_session:
        return []
    state.header_shown = True
    return [*(f"trtperf: {note}" for note in state.notes), *_baseline_lines(state), *_selection_lines(state, items)]


def _collected_here(spec: ModelSpec, module: object, config: pytest.Config) -> bool:
    """A declaration is collected by the module that made it, wherever its factory is defined; one
    imported from a helper that is no suite (not a ``python_files`` match) by the suite importing it."""
    return collected_by(spec, str(getattr(module, "__name__", "")), config.getini("python_files"))


_SOURCE_NAMES = {"command line": "--trtperf-dim", "environment": "TRTPERF_DIM", "ini": "trtperf_dim ="}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """After collection, before the header lines: a ``--trtperf-dim`` axis no collected model declares
    would otherwise be ignored silently, so it is a usage error. An xdist worker cannot stop the
    session with one (the controller reports an internal error): it selects nothing and hands the
    message to the controller, which reports it as the usage error it is."""
    state = config.stash.get(STATE_KEY, None)
    if state is None or not state.trtperf_session or not state.settings.dim:
        return
    source = _SOURCE_NAMES.get(state.settings.sources.get("dim", ""), "--trtperf-dim")
    problem = unknown_dim_axes(state.settings.dim, state.declared_axes, source)
    if not problem:
        return
    state.usage_error = problem  # nothing runs: no results file, no summary
    if not _is_worker(config):
        raise pytest.UsageError(problem)
    config.hook.pytest_deselected(items=list(items))
    items[:] = []


def _selection_lines(state: SessionState, items: list[pytest.Item]) -> list[str]:
    """Which selection option left a model without cases, and why (none when every model has one); and
    the ``--trtperf-dim`` values a model does not run while others of it do."""
    lines = []
    if state.no_cases:
        head = ("trtperf: no case selected" if not any(isinstance(i, CaseItem) for i in items)
                else "trtperf: some models have no selected case")
        lines += [head + ":", *(f"  {reason}" for _, reason in sorted(state.no_cases.items()))]
    if state.dims_dropped:
        lines += ["trtperf: --trtperf-dim values outside a model's declared range:",
                  *(f"  {reason}" for _, reason in sorted(state.dims_dropped.items()))]
    return lines


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is None:
        return
    # every xdist worker collects every item, so each sees the same count
    state.timed_cases = max(1, sum(1 for item in session.items
                                   if isinstance(item, CaseItem) and not item.get_closest_marker("skip")))
    if _is_worker(session.config):
        # The controller collects nothing: what it must know comes from here, with the worker's output
        # at its end (the case ids alone cannot tell a trtperf case from a project test shaped like one).
        workeroutput = session.config.workeroutput  # type: ignore[attr-defined]
        workeroutput[WORKER_OUTPUT] = {"trtperf_session": state.trtperf_session,
                                       "no_case_lines": _selection_lines(state, session.items),
                                       "usage_error": state.usage_error}


def _results_from_report(report: pytest.TestReport) -> Iterator[CaseResult]:
    for key, value in report.user_properties:
        if key == PROPERTY:
            yield CaseResult.from_json(json.loads(str(value)))


def failed_by_pytest(result: CaseResult, report: pytest.TestReport) -> None:
    """A case trtperf passed that pytest failed anyway (a warning turned into an error by ``filterwarnings``,
    an unraisable exception, another plugin) is failed in the results too, and so never recorded as a baseline
    (a new user's trial, 2026-12-07: pytest said FAILED, results.json "passed", and the update recorded it)."""
    if result.outcome == FAILED:
        return
    crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", None)
    lines = [line.strip() for line in report.longreprtext.splitlines() if line.strip()]
    cause = " ".join(str(crash or (lines[-1] if lines else "see pytest's report")).split())
    result.outcome = FAILED
    result.failed_stage = PYTEST_STAGE
    result.message = (f"{result.case.key}: pytest failed this case after trtperf's checks passed ({report.when}: "
                      f"{cause[:300]}); it is not recorded as a baseline. Fix the cause, or relax the pytest "
                      f"setting that turned it into a failure (e.g. filterwarnings)")


class _ResultCollector:
    """Gathers per-case results from reports; under xdist, the controller sees every worker's."""

    def __init__(self, state: SessionState, worker: bool) -> None:
        self.state = state
        self.worker = worker

    @pytest.hookimpl(tryfirst=True)  # before --junitxml: it writes the properties left
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            for result in _results_from_report(report):
                if report.failed:
                    failed_by_pytest(result, report)
                self.state.results.append(result)
                self.state.nodeids[result.case.key] = report.nodeid
        elif report.failed and report.when == "teardown":
            for result in self.state.results:
                if self.state.nodeids.get(result.case.key) == report.nodeid:
                    failed_by_pytest(result, report)
        if not self.worker:  # a worker's reports carry the result to the controller
            report.user_properties = [(k, v) for k, v in report.user_properties if k != PROPERTY]

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """On the xdist controller, which collects nothing itself: the baseline files gated against, as
        they stand before any case runs (xdist schedules after collection), for ids that look like
        trtperf cases. Whether this is a trtperf session the workers tell at their end
        (:meth:`pytest_testnodedown`): a project's test id may look like a case id."""
        if not self.state.deferred_header and any(_CASE_ID.search(node_id) for node_id in ids):
            self.state.deferred_header = _baseline_lines(self.state)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """On the xdist controller: what a worker collected (see :func:`pytest_collection_finish`)."""
        told = (getattr(node, "workeroutput", None) or {}).get(WORKER_OUTPUT) or {}
        if told.get("trtperf_session"):
            self.state.trtperf_session = True
        self.state.worker_usage_error = self.state.worker_usage_error or str(told.get("usage_error") or "")
        if told.get("no_case_lines") and not self.state.worker_lines:  # every worker collects the same
            self.state.worker_lines = [str(line) for line in told["no_case_lines"]]


# A case's node id ends in its id: backend-precision-b<batch>[-<axis><value>...]-s<streams>.
_CASE_ID = re.compile(r"\[[a-z_]+-[a-z0-9]+-b\d+(?:-[A-Za-z_]\w*?\d+)*-s\d+\]$")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or _is_worker(config) or config.option.collectonly or state.usage_error:
        return
    if state.worker_usage_error:  # xdist: the workers ran nothing; the summary says why
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    if not (state.results or state.trtperf_session):
        return  # not a trtperf session (e.g. a project's unit tests): its results file stays as it is
    from trtperf import __version__

    meta = {"trtperf_version": __version__, "settings_sources": dict(state.settings.sources)}
    try:
        write_results(state.results_path, state.results, meta)
    except OSError as exc:  # the baselines, the reports and the table still come
        state.results_error = f"cannot write the results to {state.results_path}: {exc}"
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    try:
        state.reports_written = write_reports(state.settings, state.results, state.nodeids, meta)
    except (OSError, TrtperfError) as exc:
        state.errors.append(f"writing a report failed: {exc}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state.settings.update_baselines and state.results:
        try:
            state.baselines_written = state.get_runner().update_baselines(state.results)
        except (TrtperfError, OSError) as exc:
            state.errors.append(f"baseline update failed: {exc}")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or _is_worker(config) or config.option.collectonly or state.usage_error:
        return
    if state.worker_usage_error:
        terminalreporter.write_line(f"ERROR: {state.worker_usage_error}", red=True)
        return
    if not (state.results or state.trtperf_session):
        return
    terminalreporter.write_sep("=", "trtperf")
    if not state.header_shown:  # an xdist controller: the workers collected, so say it here
        for line in [*(f"trtperf: {note}" for note in state.notes), *state.deferred_header, *state.worker_lines]:
            terminalreporter.write_line(line)
    if state.results:
        terminalreporter.write(render_summary(state.results, width=max(80, terminalreporter._tw.fullwidth)))
    else:
        terminalreporter.write_line("no trtperf case ran" + (
            ": " + "; ".join(sorted(state.no_cases.values())) if state.no_cases else ""))
    for result in sorted(state.results, key=lambda r: r.case.key):
        if result.outcome == FAILED and result.failed_stage:
            first = result.message.splitlines()[0] if result.message else ""
            terminalreporter.write_line(f"FAILED {first}", red=True)
    if state.results_error:
        terminalreporter.write_line(f"trtperf: {state.results_error}", red=True)
    else:
        terminalreporter.write_line(f"results written to {state.results_path}")
    for line in state.reports_written:
        terminalreporter.write_line(line)
    for path, count in sorted(state.baselines_written.items()):
        terminalreporter.write_line(f"baseline updated: {path} ({plural(count, 'case')} written, other entries kept)")
    for error in state.errors:
        terminalreporter.write_line(f"trtperf: {error}", red=True)
