"""Plan -> execution contexts on CUDA streams, timed by the shared CUDA-event worker.

torch is the CUDA binding (streams, events, device and pinned buffers, graph capture), so no
pycuda or cuda-python is needed: TensorRT only wants raw device pointers (``tensor.data_ptr()``)
and a stream handle (``stream.cuda_stream``), and the other GPU backends time with torch's
events already. One engine; per stream one execution context, its own buffers and its own
non-default stream (never one context on two streams).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trtperf.engine import Engine, KeptBindings, OutputProbe, Worker
from trtperf.errors import BuildError
from trtperf.timing.cuda import CudaEventWorker, event_worker
from trtperf.timing.mode import MeasurementMode
from trtperf.trt.api import capture_errors, logger, trt
from trtperf.trt.flavour import Flavour

# trt.DataType name -> torch dtype name. INT4/FP4 pack two values a byte: no torch I/O type.
TORCH_DTYPES = {
    "FLOAT": "float32",
    "HALF": "float16",
    "BF16": "bfloat16",
    "INT8": "int8",
    "UINT8": "uint8",
    "INT32": "int32",
    "INT64": "int64",
    "BOOL": "bool",
    "FP8": "float8_e4m3fn",
}
# Parity compares numpy arrays: types numpy lacks come back as float32.
_NUMPY_LACKS = {"bfloat16", "float8_e4m3fn"}


def torch_dtype_name(trt_dtype: str, tensor: str) -> str:
    try:
        return TORCH_DTYPES[trt_dtype]
    except KeyError:
        raise BuildError(
            f"engine I/O tensor {tensor!r} has type {trt_dtype}, which trtperf cannot feed; keep the model's "
            f"inputs and outputs in one of {', '.join(TORCH_DTYPES)} (e.g. keep_io_types in the precision variant)."
        ) from None


def int8_hint(flavour: Flavour, errors: Sequence[str]) -> str:
    """Why a TensorRT-RTX engine with int8 Q/DQ fails to run, when that is the likely cause."""
    if flavour.kind != "tensorrt_rtx":
        return ""
    text = " ".join(errors).lower()
    # Seen on an H100 (RTX 1.7.1, int8 Q/DQ cnn): "In ixn_conv_cudnn_graph_t `node_Conv_58`: Error constructing
    # instruction: ... Myelin type has not implementation for fallback shapes".
    conv = "conv" in text
    missing = any(m in text for m in ("not implementation", "no implementation", "could not find", "unsupported"))
    if "int8" in text or "quantiz" in text or (conv and missing):
        return ("TensorRT-RTX has no int8 convolution (its int8 is weight-only GEMM), so int8 Q/DQ "
                "convolutions build but cannot run; use fp16/fp8 for this model on TensorRT-RTX, or full TensorRT.")
    return ""


@dataclass
class Binding:
    """One execution context with its stream, buffers and (optionally) a captured CUDA graph."""

    context: Any
    stream: Any
    device_inputs: dict[str, Any]
    device_outputs: dict[str, Any]
    host_inputs: dict[str, Any] = field(default_factory=dict)
    host_outputs: dict[str, Any] = field(default_factory=dict)
    graph: Any = None

    def enqueue(self) -> None:
        """One inference on ``stream``: copies in (e2e mode), execute_async_v3, copies out (e2e mode).

        torch copies go to the current stream: callers run this under ``torch.cuda.stream(stream)``.
        """
        for name, host in self.host_inputs.items():
            self.device_inputs[name].copy_(host, non_blocking=True)
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise RuntimeError("execute_async_v3 returned False (see TensorRT's log above)")
        for name, host in self.host_outputs.items():
            host.copy_(self.device_outputs[name], non_blocking=True)

    def launch(self) -> None:
        if self.graph is not None:
            self.graph.replay()
        else:
            self.enqueue()

    def poison(self) -> None:
        """NaN (zeros for integer types) into every output buffer, in order on ``stream``."""
        import torch

        with torch.cuda.stream(self.stream):
            for tensor in (*self.device_outputs.values(), *self.host_outputs.values()):
                tensor.fill_(float("nan") if tensor.is_floating_point() else 0)

    def outputs(self) -> dict[str, np.ndarray]:
        """The outputs of the last launch (waits for the stream): copies, never views of the buffers the
        next launch writes (host buffers in e2e mode are CPU tensors, which ``.cpu()`` does not copy)."""
        self.stream.synchronize()
        source = self.host_outputs or self.device_outputs
        out = {}
        for name, tensor in source.items():
            value = tensor.detach()
            if str(value.dtype).removeprefix("torch.") in _NUMPY_LACKS:
                value = value.float()
            out[name] = value.cpu().numpy().copy()
        return out

    def load_inputs(self, inputs: Mapping[str, np.ndarray]) -> bool:
        """Copy ``inputs`` into this binding's input buffers in place (addresses, and so a captured graph,
        stay valid); False, copying nothing, when an input's shape differs from the bound one."""
        import torch

        arrays = {name: np.ascontiguousarray(inputs[name]) for name in self.device_inputs}
        if any(tuple(array.shape) != tuple(self.device_inputs[name].shape) for name, array in arrays.items()):
            return False
        with torch.cuda.stream(self.stream):
            for name, array in arrays.items():
                source = torch.from_numpy(array).to(self.device_inputs[name].dtype)
                self.device_inputs[name].copy_(source)
                if name in self.host_inputs:
                    self.host_inputs[name].copy_(source)
        self.stream.synchronize()
        return True


