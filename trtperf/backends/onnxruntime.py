"""ONNX Runtime backend: the reference, and a real engine on machines without a GPU.

"Build" = ONNX Runtime's graph optimizations (ORT_ENABLE_ALL) applied and the optimized model
saved as the artifact, so later runs load it without optimizing again. Such a file can hold
ops fused for this CPU, hence the CPU model and ORT version in the cache key.

Streams: N streams = N independent sessions, each driven by its own thread, all running
concurrently. Each session gets ``max(1, cores // N)`` intra-op threads so N streams do not
oversubscribe the CPU; the thread count is part of the timing mode stored with the baseline.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trtperf.backends.base import Backend, BuildRequest
from trtperf.device import DeviceInfo, cpu_device
from trtperf.engine import BuiltEngine, Engine, Worker
from trtperf.errors import TrtperfUsageError
from trtperf.isolate import run_isolated
from trtperf.spec import InputSpec
from trtperf.timing.loop import CallableWorker
from trtperf.timing.mode import MeasurementMode

# Checked with onnxruntime 1.32 on the example suites (docs/notes/issue-4.md): the CPU provider runs
# fp16 graphs (nodes without an fp16 kernel get fp32 casts around them) and int8 Q/DQ (fused into
# int8 QLinear kernels by the graph optimizer). fp8 Q/DQ runs unoptimized, but ORT_ENABLE_EXTENDED
# drops a Relu in front of an fp8 QuantizeLinear, so the optimized engine is not faithful to it.
CPU_PRECISIONS = ("fp32", "fp16", "int8")


def intra_op_threads(streams: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, streams))


PRECISE_INT8_GEMM = ("session.x64quantprecision", "1")
"""ONNX Runtime's U8S8 int8 matrix multiplication overflows on x86-64 CPUs without VNNI (SSE4.1, AVX2,
AVX-512 without VNNI: pairs of u8 x s8 products are summed in int16 and saturate); this session option
makes it use exact U8U8 kernels there and changes nothing on CPUs with VNNI (onnxruntime's
onnxruntime_session_options_config_keys.h, ``kOrtSessionOptionsAvx2PrecisionMode``). Found on an AMD EPYC
with AVX2 and no VNNI: every int8 case of the example suites failed the faithful check (cosine 0.87-0.98
against ONNX Runtime's own Q/DQ reference, relative L2 0.23 on the mlp) until it was set (0.005). It must
be set when the graph is optimized: the saved optimized model carries the kernels' operand types."""


def _session(path: Path, threads: int, optimize: bool, save_to: Path | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry(*PRECISE_INT8_GEMM)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    if save_to is not None:
        options.optimized_model_filepath = str(save_to)
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def reference_session(path: Path) -> Any:
    """The trusted reference: the fp32 ONNX with no graph optimization, on the CPU."""
    return _session(path, threads=os.cpu_count() or 1, optimize=False)


def optimize_to_file(source: Path, target: Path) -> None:
    """Apply ORT_ENABLE_ALL to ``source`` and save the optimized model to ``target`` (ORT writes it
    while creating the session). Run in a child process by the build (:mod:`trtperf.isolate`)."""
    _session(source, threads=1, optimize=True, save_to=target)


def optimized_session(path: Path) -> Any:
    """ONNX Runtime on the CPU with every graph optimization (ORT_ENABLE_ALL: fusions, constant folding,
    layout changes; what this backend builds), all cores: its distance from :func:`reference_session`
    is the model's own fp32 arithmetic error (:meth:`trtperf.parity.reference.ReferenceRunner.fp32_own_errors`)."""
    return _session(path, threads=os.cpu_count() or 1, optimize=True)


def reference_to_file(onnx_path: Path, inputs: Sequence[Mapping[str, Any]], batch: int, seed: int,
                      target: Path, dims: Mapping[str, int] | None = None, optimized: bool = False) -> None:
    """The reference session's outputs on the seeded inputs (``dims``: named-axis values), saved as an
    ``.npz`` (no pickles) to ``target``. ``inputs``: the declared :class:`~trtperf.spec.InputSpec` fields
    as dicts (plain data for the pipe). ``optimized``: run :func:`optimized_session` instead (the
    model's fp32 own error is its distance from the reference). Run in a child process
    (:mod:`trtperf.isolate`): the inputs are drawn there."""
    import io

    from trtperf.inputs import make_input_arrays

    specs = [InputSpec(**fields) for fields in inputs]
    try:
        session = optimized_session(onnx_path) if optimized else reference_session(onnx_path)
        outputs = run_session(session, make_input_arrays(specs, batch, seed, dims))
    except Exception as exc:  # ONNX Runtime's own types
        hint = index_range_hint(onnx_path, specs, str(exc))
        if hint:
            raise TrtperfUsageError(hint) from None
        raise
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **outputs)
    target.write_bytes(buffer.getvalue())


_GATHER_OUT_OF_RANGE = re.compile(r"running Gather node\. Name:'(?P<node>[^']*)'.*indices element out of data "
                                  r"bounds, idx=(?P<idx>-?\d+) must be within the inclusive range "
                                  r"\[-?\d+,(?P<last>-?\d+)\]")
"""ONNX Runtime's message for a Gather index beyond its data (checked with 1.32 on an ``nn.Embedding`` export)."""


def index_range_hint(onnx_path: Path, specs: Sequence[InputSpec], error: str) -> str:
    """For ONNX Runtime's "indices element out of data bounds" of a ``Gather`` (an embedding fed ids beyond
    its vocabulary): the message naming the input, its declared ``low``/``high``, the table's size read from
    the graph (a Gather on an initializer, :func:`trtperf.onnx_io.lookup_tables`) and the fix. '' for any other
    error. The declared range is the usual cause: ids are drawn in ``[low, high)``."""
    match = _GATHER_OUT_OF_RANGE.search(error)
    if not match:
        return ""
    import onnx

    from trtperf.onnx_io import lookup_tables

    rows = int(match["last"]) + 1  # ORT's range is [-rows, rows - 1]
    table_text = f"its table has {rows} rows"
    source: str | None = None
    try:
        tables = lookup_tables(onnx.load(str(onnx_path), load_external_data=False))
    except Exception:  # the hint must not hide the error: ORT's own numbers still name the size
        tables = []
    for table in tables:
        if table.node == match["node"]:
            source, rows = table.source, table.rows
            table_text = f"its table {table.table!r} (a Gather on an initializer) has {rows} rows"
    spec = next((s for s in specs if s.name == source), None)
    ort_text = f"ONNX Runtime: {match.group(0)[len('running '):]}"
    if spec is None:  # the indices are computed in the graph, or the node is unknown: name what is known
        integer = [s for s in specs if s.low is not None and np.issubdtype(np.dtype(s.dtype), np.integer)]
        declared = ", ".join(f"{s.name!r} low={s.low:g} high={s.high:g}" for s in integer if s.high is not None)
        return (f"Gather {match['node']!r} got index {match['idx']} but {table_text} (valid 0..{rows - 1}); the "
                f"model's vocabulary size is {rows}. Declared integer inputs: {declared or 'none'}. Fix: declare "
                f"high={rows} on the InputSpec of the input that feeds it (ids are drawn in [low, high)). "
                f"({ort_text})")
    low = "?" if spec.low is None else f"{spec.low:g}"
    high = "?" if spec.high is None else f"{spec.high:g}"
    return (f"input {spec.name!r} holds ids beyond the model's vocabulary: it is declared InputSpec({spec.name!r}, "
            f"dtype={spec.dtype!r}, low={low}, high={high}) (ids drawn in [{low}, {high})), but the Gather "
            f"{match['node']!r} it feeds got index {match['idx']}: {table_text}, so the vocabulary size is {rows} "
            f"(valid ids 0..{rows - 1}). Fix: declare high={rows} in InputSpec({spec.name!r}, ...). ({ort_text})")


def run_session(session: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, dict(inputs))
    return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}


