"""Settings: each option defined once, resolved in layers, with the source of every value kept.

Precedence per value: model declaration > command line > ``TRTPERF_*`` environment >
ini/pyproject (``trtperf_*``) > default. The pytest plugin and the ``trtperf`` CLI share the
definitions below.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trtperf.errors import TrtperfUsageError
from trtperf.precisions import PRECISIONS
from trtperf.timing.mode import CUDA_GRAPH_CHOICES, MeasurementMode


def _positive_int(text: str) -> int:
    if not re.fullmatch(r"\d+", text.strip()) or int(text) < 1:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return int(text)


def _nonneg_int(text: str) -> int:
    if not re.fullmatch(r"\d+", text.strip()):
        raise ValueError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def _nonneg_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"expected a non-negative number, got {text!r}")
    return value


def _percent(text: str) -> float:
    """'5%' or '0.05' -> 0.05. A bare number of 1 or more is refused: '5' would read as 500 % (a new user's
    trial, 2026-12-07: ``--trtperf-threshold 5`` let a x5.5 slowdown pass), so above 100 % takes a '%'."""
    text = text.strip()
    percent = text.endswith("%")
    value = float(text[:-1]) / 100 if percent else float(text)
    if not percent and value >= 1:
        raise ValueError(f"a bare number is a fraction (0.05 is 5 %), and {text!r} would be {value:.0%}: "
                         f"write {text}% for {text} percent, or {value:.0%} if you mean it")
    if not 0 <= value < 10:
        raise ValueError(f"expected a fraction such as 0.05 or 5%, got {text!r}")
    return value


def _probability(text: str) -> float:
    value = _percent(text)
    if not 0 < value < 1:
        raise ValueError(f"expected a value strictly between 0 and 1, got {text!r}")
    return value


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _precisions(text: str) -> tuple[str, ...]:
    values = _names(text)
    bad = [v for v in values if v not in PRECISIONS]
    if bad:
        raise ValueError(f"unknown precision {bad}; known: {', '.join(PRECISIONS)}")
    return values


def _ints(text: str) -> tuple[int, ...]:
    return tuple(_positive_int(part) for part in _names(text))


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def _path(text: str) -> Path:
    return Path(os.path.expanduser(text))


def _cuda_graph(text: str) -> str:
    """'auto', or a boolean word for 'on'/'off'."""
    lowered = text.strip().lower()
    if lowered in CUDA_GRAPH_CHOICES:
        return lowered
    try:
        return "on" if _bool(lowered) else "off"
    except ValueError:
        raise ValueError(f"expected 'off', 'on' or 'auto', got {text!r}") from None


KERNEL_SPECIALIZATIONS = ("eager", "lazy", "none")


def _kernel_specialization(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in KERNEL_SPECIALIZATIONS:
        raise ValueError(f"expected one of {', '.join(KERNEL_SPECIALIZATIONS)}, got {text!r}")
    return lowered


def _timing_mode(text: str) -> str:
    if text not in ("compute", "e2e"):
        raise ValueError(f"expected 'compute' or 'e2e', got {text!r}")
    return text


def _progress(text: str) -> str:
    if text not in ("auto", "rich", "log", "off"):
        raise ValueError(f"expected 'auto', 'rich', 'log' or 'off', got {text!r}")
    return text


def _trt_flavour(text: str) -> str:
    if text not in ("auto", "tensorrt", "tensorrt_rtx"):
        raise ValueError(f"expected 'auto', 'tensorrt' or 'tensorrt_rtx', got {text!r}")
    return text


def _trt_opt_level(text: str) -> int:
    if not re.fullmatch(r"[0-5]", text.strip()):
        raise ValueError(f"expected a builder optimization level 0..5, got {text!r}")
    return int(text)


def _trt_tf32(text: str) -> str:
    if text not in ("auto", "on", "off"):
        raise ValueError(f"expected 'auto', 'on' or 'off', got {text!r}")
    return text


def _dims(text: str) -> dict[str, tuple[int, ...]]:
    """``"seq=128,512"`` (several axes separated by ``;``) -> ``{"seq": (128, 512)}``.

    ValueError names the malformed part and what is expected: an axis named by letters and
    underscores (as in an ``InputSpec`` shape), positive integer values, each axis once; the batch
    axis has its own option (``--trtperf-batch``)."""
    out: dict[str, tuple[int, ...]] = {}
    form = "expected AXIS=V1,V2 (e.g. 'seq=128,512'; several axes separated by ';')"
    for part in re.split(r"[;\s]+", text.strip()):
        if not part:
            continue
        match = re.fullmatch(r"([A-Za-z_]+)=(\d+(?:,\d+)*)", part)
        if not match:
            raise ValueError(f"{form}, got {part!r}")
        axis, values = match[1], tuple(int(v) for v in match[2].split(","))
        if any(v < 1 for v in values):
            raise ValueError(f"{form} with positive values, got {part!r}")
        if axis == "batch":
            raise ValueError(f"the batch axis is selected with --trtperf-batch (e.g. --trtperf-batch "
                             f"{match[2]}), not with {part!r}")
        if axis in out:
            raise ValueError(f"axis {axis!r} is given twice; list its values once, e.g. "
                             f"'{axis}={','.join(map(str, out[axis] + values))}'")
        out[axis] = values
    return out


def _batch_range(text: str) -> tuple[int, int]:
    """'1:64' -> (1, 64): the optimization profile's min and max batch."""
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(f"expected MIN:MAX with 1 <= MIN <= MAX, e.g. '1:64', got {text!r}")
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class Option:
    """One setting: its field name, parser and help, shared by every front end.

    Its default is the :class:`Settings` field's default (written there only).
    """

    field: str
    parse: Callable[[str], Any]
    help: str
    metavar: str = "VALUE"
    flag: bool = False

    @property
    def default(self) -> Any:
        return _SETTINGS_DEFAULTS[self.field]

    @property
    def cli(self) -> str:
        return self.field.replace("_", "-")

    @property
    def env(self) -> str:
        return "TRTPERF_" + self.field.upper()

    @property
    def ini(self) -> str:
        return "trtperf_" + self.field