@dataclass(frozen=True)
class RuntimeCacheFile:
    """Where one engine's TensorRT-RTX runtime cache (the kernels it JIT-compiles for one GPU) is kept
    between sessions: ``load`` gives the stored blob or None, ``store`` replaces it (both from the
    artifact cache, signed; :meth:`trtperf.cache.ArtifactCache.read_signed_sidecar`)."""

    load: Callable[[], bytes | None]
    store: Callable[[bytes], None]


class SharedRuntimeCache:
    """One TensorRT-RTX ``IRuntimeCache`` shared by every execution context of one engine, filled from
    a :class:`RuntimeCacheFile` when the first context is made and stored back when it grew.

    NVIDIA's pattern (TensorRT-Edge-LLM's RtxRuntimeCache): one cache, attached to each context's
    ``IRuntimeConfig``, outliving the contexts; serialized after them.
    """

    def __init__(self, file: RuntimeCacheFile) -> None:
        self.file = file
        self.cache: Any = None
        self.stored = b""
        self.status = "unused"
        """``unused`` (no context yet), ``empty`` (nothing stored), ``loaded``, ``rejected`` (RTX refused
        the stored blob, e.g. from another driver: compiled afresh, then replaced), ``unavailable``
        (this flavour has no runtime cache API, or refused to attach it)."""

    def attach(self, config: Any) -> None:
        """Give the ``IRuntimeConfig`` ``config`` the shared cache (made on the first call)."""
        if self.status == "unavailable":
            return
        # The runtime cache API is TensorRT-RTX's alone (reference/tensorrt-api.md): feature-tested.
        create = getattr(config, "create_runtime_cache", None)
        attach = getattr(config, "set_runtime_cache", None)
        if self.cache is None:
            cache = create() if create is not None and attach is not None else None
            deserialize = getattr(cache, "deserialize", None)
            if cache is None or deserialize is None:
                self.status = "unavailable"
                return
            blob = self.file.load()
            self.status = "empty"
            if blob:
                # deserialize() checks the blob against this GPU, driver and RTX release itself.
                try:
                    accepted = bool(deserialize(blob))
                except Exception:  # a blob from another release that the check itself chokes on
                    accepted = False
                if accepted:
                    self.status, self.stored = "loaded", blob
                else:
                    self.status = "rejected"
            self.cache = cache
        if attach is None or not attach(self.cache):
            self.status = "unavailable"

    def store(self) -> None:
        """Store the cache when it differs from what was loaded; failing to store costs only compile time."""
        if self.cache is None or self.status == "unavailable":
            return
        try:  # after the case was judged: nothing here may change its verdict
            blob = bytes(memoryview(self.cache.serialize()))
            if blob and blob != self.stored:
                self.file.store(blob)
                self.stored = blob
        except Exception:
            pass


