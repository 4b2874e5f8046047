"""ONNX -> serialized TensorRT plan: parse, one optimization profile, builder settings, build.

Pure helpers (profile shapes, option keys, parser-error text) are separate from the one function
that drives TensorRT (:func:`build_plan`), so most of this is testable without TensorRT.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, SupportsInt

from trtperf.errors import BuildError
from trtperf.precisions import TABLE
from trtperf.spec import ModelSpec
from trtperf.trt.api import LOG, capture_errors, logger, trt
from trtperf.trt.flavour import Flavour

Shape = tuple[int, ...]
ProfileShapes = dict[str, tuple[Shape, Shape, Shape]]


def profile_shapes(spec: ModelSpec, batch: int, batch_range: tuple[int, int] | None,
                   dims: Mapping[str, int] | None = None) -> ProfileShapes:
    """min/opt/max shape per input: opt is the case's batch and named-axis values ``dims``; min/max
    the batch range (default 1..max_batch) and each named axis's declared min..max, so one profile
    covers every declared value."""
    dims = dict(dims or {})
    missing = sorted(set(spec.dims) - set(dims))
    if missing:
        raise BuildError(f"model {spec.name!r}: no value for named axes {missing} of the optimization profile")
    for axis, value in dims.items():
        lo, hi = spec.dim_range(axis)
        if not lo <= value <= hi:
            raise BuildError(f"model {spec.name!r}: {axis}={value} lies outside the declared range {lo}..{hi}; "
                             f"declare it in dims= of the model")
    smallest = {axis: spec.dim_range(axis)[0] for axis in spec.dims}
    largest = {axis: spec.dim_range(axis)[1] for axis in spec.dims}
    low, high = batch_range if batch_range is not None else (1, spec.max_batch)
    if not low <= batch <= high:
        raise BuildError(
            f"model {spec.name!r}: batch {batch} lies outside the optimization profile's batch range "
            f"{low}..{high}; widen --trtperf-trt-batch-range (e.g. '{min(low, batch)}:{max(high, batch)}')."
        )
    return {
        item.name: (item.concrete_shape(low, smallest), item.concrete_shape(batch, dims),
                    item.concrete_shape(high, largest))
        for item in spec.inputs
    }


@dataclass(frozen=True)
class BuildOptions:
    """Every builder setting that changes the plan; all of it goes into the engine's cache key."""

    profile: ProfileShapes
    opt_level: int = 3
    workspace_bytes: int | None = None
    tf32: bool = False
    detailed_profiling: bool = True
    """ProfilingVerbosity.DETAILED: the inspector then names the ONNX nodes of each layer."""
    precision_flag: str | None = None
    """TensorRT 10 opt-in (``trt_precision_flags``): a weakly typed network built from the fp32 ONNX
    with this BuilderFlag (FP16 or BF16) instead of the precision's ONNX variant."""
    require_user_allocation: bool = False
    """TensorRT-RTX ``BuilderFlag.REQUIRE_USER_ALLOCATION``: the engine uses application memory where
    possible, which RTX requires for CUDA stream capture (``is_stream_capturable`` says False otherwise)."""

    max_aux_streams: int | None = None
    """``IBuilderConfig.max_aux_streams`` (None: TensorRT's choice); 0 runs every layer on the enqueue stream."""

    def key_parts(self) -> dict[str, Any]:
        return {
            "precision_flag": self.precision_flag,
            "profile": {name: [list(s) for s in shapes] for name, shapes in sorted(self.profile.items())},
            "opt_level": self.opt_level,
            "workspace_bytes": self.workspace_bytes,
            "tf32": self.tf32,
            "detailed_profiling": self.detailed_profiling,
            **({"require_user_allocation": True} if self.require_user_allocation else {}),
            **({"max_aux_streams": self.max_aux_streams} if self.max_aux_streams is not None else {}),
        }


@dataclass(frozen=True)
class ParserIssue:
    """One ONNX parser error, with the node it is about (index -1 when not about a node)."""

    code: str
    message: str
    node: int = -1
    node_name: str = ""
    operator: str = ""

    def describe(self) -> str:
        where = "model"
        if self.node >= 0 or self.node_name:
            where = f"node {self.node}" + (f" {self.node_name!r}" if self.node_name else "")
            where += f" ({self.operator})" if self.operator else ""
        return f"{where}: {self.code}: {self.message}"


# Logged on every CPU-only machine by TensorRT-RTX's builder; not the reason a model fails to parse.
_NOISE = ("CUDA driver version is insufficient", "--- Begin node ---", "--- End node ---", "While parsing node")


def parser_issues(parser: Any) -> list[ParserIssue]:
    """Every error the ONNX parser recorded (ParserError accessors are methods)."""
    issues = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        code = error.code()
        issues.append(
            ParserIssue(
                code=getattr(code, "name", str(code)),
                message="\n".join(line for line in str(error.desc()).strip().splitlines()
                                   if not any(noise in line for noise in _NOISE)),
                node=int(error.node()),
                node_name=str(error.node_name()),
                operator=str(error.node_operator()),
            )
        )
    return issues