OPTIONS: tuple[Option, ...] = (
    Option("backend", _names, "Backends to run, comma-separated (default: every backend a model allows; "
           "those missing here are skipped with the reason).", "NAMES"),
    Option("precision", _precisions, "Precisions to run, comma-separated (default: those each model declares).",
           "NAMES"),
    Option("batch", _ints, "Batch sizes to run, comma-separated (default: those each model declares).", "INTS"),
    Option("dim", _dims, "Values of named input axes to run, e.g. 'seq=128,512' (several: 'seq=128;"
           "width=64'); values outside a model's declared range are dropped (default: those each model declares).",
           "AXIS=INTS"),
    Option("streams", _ints, "Stream counts to run, comma-separated (default: those each model declares).",
           "INTS"),
    # The sequential design (issue 14, item 5): short looks of 5 runs, more only while undecided.
    Option("runs", _positive_int, "Timed runs per look: the first look measures this many runs (each starts "
           "fresh with its own warm-up) and an undecided case gets this many more per look, up to "
           "--trtperf-remeasure more looks; recording a baseline measures at least 10 (default 5).", "N"),
    Option("min_time", _nonneg_float, "Minimum seconds of timed samples per run (default 0.05).", "SECONDS"),
    Option("min_iters", _positive_int, "Minimum timed iterations per run and stream (default 10).", "N"),
    Option("warmup", _nonneg_float, "Warm-up seconds before each run, extended until stable (default 0.05).",
           "SECONDS"),
    Option("threshold", _percent, "Slowdown of the median latency that fails a case, e.g. 5% (default 5%).",
           "FRACTION"),
    # The statistical gate (issue 6): see trtperf/verdict/gate.py.
    Option("effect_floor", _percent, "A regression must also clear this floor: the low end of the "
           "ratio's confidence interval must exceed 1 + floor (default 1%).", "FRACTION"),
    Option("confidence", _probability, "Confidence of a regressed/improved verdict per case (default 0.99); "
           "split over the re-measurement looks and over the session's timed cases (Bonferroni).", "P"),
    Option("remeasure", _nonneg_int, "Most extra looks for an undecided case, each adding --trtperf-runs "
           "runs; a case stops at its first decided look, so at most runs x (1 + remeasure) runs a side. "
           "Every look is judged at the confidence split over the 1 + remeasure looks (default 5; 0 = one "
           "look).", "N"),
    Option("paired", _bool, "Before declaring a regression, re-measure the baseline's own engine interleaved "
           "with the candidate (same-job A/B) when it is still in the cache (default true).", "BOOL"),
    Option("cv_warn", _percent, "Note a case whose within-run spread of latency (IQR/median) exceeds "
           "this (default 10%).", "FRACTION"),
    Option("timing_mode", _timing_mode,
           "What GPU latency covers: 'compute' (engine only, trtexec --noDataTransfers) or 'e2e' "
           "(host-to-device copies included). CPU backends always time the whole call (default compute).", "MODE"),
    # trtexec 11's default: a graph replay per inference, so the GPU, not the host's launches, is timed.
    Option("cuda_graph", _cuda_graph, "GPU backends: time CUDA-graph replays: 'auto' (captured where capture "
           "works, else stream launches with the reason in the notes), 'on' (a capture failure fails the case), "
           "'off' (stream launches) (default auto).", "off|on|auto"),
    Option("l2_flush", _bool, "Flush the GPU's L2 cache before each timed inference, for cold-cache "
           "latency; the flush itself is not timed. GPU backends only (default off: warm cache).", "BOOL"),
    Option("iterations_per_sample", _positive_int, "GPU backends: inferences timed between one pair of CUDA "
           "events, each reported as their mean (default 1: per-inference samples). Use e.g. 20 for inferences "
           "under ~50 us, where an event pair's ~2 us of GPU time biases the result; percentiles then describe "
           "means of that many inferences. Not with l2_flush.", "N"),
    # nvbench's blocking kernel: the host enqueues a chunk of inferences while the GPU waits behind a delay kernel,
    # so CUDA events time the engine's GPU work, not the host's launch speed (issue 14: launch-bound cases).
    Option("delay_kernel", _bool, "GPU backends: before each chunk of timed inferences, enqueue a short GPU delay "
           "kernel sized to the host's enqueue time, so the GPU never waits for the host inside a timed sample and "
           "the latency is the engine's GPU time even when Python and the driver launch slower than the GPU runs "
           "(nvbench's blocking kernel). Off: the GPU may wait for launches, as in a host-bound production loop "
           "(default on).", "BOOL"),
    Option("update_baselines", _bool, "Write this run's statistics into the baseline files "
           "(only the cases that ran; every other entry is kept).", flag=True),
    Option("baseline_dir", _path, "Directory of per-device baseline files (default <rootdir>/baselines).",
           "DIR"),
    Option("cache_dir", _path, "Artifact cache directory (default $XDG_CACHE_HOME/trtperf, "
           "i.e. ~/.cache/trtperf).", "DIR"),
    Option("cache_key_file", _path, "Key that signs (HMAC) every cache entry, created owner-only when "
           "absent; entries signed with another key are rebuilt (default $XDG_CONFIG_HOME/trtperf/cache.key, "
           "i.e. ~/.config/trtperf/cache.key).", "PATH"),
    Option("results", _path, "Where to write the results JSON (default <rootdir>/.trtperf/results.json).",
           "PATH"),
    # reports people review (issue 15): see trtperf/record/.
    Option("benchmark_json", _path, "Also write the results in pytest-benchmark's JSON format (for "
           "pytest-benchmark compare, github-action-benchmark's 'pytest' tool) to PATH.", "PATH"),
    Option("markdown", _path, "Write a Markdown summary (regressions and parity failures first, with the "
           "command reproducing each) to PATH; it is also appended to $GITHUB_STEP_SUMMARY when that is set.",
           "PATH"),
    Option("html", _path, "Write a self-contained HTML report with plots (matplotlib) to PATH.", "PATH"),
    Option("history", _path, "Append this run's results to the history directory DIR "
           "(`trtperf history` shows each case over runs, with change points).", "DIR"),
    Option("progress", _progress, "Live progress of each case's stages: 'auto' (rich on a terminal, log "
           "lines otherwise, none with -q), 'rich', 'log' or 'off' (default auto).", "MODE"),
    Option("no_timing", _bool, "Check parity only; skip timing and the gate.", flag=True),
    Option("build_only", _bool, "Build (and cache) engines only; skip parity, timing and the gate. "
           "For runners without a usable GPU.", flag=True),
    # precision variants (issue 4): see trtperf/precision/.
    Option("calibration_data", _path, "int8/fp8 calibration set: an .npz with one array per model input, "
           "samples stacked on the batch axis (default: 32 samples drawn from the declared input ranges).", "NPZ"),
    Option("trt_precision_flags", _bool, "TensorRT 10 only: build the fp32 ONNX with the builder's "
           "FP16/BF16/INT8/FP8 flag instead of the precision's ONNX variant (default off).", "BOOL"),
    Option("hypothesis_examples", _nonneg_int, "After the fixed-seed parity check, check parity on N inputs "
           "drawn by Hypothesis (batch sizes within the engine's profile, values within the declared ranges), "
           "shrinking a failure and saving a reproducer (default 0 = off).", "N"),
    Option("seed", lambda t: int(t), "Seed of the generated inputs (default 0).", "INT"),
    # tensorrt backend (issue 3)
    Option("trt_flavour", _trt_flavour, "TensorRT to use: 'tensorrt' (10.x/11.x), 'tensorrt_rtx', or "
           "'auto' (full TensorRT when importable, else TensorRT-RTX) (default auto).", "NAME"),
    Option("trt_opt_level", _trt_opt_level, "TensorRT builder optimization level 0..5; 0 builds fastest "
           "(default 3).", "LEVEL"),
    Option("trt_workspace", _positive_int, "TensorRT workspace limit in MiB (default: TensorRT's, "
           "the device memory).", "MIB"),
    Option("trt_tf32", _trt_tf32, "TF32 math in TensorRT builds: 'auto' (only for the tf32 precision; "
           "fp32 builds use IEEE fp32), 'on' or 'off' (default auto).", "MODE"),
    Option("trt_batch_range", _batch_range, "Batch range MIN:MAX of the TensorRT optimization profile; "
           "opt is the case's batch (default 1:<model max_batch>).", "MIN:MAX"),
    Option("trt_kernel_specialization", _kernel_specialization, "TensorRT-RTX: when shape-specialized kernels "
           "are compiled: 'eager' (at the first inference, before timing: the timed and checked kernels are the "
           "same from the start), 'lazy' (RTX's default: in the background, swapped in while running), 'none' "
           "(fallback kernels only) (default eager).", "eager|lazy|none"),
    Option("fresh_contexts", _bool, "GPU backends: every timed run of a case creates new execution contexts "
           "and CUDA graphs (default off: they are kept across the runs of a case, so TensorRT-RTX compiles "
           "its kernels once per case).", "BOOL"),
    Option("trt_runtime_cache", _bool, "TensorRT-RTX: keep the kernels it compiles when an engine first runs "
           "in the artifact cache, per engine and GPU (a signed file beside the plan), so later sessions load "
           "them instead of compiling again (default on).", "BOOL"),
    Option("trt_allow_host_code", _bool, "Let TensorRT deserialize plans that carry host code "
           "(version-compatible plans); only for plans you trust (default off).", "BOOL"),
)

