"""The pytest fixtures for a user's own tests: thin wiring over :mod:`trtperf.fixtures`.

Registered by the trtperf plugin at configure time; see README "In your own tests".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from trtperf.plugin import PROPERTY, STATE_KEY
from trtperf.record.results import FAILED, CaseResult
from trtperf.spec import ModelSpec

if TYPE_CHECKING:  # imported when a fixture is used: `pytest --help` stays cheap
    from trtperf.fixtures import BuiltCase


@pytest.fixture
def trtperf_build(request: pytest.FixtureRequest) -> Iterator[Callable[..., BuiltCase]]:
    """Factory: ``trtperf_build(model, backend="onnxruntime", precision="fp32", batch=None, streams=1,
    dims=None)`` returns a built, cached, loaded engine (:class:`trtperf.fixtures.BuiltCase`) with
    ``infer(inputs)`` and the case's ``inputs``; skips when this machine cannot run the case.
    Engines are closed after the test."""
    from trtperf.fixtures import CaseUnavailable, build_case

    state = request.config.stash[STATE_KEY]
    opened: list[BuiltCase] = []

    def build(model: ModelSpec, **kwargs: Any) -> BuiltCase:
        try:
            built = build_case(state.get_runner(), model, **kwargs)
        except CaseUnavailable as exc:
            pytest.skip(str(exc))
        opened.append(built)
        return built

    yield build
    for built in opened:
        built.close()


@pytest.fixture
def trtperf_benchmark(request: pytest.FixtureRequest) -> Callable[..., CaseResult]:
    """``trtperf_benchmark(fn, name=None, batch=1, streams=1, precision="fp32", **settings)`` times
    ``fn()`` with trtperf's loop and gate, records it into the results and (with
    --trtperf-update-baselines) the baselines as case ``<test name>[callable-fp32-b1-s1]``, fails
    the test on a regression, and returns the :class:`CaseResult`. Settings such as ``runs=3``
    override the options for this call."""
    from trtperf.config import validate_model_settings
    from trtperf.fixtures import time_callable

    state = request.config.stash[STATE_KEY]

    def bench(fn: Callable[[], Any], *, name: str | None = None, batch: int = 1, streams: int = 1,
              precision: str = "fp32", **settings: Any) -> CaseResult:
        label = name or request.node.name
        validate_model_settings(label, settings)
        result = time_callable(state.get_runner(), fn, name=label, batch=batch, streams=streams,
                               precision=precision, settings_overrides=settings)
        request.node.user_properties.append((PROPERTY, json.dumps(result.to_json())))
        if result.outcome == FAILED:
            pytest.fail(result.message, pytrace=False)
        return result

    return bench