def describe_parse_failure(
    onnx_path: Path, issues: Sequence[ParserIssue], flavour: Flavour, logged: Sequence[str] = ()
) -> str:
    """Every parser error (node, operator, message), what TensorRT logged about them, and a fix."""
    lines = [f"{flavour.label} {flavour.version} could not parse {onnx_path} ({len(issues)} parser error(s)):"]
    lines += [f"  - {issue.describe()}" for issue in issues] or ["  - (the parser gave no details)"]
    lines_logged = [re.sub(r"^\[\d+\]\s*", "", line.strip()) for message in logged for line in message.splitlines()]
    reasons = list(dict.fromkeys(
        line for line in lines_logged
        if line and not any(noise in line for noise in _NOISE)
        and not any(line in issue.message for issue in issues)
        and not line.startswith(("Node name:", "ModelImporter.cpp", "[6] Invalid Node"))
    ))
    if reasons:
        lines.append("TensorRT logged:")
        lines += [f"  {reason}" for reason in reasons]
    lines.append(_parse_hint(issues, lines_logged))
    return "\n".join(lines)


def _parse_hint(issues: Sequence[ParserIssue], logged: Sequence[str] = ()) -> str:
    codes = {issue.code for issue in issues}
    text = " ".join([*logged, *(issue.message for issue in issues)])
    if any(issue.operator == "DequantizeLinear" for issue in issues) and "Int32" in text:
        return ("A DequantizeLinear of int32 data (a quantized bias) is not accepted: this TensorRT dequantizes "
                "only 8-bit/4-bit/FP8 data. Quantize with the bias kept in float (ONNX Runtime's "
                "QuantizeBias=False, as ModelOpt does) and let TensorRT fuse it.")
    if "Non-zero zero point is not supported" in text:
        return ("TensorRT takes symmetric quantization only (every Q/DQ zero point 0): quantize with symmetric "
                "activations and weights (ONNX Runtime's ActivationSymmetric=True and WeightSymmetric=True with "
                "QInt8, as ModelOpt does).")
    if "MODEL_DESERIALIZE_FAILED" in codes:
        return "The file is not a readable ONNX model: re-export it (delete the cache entry if it is stale)."
    if any(code.startswith("UNSUPPORTED") for code in codes) or "Plugin not found" in text:
        return ("An operator or attribute above is not supported by this TensorRT: change the model "
                "(or its export/opset), or exclude this backend for the model with backends=[...].")
    return "Fix the model or its export so that TensorRT's ONNX parser accepts it."


@dataclass(frozen=True)
class NetworkLayer:
    """A layer of the parsed network (before the builder fuses layers)."""

    name: str
    type: str
    onnx_node: str


@dataclass
class BuildOutput:
    plan: bytes
    seconds: float
    network_layers: list[NetworkLayer]
    timing_cache: bytes | None = None
    warnings: list[str] = field(default_factory=list)


def network_layers(network: Any) -> list[NetworkLayer]:
    out = []
    for index in range(network.num_layers):
        layer = network.get_layer(index)
        out.append(NetworkLayer(layer.name, getattr(layer.type, "name", str(layer.type)),
                                onnx_nodes_of(str(layer.metadata))[0] if layer.metadata else ""))
    return out


def onnx_nodes_of(metadata: str) -> list[str]:
    """ONNX node names in a layer's metadata: ``[ONNX Layer: node_Conv_0]`` per fused node."""
    from trtperf.trt.report import onnx_nodes_in_metadata

    return onnx_nodes_in_metadata(metadata) or [""]


def _progress_monitor(report: Callable[[str], None]) -> Any:
    """An IProgressMonitor that reports the builder's top-level phases (builds can take minutes)."""

    class _Monitor(trt.IProgressMonitor):  # type: ignore[misc]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._started: dict[str, float] = {}
            self._parents: dict[str, str | None] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: SupportsInt) -> None:
            self._started[phase_name] = time.perf_counter()
            self._parents[phase_name] = parent_phase
            if parent_phase is None:
                report(f"{phase_name} ({int(num_steps)} steps)")

        def step_complete(self, phase_name: str, step: SupportsInt) -> bool:
            return True  # never cancel

        def phase_finish(self, phase_name: str) -> None:
            if self._parents.get(phase_name) is None and phase_name in self._started:
                report(f"{phase_name} done in {time.perf_counter() - self._started[phase_name]:.1f} s")

    return _Monitor()


