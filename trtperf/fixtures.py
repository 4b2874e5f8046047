"""trtperf for a user's own tests: a built, cached engine to run on real data, and trtperf's timing
loop and gate for any callable. The pytest fixtures ``trtperf_build`` and ``trtperf_benchmark``
(``trtperf.plugin``) are thin wiring over :func:`build_case` and :func:`time_callable`.

Without pytest::

    runner = CaseRunner(settings, baseline_dir)
    with build_case(runner, my_model, backend="tensorrt", precision="fp16", batch=8) as built:
        outputs = built.infer({"pixels": my_images})
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trtperf.backends.base import BuildRequest
from trtperf.cases import Case, dim_combinations
from trtperf.device import DeviceInfo, cpu_device
from trtperf.engine import BuiltEngine, Engine
from trtperf.errors import TrtperfError, TrtperfUsageError
from trtperf.inputs import make_inputs
from trtperf.prepare import prepare
from trtperf.record.results import CaseResult
from trtperf.spec import ModelSpec
from trtperf.timing.loop import CallableWorker, TimingPlan, measure
from trtperf.verdict.judging import TimingHook, judge_case

if TYPE_CHECKING:
    from trtperf.pipeline import CaseRunner

CALLABLE_BACKEND = "callable"
"""The backend part of a timed callable's case key: ``name[callable-fp32-b1-s1]``."""


class CaseUnavailable(TrtperfError):
    """This machine cannot run the requested case (the message says why); a test skips on it."""


@dataclass
class BuiltCase:
    """A loaded engine of one case, with the case's own seeded inputs.

    ``inputs``: one array per model input (shapes at the case's batch and named axes, dtypes as
    declared). ``infer(arrays)`` runs the engine on any arrays of those names, dtypes and shapes
    within the engine's profile, returning one array per declared output.
    """

    spec: ModelSpec
    case: Case
    engine: Engine
    inputs: dict[str, np.ndarray]
    request: BuildRequest
    built: BuiltEngine

    def infer(self, inputs: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Outputs for ``inputs`` (default: the case's own inputs)."""
        return self.engine.infer(self.inputs if inputs is None else inputs)

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> BuiltCase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_case(spec: ModelSpec, backend: str, precision: str, batch: int | None, streams: int,
              dims: Mapping[str, int] | None) -> Case:
    """The case of ``spec`` for these values; defaults: the first declared batch and named-axis values."""
    if dims is None:
        combo = dim_combinations(spec)[0]
    else:
        combo = tuple(sorted((str(axis), int(value)) for axis, value in dims.items()))
        if {axis for axis, _ in combo} != set(spec.dims):
            raise TrtperfUsageError(f"model {spec.name!r}: dims= must give every named axis {sorted(spec.dims)}, "
                                    f"got {dict(combo)}")
    return Case(spec.name, backend, precision, spec.batches[0] if batch is None else int(batch), int(streams), combo)


def build_case(
    runner: CaseRunner,
    model: ModelSpec,
    *,
    backend: str = "onnxruntime",
    precision: str = "fp32",
    batch: int | None = None,
    streams: int = 1,
    dims: Mapping[str, int] | None = None,
) -> BuiltCase:
    """Export, make the precision variant and build (all cached, as the case does) and load the engine.

    Raises :class:`CaseUnavailable` when this machine cannot run the backend or precision, and
    :class:`TrtperfError` subclasses when a stage fails (messages name the model and the fix).
    """
    from trtperf.backends import check_backend_names
    from trtperf.pipeline import skip_reason

    check_backend_names([backend])  # a typo is a usage error, never a skip that passes CI
    if not isinstance(model, ModelSpec):
        raise TrtperfUsageError(f"trtperf_build takes a model declaration (a trtperf.model(...) result), got "
                                f"{type(model).__name__}; import it from your suite")
    case = make_case(model, backend, precision, batch, streams, dims)
    reason = skip_reason(model, case, runner.settings)
    if reason:
        raise CaseUnavailable(f"{case.key}: {reason}")
    prepared = prepare(model, case, runner.settings, runner.cache)
    spec = prepared.spec
    return BuiltCase(spec=spec, case=case, engine=prepared.load(),
                     inputs=make_inputs(spec, case.batch, prepared.settings.seed, case.dim_values),
                     request=prepared.request, built=prepared.built)


_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def callable_name(text: str) -> str:
    """A case-key-safe model name from a test name: ``test_x[a-1]`` -> ``test_x_a-1``."""
    cleaned = _NAME_UNSAFE.sub("_", text).strip("_")
    return cleaned if cleaned and not cleaned[0].isdigit() else f"t_{cleaned}"


def _default_device() -> DeviceInfo:
    """The device a callable most likely runs on: this process's GPU when torch sees one, else the CPU."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        from trtperf.timing.gpu import env_gpu_index, gpu_device

        found: DeviceInfo = gpu_device(env_gpu_index())
        return found
    return cpu_device()


def time_callable(
    runner: CaseRunner,
    fn: Callable[[], Any],
    *,
    name: str,
    batch: int = 1,
    streams: int = 1,
    precision: str = "fp32",
    device: DeviceInfo | None = None,
    settings_overrides: Mapping[str, Any] | None = None,
) -> CaseResult:
    """Time ``fn()`` with trtperf's loop (runs x warm-up x samples, ``streams`` threads) and judge it
    against the baseline of case ``name[callable-<precision>-b<batch>-s<streams>]`` like a model case.

    ``fn`` is timed on the host clock, one call per sample: a callable using a GPU must synchronize
    before it returns. ``batch`` only labels the case and scales throughput. ``device`` keys the
    baseline file (default: this process's GPU when torch sees one, else the CPU). Returns the
    :class:`CaseResult` (outcome ``failed`` with a message on a regression).
    """
    if not callable(fn):
        raise TrtperfUsageError(f"trtperf_benchmark times a zero-argument callable, got {type(fn).__name__}")
    settings = runner.settings.with_model_overrides(dict(settings_overrides or {}))
    case = Case(callable_name(name), CALLABLE_BACKEND, precision, int(batch), int(streams))
    where = device or _default_device()
    result = CaseResult(case=case, device=where.to_json(),
                        environment={"backend": CALLABLE_BACKEND,
                                     "callable": getattr(fn, "__qualname__", type(fn).__name__)})
    result.timing_mode = {"clock": "host", "transfers": True, "cuda_graph": False, "callable": True}
    plan = TimingPlan.from_settings(settings)

    def make_workers(n: int) -> list[CallableWorker]:
        return [CallableWorker(fn) for _ in range(n)]

    try:
        runs = measure(make_workers, case.streams, plan)
    except TrtperfError:
        raise
    except Exception as exc:
        raise TrtperfUsageError(f"{case.key}: the timed callable raised {type(exc).__name__}: {exc}") from exc
    hook = TimingHook(make_workers=make_workers, streams=case.streams, plan=plan, runs=list(runs), batch=case.batch,
                      inputs=None, open_engine=lambda key: None)
    judge_case(result, settings, runner.store, runner.gate, runner.family_size, hook)
    return result