def _named(names: Sequence[str], values: Any) -> dict[str, np.ndarray]:
    """``session.run``'s list of outputs by name."""
    return {name: np.asarray(value) for name, value in zip(names, values, strict=True)}


class OnnxRuntimeEngine(Engine):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._session = _session(path, intra_op_threads(1), optimize=False)

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return run_session(self._session, inputs)

    def make_workers(self, inputs: Mapping[str, np.ndarray], streams: int) -> Sequence[Worker]:
        threads = intra_op_threads(streams)
        workers: list[Worker] = []
        for _ in range(streams):
            session = _session(self.path, threads, optimize=False)
            feeds = {k: np.ascontiguousarray(v) for k, v in inputs.items()}
            names = [o.name for o in session.get_outputs()]
            workers.append(CallableWorker(functools.partial(session.run, names, feeds),
                                          read_outputs=functools.partial(_named, names)))
        return workers

    def timing_mode(self) -> dict[str, Any]:
        # A CPU engine: the host clock times the whole session.run call; no GPU field applies.
        return MeasurementMode.on_cpu().to_json("host", threads_per_stream="cores//streams")


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    install_hint = "pip install onnxruntime"

    def unavailable_reason(self) -> str | None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            return f"onnxruntime is not importable ({exc}); install it: {self.install_hint}"
        return None

    def precision_unsupported(self, precision: str) -> str | None:
        if precision in CPU_PRECISIONS:
            return None
        if precision == "tf32":
            return "tf32 is a GPU math mode; the onnxruntime backend runs on the CPU"
        if precision == "fp8":
            return ("ONNX Runtime 1.32's graph optimizer (ORT_ENABLE_EXTENDED) removes Relu before fp8 QuantizeLinear "
                    "nodes, so its optimized engine is not faithful to the fp8 ONNX (max abs error 0.12 on mlp); "
                    "run fp8 on a GPU with compute capability 8.9 or newer")
        if precision == "bf16":
            return ("ONNX Runtime's CPU provider has no bfloat16 MatMul/Gemm/Conv kernels (NOT_IMPLEMENTED); "
                    "run bf16 on a GPU backend")
        runs = ", ".join(CPU_PRECISIONS)
        return f"precision {precision} is not runnable by the onnxruntime backend (its CPU provider runs {runs})"

    def version(self) -> str:
        import onnxruntime

        return str(onnxruntime.__version__)

    def device(self) -> DeviceInfo:
        return cpu_device()

    def environment(self) -> dict[str, Any]:
        env = super().environment()
        env["providers"] = ["CPUExecutionProvider"]
        return env

    def build(self, request: BuildRequest) -> BuiltEngine:
        device = self.device()
        parts = {
            "onnx": request.onnx_sha256,
            "backend": self.name,
            "version": self.version(),
            "device": device.slug,
            "precision": request.case.precision,
            "optimization": "ORT_ENABLE_ALL",
            # The optimizer picks the int8 kernels' operand types under this option: an engine optimized
            # without it keeps the overflowing U8S8 form whatever the session later says.
            "session_config": dict([PRECISE_INT8_GEMM]),
        }
        started = time.perf_counter()

        def produce(tmp: Path) -> dict[str, Any]:
            # In a child process: a crash in ORT's graph optimizer fails this case, not the session.
            run_isolated(optimize_to_file, request.onnx_path, tmp,
                         what=f"ONNX Runtime graph optimization of {request.case.key}")
            return {"build_s": time.perf_counter() - started}

        entry = request.cache.get_or_create(
            "engine-onnxruntime", parts, produce, suffix=".onnx", describe=f"onnxruntime engine {request.case.key}"
        )
        build_s = float(entry.meta.get("extra", {}).get("build_s", 0.0))
        return BuiltEngine(path=entry.path, cache_key=entry.key, cache_hit=entry.hit, build_s=build_s,
                           info={"optimization": "ORT_ENABLE_ALL", "session_config": dict([PRECISE_INT8_GEMM])})

    def load(self, built: BuiltEngine, request: BuildRequest) -> Engine:
        return OnnxRuntimeEngine(built.path)