OPTIONS_BY_FIELD = {o.field: o for o in OPTIONS}

BASELINE_MIN_RUNS = 10
"""A recorded baseline keeps at least this many run medians (the reference recommends >= 20 in a window;
10 is what one recording has always measured)."""

OLD_DESIGN = {"runs": 10, "remeasure": 2, "min_time": 0.2, "min_iters": 20, "warmup": 0.1}
"""The defaults before the sequential design (issue 14, item 5): three looks of 10 runs of 0.3 s windows.
bench/verdict_seconds.py and bench/gate_power.py compare them with today's side by side."""

# Settings a model declaration may override for its own cases.
MODEL_SETTINGS = frozenset({"runs", "min_time", "min_iters", "warmup", "threshold", "effect_floor", "confidence",
                            "remeasure", "paired", "cv_warn", "timing_mode", "cuda_graph", "delay_kernel",
                            "l2_flush", "iterations_per_sample", "calibration_data", "hypothesis_examples",
                            "trt_opt_level", "trt_workspace", "trt_tf32", "trt_batch_range",
                            "trt_kernel_specialization"})


@dataclass(frozen=True)
class Settings:
    backend: tuple[str, ...] | None = None
    precision: tuple[str, ...] | None = None
    batch: tuple[int, ...] | None = None
    dim: Mapping[str, tuple[int, ...]] | None = None
    streams: tuple[int, ...] | None = None
    runs: int = 5
    min_time: float = 0.05
    min_iters: int = 10
    warmup: float = 0.05
    threshold: float = 0.05
    effect_floor: float = 0.01
    confidence: float = 0.99
    remeasure: int = 5
    paired: bool = True
    cv_warn: float = 0.10
    timing_mode: str = "compute"
    cuda_graph: str = "auto"
    l2_flush: bool = False
    iterations_per_sample: int = 1
    delay_kernel: bool = True
    update_baselines: bool = False
    baseline_dir: Path | None = None
    cache_dir: Path | None = None
    cache_key_file: Path | None = None
    results: Path | None = None
    benchmark_json: Path | None = None
    markdown: Path | None = None
    html: Path | None = None
    history: Path | None = None
    progress: str = "auto"
    no_timing: bool = False
    build_only: bool = False
    calibration_data: Path | None = None
    trt_precision_flags: bool = False
    hypothesis_examples: int = 0
    seed: int = 0
    trt_flavour: str = "auto"
    trt_opt_level: int = 3
    trt_workspace: int | None = None
    trt_tf32: str = "auto"
    trt_batch_range: tuple[int, int] | None = None
    trt_kernel_specialization: str = "eager"
    fresh_contexts: bool = False
    trt_runtime_cache: bool = True
    trt_allow_host_code: bool = False
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def with_model_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """The settings for one model's cases, its declared values taking precedence."""
        if not overrides:
            return self
        sources = dict(self.sources)
        sources.update({k: "model declaration" for k in overrides})
        parsed = {k: _parse(OPTIONS_BY_FIELD[k], v, "model declaration") for k, v in overrides.items()}
        settings = dataclasses.replace(self, **parsed, sources=sources)
        settings.measurement  # noqa: B018 - conflicting combinations are rejected here, when read
        return settings

    @property
    def record_runs(self) -> int:
        """Runs measured when recording a baseline: at least :data:`BASELINE_MIN_RUNS`, so that a
        5-run look against it can reach a significant rank test (5 vs 10 runs: p down to 1/3003)."""
        return max(self.runs, BASELINE_MIN_RUNS)

    @property
    def measurement(self) -> MeasurementMode:
        """What a latency sample covers (:class:`MeasurementMode`); TrtperfUsageError on a conflict."""
        return MeasurementMode.from_settings(self)

    def to_json(self) -> dict[str, Any]:
        """Every resolved value as JSON (paths as strings, tuples as lists), e.g. for reproducers."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            data[f.name] = value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Settings:
        """The inverse of :meth:`to_json`; unknown keys are ignored, missing ones take their defaults."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data or f.name == "sources":
                continue
            raw = data[f.name]
            if raw is None or isinstance(raw, (bool, int, float)):
                values[f.name] = raw
            elif isinstance(raw, list):
                values[f.name] = tuple(raw)
            else:
                values[f.name] = _parse(OPTIONS_BY_FIELD[f.name], raw, "saved settings")
        return cls(**values, sources=dict(data.get("sources", {})))