def build_plan(
    flavour: Flavour,
    onnx_path: Path,
    options: BuildOptions,
    timing_cache: bytes | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildOutput:
    """Parse ``onnx_path`` and build a plan; :class:`BuildError` with every parser error on failure.

    ``timing_cache`` (full TensorRT only) seeds the builder's timing cache; the updated cache is
    returned in ``BuildOutput.timing_cache`` so the caller can store it for later builds.
    """
    say = progress or (lambda text: LOG.info("%s", text))
    log = logger()
    started = time.perf_counter()
    with capture_errors() as captured:
        builder = trt.Builder(log)
        flags = 0
        builder_flag = _precision_flag(flavour, options.precision_flag)
        if flavour.strongly_typed_flag and builder_flag is None:
            # 10.x: precision must come from the ONNX graph (casts, Q/DQ), as on 11.x and RTX.
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, log)
        if not parser.parse_from_file(str(onnx_path)):
            raise BuildError(describe_parse_failure(onnx_path, parser_issues(parser), flavour, captured.errors))
        if network.num_outputs == 0:
            # Protobuf decodes some garbage as an empty ModelProto, which the parser accepts.
            raise BuildError(
                f"{onnx_path}: {flavour.label} parsed it into a network without outputs (an empty or non-ONNX "
                f"file decodes as an empty graph); re-export the model (delete the cache entry if it is stale)."
            )
        config = builder.create_builder_config()
        config.builder_optimization_level = options.opt_level
        if options.workspace_bytes is not None:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_bytes)
        if builder_flag is not None:
            config.set_flag(builder_flag)
        if options.tf32:
            config.set_flag(trt.BuilderFlag.TF32)
        else:
            config.clear_flag(trt.BuilderFlag.TF32)  # on by default; off gives IEEE fp32 math
        if options.max_aux_streams is not None:
            config.max_aux_streams = options.max_aux_streams
        if options.require_user_allocation:
            user_allocation = getattr(trt.BuilderFlag, "REQUIRE_USER_ALLOCATION", None)  # TensorRT-RTX only
            if user_allocation is None:
                raise BuildError(f"{flavour.label} {flavour.version} has no BuilderFlag.REQUIRE_USER_ALLOCATION "
                                 f"(a TensorRT-RTX flag)")
            config.set_flag(user_allocation)
        if options.detailed_profiling:
            config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        _add_profile(builder, network, config, options.profile, onnx_path)
        cache_obj = None
        if flavour.timing_cache:
            cache_obj = config.create_timing_cache(timing_cache or b"")
            # ignore_mismatch=False: a cache from another GPU or version is rejected, not misused.
            config.set_timing_cache(cache_obj, False)
        config.progress_monitor = _progress_monitor(say)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            detail = captured.detail()
            raise BuildError(
                f"{flavour.label} {flavour.version} failed to build an engine from {onnx_path}:\n{detail}\n"
                f"Check the messages above; a model TensorRT parses but cannot build usually needs another "
                f"precision, a larger --trtperf-trt-workspace, or a model change."
            )
        data = host_bytes(plan)
        new_cache = host_bytes(config.get_timing_cache().serialize()) if cache_obj is not None else None
        layers = network_layers(network)
    return BuildOutput(plan=data, seconds=time.perf_counter() - started, network_layers=layers,
                       timing_cache=new_cache)


FLAG_PRECISIONS = tuple(p.name for p in TABLE.values() if p.builder_flag)
"""Precisions the TensorRT 10 builder-flag opt-in covers; int8/fp8 flags would need a calibrator."""


def _precision_flag(flavour: Flavour, precision: str | None) -> Any:
    """The BuilderFlag for the opt-in, or a BuildError saying why this TensorRT has none."""
    if precision is None:
        return None
    if precision not in FLAG_PRECISIONS:
        raise BuildError(
            f"--trtperf-trt-precision-flags covers {', '.join(FLAG_PRECISIONS)}; {precision} builder flags need a "
            f"calibrator, which trtperf does not drive: use the {precision} Q/DQ variant (the default)."
        )
    # Removed in TensorRT 11 and absent in RTX.
    flag = getattr(trt.BuilderFlag, TABLE[precision].builder_flag or "", None)
    if flag is None or not flavour.strongly_typed_flag:
        raise BuildError(
            f"{flavour.label} {flavour.version} has no BuilderFlag.{precision.upper()} (precision flags exist "
            f"only in TensorRT 10; 11.x and TensorRT-RTX take precision from the ONNX graph): run without "
            f"--trtperf-trt-precision-flags."
        )
    return flag


def host_bytes(memory: Any) -> bytes:
    """An IHostMemory's bytes (it has the buffer protocol; ``len()`` on it raises)."""
    return bytes(memoryview(memory))


def _add_profile(builder: Any, network: Any, config: Any, shapes: Mapping[str, tuple[Shape, Shape, Shape]],
                 onnx_path: Path) -> None:
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    missing = [n for n in names if n not in shapes]
    if missing:
        raise BuildError(
            f"{onnx_path}: network inputs {missing} are not declared by the model (declared: "
            f"{sorted(shapes)}); declare every ONNX input in inputs=[...]."
        )
    profile = builder.create_optimization_profile()
    for name in names:
        low, opt, high = shapes[name]
        profile.set_shape(name, low, opt, high)
    if config.add_optimization_profile(profile) < 0:
        raise BuildError(f"{onnx_path}: TensorRT rejected the optimization profile {dict(shapes)}")