class TrtEngine(Engine):
    """A deserialized engine; ``infer`` and the timed workers share one launch path."""

    def __init__(
        self,
        flavour: Flavour,
        plan: bytes,
        *,
        mode: MeasurementMode,
        allow_host_code: bool = False,
        what: str = "engine",
        kernel_specialization: str = "eager",
        fresh_contexts: bool = False,
        runtime_cache: RuntimeCacheFile | None = None,
    ) -> None:
        """``kernel_specialization`` (TensorRT-RTX only; ``eager``, ``lazy`` or ``none``): when its
        execution contexts compile shape-specialized kernels (``IRuntimeConfig.
        dynamic_shapes_kernel_specialization_strategy``). ``fresh_contexts``: every ``make_workers``
        creates new execution contexts (and graphs); by default they are kept for the next call with
        the same inputs (the first inference's included), so the runs of a case pay TensorRT-RTX's
        context creation and kernel compilation once. ``runtime_cache`` (TensorRT-RTX only): one
        ``IRuntimeCache`` is shared by all of this engine's contexts, filled from the stored blob and
        stored back by :meth:`close` when it grew, so a later session loads the kernels instead of
        compiling them (a blob RTX rejects, e.g. from another driver, is replaced)."""
        import torch

        self._torch = torch
        self.flavour = flavour
        self.mode = mode
        self.transfers = mode.transfers
        self.what = what
        self.notes: list[str] = []
        self.kernel_specialization = kernel_specialization if flavour.kind == "tensorrt_rtx" else None
        self.graph_captured: bool | None = None
        """Whether the last binding's launches are graph replays (``cuda_graph`` auto decides per case)."""
        with capture_errors() as captured:
            self.runtime = trt.Runtime(logger())
            # Plans are executable artifacts: host code (lean runtimes, plugins) only when asked.
            self.runtime.engine_host_code_allowed = allow_host_code
            engine = self.runtime.deserialize_cuda_engine(plan)
        if engine is None:
            detail = captured.detail()
            raise BuildError(
                f"{what}: {flavour.label} {flavour.version} could not deserialize the engine:\n{detail}\n"
                f"The plan may come from another TensorRT version or GPU; delete its cache entry to rebuild, "
                f"or pass --trtperf-trt-allow-host-code if it is a trusted version-compatible plan."
            )
        self.engine = engine
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.dtypes: dict[str, str] = {}
        for index in range(engine.num_io_tensors):
            name = engine.get_tensor_name(index)
            is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(name)
            self.dtypes[name] = torch_dtype_name(engine.get_tensor_dtype(name).name, name)
        self._timed_inputs: Mapping[str, np.ndarray] | None = None
        self._bindings: KeptBindings[Binding] = KeptBindings(fresh_contexts, self.release)
        """Bindings of finished inferences and runs, kept for the next of the same input shapes
        (``fresh_contexts`` off); each is loaded with the inputs of its next use."""
        self.runtime_cache = (SharedRuntimeCache(runtime_cache)
                              if runtime_cache is not None and self.kernel_specialization is not None else None)

    # -- bindings ---------------------------------------------------------------------------
    def bind(self, inputs: Mapping[str, np.ndarray], stream: Any) -> Binding:
        """A new execution context on ``stream`` with its own buffers, ready to launch."""
        torch = self._torch
        missing = [n for n in self.inputs if n not in inputs]
        if missing:
            raise BuildError(f"{self.what}: no data for engine inputs {missing}")
        with capture_errors() as captured:
            context = self._create_context()
        if context is None:
            detail = captured.detail()
            hint = int8_hint(self.flavour, captured.errors) or (
                "The engine built but cannot run on this GPU with this TensorRT; see the messages above.")
            raise BuildError(f"{self.what}: could not create an execution context:\n{detail}\n{hint}")
        device = torch.device("cuda", torch.cuda.current_device())
        device_inputs, host_inputs = {}, {}
        for name in self.inputs:
            array = np.ascontiguousarray(inputs[name])
            if not context.set_input_shape(name, tuple(array.shape)):
                raise BuildError(
                    f"{self.what}: input {name!r} shape {tuple(array.shape)} is outside the engine's profile "
                    f"{[dims(s) for s in self.engine.get_tensor_profile_shape(name, 0)]}"
                )
            source = torch.from_numpy(array).to(getattr(torch, self.dtypes[name]))
            device_inputs[name] = source.to(device)
            if self.transfers:
                host_inputs[name] = source.pin_memory()
        unresolved = context.infer_shapes()
        if unresolved:
            raise BuildError(f"{self.what}: TensorRT could not infer shapes for {list(unresolved)}")
        device_outputs, host_outputs = {}, {}
        for name in self.outputs:
            shape = dims(context.get_tensor_shape(name))
            dtype = getattr(torch, self.dtypes[name])
            device_outputs[name] = torch.empty(shape, dtype=dtype, device=device)
            if self.transfers:
                host_outputs[name] = torch.empty(shape, dtype=dtype, pin_memory=True)
        for name, tensor in {**device_inputs, **device_outputs}.items():
            if not context.set_tensor_address(name, tensor.data_ptr()):
                raise BuildError(f"{self.what}: TensorRT refused the address of tensor {name!r}")
        binding = Binding(context, stream, device_inputs, device_outputs, host_inputs, host_outputs)
        with torch.cuda.stream(stream):
            # The first enqueue after setting shapes may allocate; it must not be inside a capture.
            binding.enqueue()
        stream.synchronize()
        if self.mode.wants_graph:
            binding.graph = self._capture(binding)
        self.graph_captured = binding.graph is not None
        return binding

    def _create_context(self) -> Any:
        """An execution context; on TensorRT-RTX with the kernel-specialization strategy asked for.

        RTX's default (LAZY) runs fallback kernels first and swaps in shape-specialized ones compiled
        in the background, so early and late samples would time different kernels, and parity of the
        first inference would check other kernels than the timed ones. EAGER compiles them at the
        first inference, which :meth:`bind` runs before capture and timing.
        """
        if self.kernel_specialization is None:
            return self.engine.create_execution_context()
        strategies = getattr(trt, "DynamicShapesKernelSpecializationStrategy", None)  # RTX only
        if strategies is None:
            return self.engine.create_execution_context()
        config = self.engine.create_runtime_config()
        setattr(config, "dynamic_shapes_kernel_specialization_strategy",  # noqa: B010 - RTX-only name
                getattr(strategies, self.kernel_specialization.upper()))
        if self.runtime_cache is not None:
            self.runtime_cache.attach(config)
        return self.engine.create_execution_context(config)

    def _capture(self, binding: Binding) -> Any:
        """The captured graph, or None when ``cuda_graph`` is ``auto`` and capture failed (noted)."""
        torch = self._torch
        # TensorRT-RTX's is_stream_capturable() says False unless the engine was built with
        # REQUIRE_USER_ALLOCATION (which then needs USER_MANAGED context memory), yet capture works
        # (H100; H200: replays matched plain launches at b32, bench/trt_graph_probe.py). Parity checks
        # the replayed graph after every timed run (parity/timed_path.py), so a capture that recorded
        # the wrong work, or an engine whose results change between launches, fails the case.
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=binding.stream, capture_error_mode="thread_local"):
                binding.enqueue()
        except RuntimeError as exc:
            why = (f"capturing execute_async_v3 in a CUDA graph failed ({str(exc).splitlines()[0][:200]}); the "
                   f"engine may allocate at run time (data-dependent shapes, loops)")
            if self.mode.cuda_graph == "auto":
                note = f"CUDA graph not used: {why}; timed as stream launches"
                if note not in self.notes:
                    self.notes.append(note)
                binding.stream.synchronize()
                return None
            raise BuildError(f"{self.what}: {why}. Run with --trtperf-cuda-graph auto or off.") from exc
        return graph

    def release(self, binding: Binding) -> None:
        binding.stream.synchronize()
        binding.graph = None
        binding.context = None

    # -- Engine interface -------------------------------------------------------------------
    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One inference through the same launch as timing (graph replay when cuda_graph is on)."""
        torch = self._torch
        binding = self._binding_for(inputs)
        try:
            # bind() already ran one inference into these buffers: poison them, so the outputs
            # compared are the launch's own (an empty CUDA graph would otherwise pass parity).
            binding.poison()
            with torch.cuda.stream(binding.stream):
                binding.launch()
            return binding.outputs()
        finally:  # kept, its context and graph serve the first timed run (make_workers)
            self._bindings.give_back(binding)

    def make_workers(self, inputs: Mapping[str, np.ndarray], streams: int) -> Sequence[Worker]:
        """``streams`` workers, each on its own binding (context, stream, buffers, graph).

        Bindings of earlier inferences and runs of the same input shapes are reused, loaded with
        ``inputs``, unless ``fresh_contexts``; a closed worker hands its binding back for the next run.
        """
        self._timed_inputs = inputs
        workers: list[Worker] = []
        for _ in range(streams):
            binding = self._binding_for(inputs)
            workers.append(event_worker(binding.launch, binding.stream, self.mode, self._bindings.closer(binding),
                                        OutputProbe(poison=binding.poison, read=binding.outputs)))
        return workers

    def _binding_for(self, inputs: Mapping[str, np.ndarray]) -> Binding:
        """A kept binding loaded with ``inputs`` (the same shapes; not with ``fresh_contexts``), else a new one.
        Loading copies the current values, so a caller that changes its arrays, or passes new ones in the same
        dict, never gets the outputs of the inputs bound before."""
        torch: Any = self._torch
        return self._bindings.take(lambda kept: kept.load_inputs(inputs),
                                   lambda: self.bind(inputs, torch.cuda.Stream()))

    def measurements(self) -> dict[str, Any]:
        """Host latency (enqueue to completion) of the timed launch, probed after the timed runs; and
        on TensorRT-RTX what its runtime cache did (:attr:`SharedRuntimeCache.status`)."""
        if self._timed_inputs is None:
            return {}
        found = self.probe_host_latency(self._timed_inputs)
        if self.kernel_specialization is not None:
            found["runtime_cache"] = self.runtime_cache.status if self.runtime_cache is not None else "off"
        return found

    def timing_mode(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"contexts": "one per stream"}
        if self.kernel_specialization is not None:
            extra["kernel_specialization"] = self.kernel_specialization
        return self.mode.to_json("cuda_event", self.graph_captured, **extra)

    def probe_host_latency(self, inputs: Mapping[str, np.ndarray], iterations: int = 50) -> dict[str, Any]:
        """Host latency from enqueue to completion (one synchronize per inference), on one stream.

        Kept apart from the timed samples, which keep the stream fed without per-inference syncs.
        """
        binding = self._binding_for(inputs)  # a timed run's binding: no new context
        worker = CudaEventWorker(binding.launch, binding.stream, host_latency=True)
        try:
            worker.run(5)
            worker.host_samples.clear()
            gpu = worker.run(iterations)
            host = list(worker.host_samples)
        finally:
            worker.close()
            self._bindings.give_back(binding)
        host_ms = sorted(v * 1e3 for v in host)
        return {
            "host_latency_ms": {"median": statistics.median(host_ms), "p99": host_ms[int(0.99 * (len(host_ms) - 1))],
                                "iterations": len(host_ms)},
            "gpu_ms_same_inferences": statistics.median(v * 1e3 for v in gpu),
        }

    def close(self) -> None:
        # Kept contexts go now; the engine and runtime go with this object.
        self._bindings.close()
        if self.runtime_cache is not None:
            self.runtime_cache.store()
        self._timed_inputs = None


def dims(value: Any) -> tuple[int, ...]:
    """A trt.Dims as a tuple (it is a sequence at run time; the stubs do not say so)."""
    return tuple(int(d) for d in value)