def _parse(option: Option, raw: Any, where: str) -> Any:
    raw = ",".join(str(v) for v in raw) if isinstance(raw, list) else raw  # pyproject lists: trtperf_batch = [1, 8]
    if option.parse in (_percent, _probability) and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = repr(raw)  # a model's threshold=5 is the same mistake as --trtperf-threshold 5 (500 %)
    if not isinstance(raw, str):
        return raw
    try:
        return option.parse(raw)
    except ValueError as exc:
        raise TrtperfUsageError(f"Invalid {option.field} {raw!r} from {where}: {exc}") from None


def resolve(
    cli: Mapping[str, Any],
    env: Mapping[str, str],
    ini: Mapping[str, Any],
) -> Settings:
    """Resolve every option: CLI value (None = not given) > environment > ini > default."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in OPTIONS:
        cli_value = cli.get(option.field)
        if cli_value is not None and cli_value is not False:
            values[option.field] = _parse(option, cli_value, f"--trtperf-{option.cli}")
            sources[option.field] = "command line"
        elif option.env in env and env[option.env] != "":
            values[option.field] = _parse(option, env[option.env], option.env)
            sources[option.field] = "environment"
        elif ini.get(option.field) not in (None, "", []):
            values[option.field] = _parse(option, ini[option.field], f"ini {option.ini}")
            sources[option.field] = "ini"
        else:
            values[option.field] = option.default
            sources[option.field] = "default"
    settings = Settings(**values, sources=sources)
    settings.measurement  # noqa: B018 - conflicting combinations are rejected here, when read
    return settings


_SETTINGS_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(Settings)}


def validate_model_settings(model_name: str, settings: Mapping[str, Any]) -> None:
    """Reject unknown per-model settings by name, and parse-check the known ones."""
    unknown = sorted(set(settings) - MODEL_SETTINGS)
    if unknown:
        raise TrtperfUsageError(
            f"model {model_name!r}: unknown {'setting' if len(unknown) == 1 else 'settings'} {unknown}; "
            f"allowed: {sorted(MODEL_SETTINGS)}"
        )
    for key, value in settings.items():
        _parse(OPTIONS_BY_FIELD[key], str(value), f"model {model_name!r}")


def default_cache_dir(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "trtperf"
