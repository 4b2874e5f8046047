"""pytest wiring: options, collection of model suites into case items, results and summary.

Thin on purpose: every stage lives in the library (``trtperf.pipeline``). Heavy imports
(torch, onnxruntime, TensorRT) happen only when a case runs, so ``pytest --help`` stays cheap.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from trtperf.cases import Case, expand_cases
from trtperf.config import OPTIONS, Settings, resolve
from trtperf.errors import TrtperfError, TrtperfUsageError
from trtperf.record.results import FAILED, SKIPPED, CaseResult, render_summary, write_results
from trtperf.spec import ModelSpec

if TYPE_CHECKING:
    from trtperf.pipeline import CaseRunner

PROPERTY = "trtperf"


@dataclass
class SessionState:
    settings: Settings
    baseline_dir: Path
    results_path: Path
    runner: CaseRunner | None = None
    results: list[CaseResult] = field(default_factory=list)
    baselines_written: dict[str, int] = field(default_factory=dict)
    error: str = ""
    timed_cases: int = 1
    """Selected, not skipped cases: the gate splits its alpha over them (Bonferroni, issue 6)."""

    def get_runner(self) -> CaseRunner:
        if self.runner is None:
            from trtperf.pipeline import CaseRunner

            self.runner = CaseRunner(self.settings, self.baseline_dir)
            self.runner.family_size = self.timed_cases
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
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(_ResultCollector(state), "trtperf-results")


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return []
    s = state.settings
    mode = "update baselines" if s.update_baselines else ("build only" if s.build_only else "gate")
    return [
        f"trtperf: {mode}; runs={s.runs} min_time={s.min_time}s min_iters={s.min_iters} warmup={s.warmup}s "
        f"threshold={s.threshold:.1%} timing_mode={s.timing_mode} cuda_graph={s.cuda_graph} "
        f"l2_flush={s.l2_flush} iterations_per_sample={s.iterations_per_sample}",
        f"trtperf: baselines {state.baseline_dir}; results {state.results_path}",
    ]


class CaseFailed(Exception):
    """A case failed (parity, regression, build); the message is the whole story."""


class CaseItem(pytest.Item):
    def __init__(self, *, spec: ModelSpec, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.case = case
        self.add_marker(pytest.mark.trtperf)

    def runtest(self) -> None:
        state = self.config.stash[STATE_KEY]
        result = state.get_runner().run(self.spec, self.case)
        self.user_properties.append((PROPERTY, json.dumps(result.to_json())))
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
    if getattr(obj.factory, "__module__", None) != getattr(module, "__name__", None):
        return []  # imported from another suite module: collected there
    from trtperf.backends import known_backends
    from trtperf.pipeline import skip_reason

    s = collector.config.stash[STATE_KEY].settings
    if s.backend:
        from trtperf.backends import check_backend_names

        check_backend_names(s.backend)  # unknown names stop here with the list of known ones
    items: list[pytest.Item] = []
    for case in expand_cases(obj, known_backends(), s.backend, s.precision, s.batch, s.streams):
        item = CaseItem.from_parent(collector, name=case.key, spec=obj, case=case)
        reason = skip_reason(obj, case, s)
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"{case.key}: {reason}"))
        items.append(item)
    return items


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:  # every xdist worker collects every item, so each sees the same count
        state.timed_cases = max(1, sum(1 for item in session.items
                                       if isinstance(item, CaseItem) and not item.get_closest_marker("skip")))


def _results_from_report(report: pytest.TestReport) -> Iterator[CaseResult]:
    for key, value in report.user_properties:
        if key == PROPERTY:
            yield CaseResult.from_json(json.loads(str(value)))


class _ResultCollector:
    """Gathers per-case results from reports; under xdist, the controller sees every worker's."""

    def __init__(self, state: SessionState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.state.results.extend(_results_from_report(report))


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None or _is_worker(config):
        return
    if not state.results:
        return
    from trtperf import __version__

    meta = {"trtperf_version": __version__, "settings_sources": dict(state.settings.sources)}
    write_results(state.results_path, state.results, meta)
    if state.settings.update_baselines:
        try:
            state.baselines_written = state.get_runner().update_baselines(state.results)
        except TrtperfError as exc:
            state.error = str(exc)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or _is_worker(config) or not state.results:
        return
    terminalreporter.write_sep("=", "trtperf")
    terminalreporter.write(render_summary(state.results, width=max(140, terminalreporter._tw.fullwidth)))
    terminalreporter.write_line(f"results written to {state.results_path}")
    for path, count in sorted(state.baselines_written.items()):
        terminalreporter.write_line(f"baseline updated: {path} ({count} cases written, other entries kept)")
    if state.error:
        terminalreporter.write_line(f"trtperf: baseline update failed: {state.error}", red=True)
