"""PyTorch backends: ``torch`` (eager) and ``torch_compile`` (torch.compile with inductor).

They answer "how much faster than PyTorch?" next to TensorRT, and are a real GPU engine where
TensorRT is absent. Both run the model declaration's module itself (not the ONNX export).

Precision, torch side: fp32 (TF32 off for matmul and cuDNN), tf32 (TF32 on), fp16 and bf16
(module and floating inputs cast with ``.to(dtype)``; outputs compared as fp32). The TF32 flags
are process-wide in torch, so an engine sets them when loaded and restores them when closed:
one case at a time per process, as the pipeline runs them. int8/fp8 need a quantization recipe
torch does not apply here: those cases skip (the tensorrt backend runs them).

Devices: a CUDA GPU when torch sees one (the xdist worker's GPU, see ``trtperf.timing.gpu``), else the
CPU. On the CPU only ``torch`` (eager) fp32 runs: tf32 is a GPU math mode and half precision on
the CPU is not what anyone deploys; ``torch_compile`` skips, because inductor's C++ compile took
16 s per case for the small MLP on a 2-core CI machine (about 3 s with a warm cache), too slow
for the CPU suite.

Timing (GPU): one ``CudaEventWorker`` per stream (the loop shared with tensorrt), each with its
own CUDA stream, device input copies and, for ``cuda_graph``, its own captured graph (a
:class:`GpuBinding`, kept across the runs of a case like TensorRT's execution contexts, unless
``fresh_contexts``); the shared timing loop drives them from one thread each, so N streams run
concurrently. Parameters never require grad, so every thread runs the same (inference) graph
without a no_grad context that would be thread-local and would make dynamo recompile in the
timing threads.

Compiled artifacts: ``torch.compile`` has no portable single-file artifact that worked here
(``torch._inductor.aoti_compile_and_package`` died with a segmentation fault on the H100 with
torch 2.11), so the artifact is inductor's own on-disk cache (FX graph cache, AOTAutograd cache,
Triton kernels): ``TORCHINDUCTOR_CACHE_DIR`` points into the trtperf cache, one directory per
torch version and device kind, and a manifest entry keyed like every engine (model source and
weights digests, torch version, device, precision, batch, compile mode) records the first
compile. A later process recompiles from that warm cache in seconds instead of tens of seconds.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trtperf.backends.base import Backend, BuildRequest
from trtperf.device import DeviceInfo, cpu_device, slugify
from trtperf.engine import BuiltEngine, Engine, KeptBindings, OutputProbe, Worker
from trtperf.errors import BuildError
from trtperf.precisions import TABLE, precisions_where
from trtperf.text import plural
from trtperf.timing.loop import CallableWorker
from trtperf.timing.mode import MeasurementMode

if TYPE_CHECKING:
    import torch

TORCH_PRECISIONS = precisions_where("torch")
CPU_PRECISIONS = ("fp32",)
COMPILE_MODE = "default"
"""torch.compile mode. 'max-autotune-no-cudagraphs' took 31.5 s for the small CNN on the H100;
'default' compiles in seconds. CUDA graphs come from trtperf's own ``cuda_graph`` option."""
MEMO_SIZE = 8
"""Compiled modules kept in this process (LRU), so ``load`` after ``build`` does not recompile."""


def _torch_dtype(precision: str) -> torch.dtype:
    import torch

    dtype: torch.dtype = getattr(torch, TABLE[precision].torch_dtype or "")
    return dtype


@contextmanager
def math_mode(precision: str) -> Iterator[None]:
    """TF32 for matmul and cuDNN on for ``tf32``, off otherwise; the previous flags restored after."""
    import torch

    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32)
    matmul.allow_tf32 = cudnn.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def prepare_module(module: torch.nn.Module, precision: str, device: torch.device) -> torch.nn.Module:
    """Inference-ready: no parameter requires grad, cast to the precision's dtype, on ``device``."""
    module.requires_grad_(False)
    return module.to(device=device, dtype=_torch_dtype(precision)).eval()


def to_tensors(
    arrays: Mapping[str, np.ndarray], names: Sequence[str], precision: str, device: torch.device
) -> list[torch.Tensor]:
    """Inputs in declaration order; floating ones cast to the precision's dtype, others as they are."""
    import torch

    dtype = _torch_dtype(precision)
    tensors = []
    for name in names:
        tensor = torch.from_numpy(np.ascontiguousarray(arrays[name]))
        if tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors.append(tensor.to(device))
    return tensors


def outputs_to_numpy(result: Any, names: Sequence[str], where: str) -> dict[str, np.ndarray]:
    """Map the module's return value (tensor, tuple/list or dict) to the declared output names."""
    import torch

    if isinstance(result, torch.Tensor):
        values: list[Any] = [result]
    elif isinstance(result, Mapping):
        values = [result[n] for n in names]
    else:
        values = list(result)
    if len(values) != len(names):
        raise BuildError(f"{where}: forward() returned {plural(len(values), 'output')}, the declaration "
                         f"names {len(names)} ({list(names)}); make outputs= match what forward() returns.")
    out = {}
    for name, value in zip(names, values, strict=True):
        tensor = value.detach()
        array = (tensor.float() if tensor.is_floating_point() else tensor).cpu().numpy()
        # A CPU tensor's .numpy() is a view: of a pinned buffer the next launch overwrites (e2e mode).
        out[name] = array.copy() if tensor.device.type == "cpu" else array
    return out


def inductor_cache_dir(cache_root: Path, torch_version: str, device_slug: str) -> Path:
    """Inductor's cache for one torch version and device kind, inside the trtperf cache.

    Inductor keys its own entries by graph, inputs, torch version and device, so models share
    the directory safely; splitting by version and device keeps stale entries easy to delete.
    """
    return cache_root / "torch-inductor" / f"{slugify(torch_version)}-{device_slug}"


def engine_key_parts(
    *,
    model: str,
    source_digest: str,
    weights_digest: str,
    backend: str,
    torch_version: str,
    device: DeviceInfo,
    precision: str,
    batch: int | None,
    compile_mode: str | None,
    compiler: str | None,
    dims: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Everything that changes a torch engine. ``batch`` and the named axes' values ``dims`` only for
    compiled modules (shape-specialized)."""
    return {
        **({"dims": dict(sorted(dims.items()))} if dims else {}),
        "model": model,
        "source": source_digest,
        "weights": weights_digest,
        "backend": backend,
        "torch": torch_version,
        "device": device.slug,
        "compute_capability": device.facts.get("compute_capability"),
        "precision": precision,
        "batch": batch,
        "compile_mode": compile_mode,
        "compiler": compiler,
    }


CONCURRENT_GRAPHS = (
    "several streams of one torch module replaying CUDA graphs at once gave wrong outputs and illegal memory "
    "accesses on an H200 (torch 2.11, cnn and transformer at 2 streams; cause not established, see "
    "docs/VERIFICATION.md), so torch cases with more than one stream are not captured")


def _tensors(value: Any) -> list[Any]:
    """The tensors of a module's result (a tensor, or a sequence of them); [] for None."""
    import torch

    if value is None:
        return []
    if isinstance(value, torch.Tensor):
        return [value]
    items = value.values() if isinstance(value, Mapping) else value
    return [v for v in items if isinstance(v, torch.Tensor)]


def _bind(module: Callable[..., Any], tensors: Sequence[Any]) -> Callable[[], object]:
    return lambda: module(*tensors)


def _nothing() -> None:
    return None


def _cpu() -> torch.device:
    import torch

    return torch.device("cpu")


@dataclass
class GpuBinding:
    """One GPU worker's state, kept across the runs of a case: its stream, the device copies of the inputs
    (and pinned host copies in e2e mode), the captured CUDA graph (None: plain launches), and ``launch``,
    the call timing makes. The graph replays the captured addresses, so inputs are reloaded in place."""

    stream: Any
    device_inputs: list[Any]
    wants_graph: bool
    output_names: Sequence[str]
    what: str
    transfers: bool = False
    """e2e mode: the launch copies pinned host inputs in and the outputs out."""
    host_inputs: list[Any] = field(default_factory=list)
    host_outputs: list[Any] = field(default_factory=list)
    graph: Any = None
    launch: Callable[[], None] = _nothing
    held: dict[str, Any] = field(default_factory=dict)
    """The latest outputs (and, with a graph, its captured memory) kept alive."""

    def load_inputs(self, tensors: Sequence[Any]) -> bool:
        """Copy ``tensors`` (CPU, declaration order, already cast) into the input buffers in place; False,
        copying nothing, when a shape or dtype differs from the bound one."""
        import torch

        if len(tensors) != len(self.device_inputs) or any(
                t.shape != d.shape or t.dtype != d.dtype for t, d in zip(tensors, self.device_inputs, strict=True)):
            return False
        with torch.cuda.stream(self.stream):
            for source, device, host in zip(tensors, self.device_inputs,
                                            self.host_inputs or [None] * len(tensors), strict=True):
                device.copy_(source)
                if host is not None:
                    host.copy_(source)
        self.stream.synchronize()
        return True

    def poison(self) -> None:
        """NaN (zeros for integer types) into the outputs the next launch must rewrite (a graph replays into
        the captured output tensors)."""
        import torch

        latest = self.host_outputs if self.transfers else self.held.get("out")
        with torch.cuda.stream(self.stream):
            for tensor in _tensors(latest):
                tensor.fill_(float("nan") if tensor.is_floating_point() else 0)

    def read(self) -> dict[str, np.ndarray]:
        """The outputs of the last launch, as copies (waits for the stream)."""
        self.stream.synchronize()
        latest = list(self.host_outputs) if self.transfers else self.held["out"]
        return outputs_to_numpy(latest, self.output_names, self.what)

    def release(self) -> None:
        self.stream.synchronize()
        self.graph = None
        self.launch = _nothing  # it may be the graph's replay, which would keep the graph and its memory
        self.held.clear()


class TorchEngine(Engine):
    """A module (eager or compiled) on one device, at one precision."""

    def __init__(
        self,
        module: Callable[..., Any],
        *,
        input_names: Sequence[str],
        output_names: Sequence[str],
        precision: str,
        device: torch.device,
        mode: MeasurementMode,
        label: str,
        what: str,
        fresh_contexts: bool = False,
    ) -> None:
        """``fresh_contexts`` (GPU): every ``make_workers`` makes new streams, input copies and CUDA graphs;
        by default they are kept for the next run with the same input shapes."""
        self.module = module
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.precision = precision
        self.device = device
        self.on_gpu = device.type == "cuda"
        # The CPU times the whole call with the host clock: none of the GPU fields apply there.
        self.mode = mode if self.on_gpu else MeasurementMode.on_cpu()
        self.notes: list[str] = []
        self.graph_captured: bool | None = None
        self.label = label
        self.what = what
        self._bindings: KeptBindings[GpuBinding] = KeptBindings(fresh_contexts, lambda binding: binding.release())
        """Bindings of finished runs, kept for the next run of the same input shapes (``fresh_contexts`` off)."""
        self._math = math_mode(precision)
        self._math.__enter__()  # process-wide flags: set for this engine's lifetime (see close)

    def infer(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        tensors = to_tensors(inputs, self.input_names, self.precision, self.device)
        result = self.module(*tensors)
        return outputs_to_numpy(result, self.output_names, self.what)

    def make_workers(self, inputs: Mapping[str, np.ndarray], streams: int) -> Sequence[Worker]:
        """``streams`` workers. On a GPU each has its own :class:`GpuBinding` (stream, input copies, graph);
        bindings of earlier runs with the same input shapes are reused, loaded with ``inputs``, unless
        ``fresh_contexts``, so a case captures its CUDA graph once, not once per run."""
        if not self.on_gpu:
            workers: list[Worker] = []
            for _ in range(streams):
                tensors = to_tensors(inputs, self.input_names, self.precision, self.device)
                workers.append(CallableWorker(_bind(self.module, tensors), read_outputs=self._numpy_outputs))
            return workers
        graph = True
        if streams > 1 and self.mode.wants_graph:
            if self.mode.cuda_graph == "on":
                raise BuildError(f"{self.what}: {CONCURRENT_GRAPHS}; run it with --trtperf-cuda-graph auto or off, "
                                 f"or with one stream.")
            note = f"CUDA graph not used: {CONCURRENT_GRAPHS}; timed as stream launches"
            if note not in self.notes:
                self.notes.append(note)
            graph = False
        bindings = [self._binding_for(inputs, graph) for _ in range(streams)]
        self.graph_captured = all(b.graph is not None for b in bindings)
        return [self._worker(b) for b in bindings]

    def _numpy_outputs(self, result: object) -> dict[str, np.ndarray]:
        return outputs_to_numpy(result, self.output_names, self.what)

    def _binding_for(self, inputs: Mapping[str, np.ndarray], graph: bool) -> GpuBinding:
        """A kept binding loaded with ``inputs`` (same shapes and graph wish), else a new one."""
        return self._bindings.take(
            lambda kept: kept.wants_graph == graph and kept.load_inputs(
                to_tensors(inputs, self.input_names, self.precision, _cpu())),
            lambda: self._bind(inputs, graph))

    def _worker(self, binding: GpuBinding) -> Worker:
        from trtperf.timing.cuda import event_worker

        return event_worker(binding.launch, binding.stream, self.mode, self._bindings.closer(binding),
                            OutputProbe(poison=binding.poison, read=binding.read))

    def _bind(self, inputs: Mapping[str, np.ndarray], graph: bool) -> GpuBinding:
        """A new stream with device copies of ``inputs`` and the launch that timing calls: a replay of the
        module captured in a CUDA graph when wanted and capturable (``graph``), else the module's call."""
        import torch

        from trtperf.timing.cuda import capture_cuda_graph

        stream = torch.cuda.Stream(self.device)  # type: ignore[no-untyped-call]
        module = self.module
        with torch.cuda.device(self.device), torch.cuda.stream(stream):
            device_inputs = to_tensors(inputs, self.input_names, self.precision, self.device)
        stream.synchronize()
        binding = GpuBinding(stream=stream, device_inputs=device_inputs, wants_graph=graph,
                             output_names=self.output_names, what=self.what, transfers=self.mode.transfers)
        held = binding.held
        host_outputs = binding.host_outputs
        if self.mode.transfers:
            binding.host_inputs = [t.cpu().pin_memory() for t in device_inputs]
            host_inputs = binding.host_inputs

            def launch() -> None:
                for dst, src in zip(device_inputs, host_inputs, strict=True):
                    dst.copy_(src, non_blocking=True)
                result = module(*device_inputs)
                outs = [result] if isinstance(result, torch.Tensor) else list(result)
                if not host_outputs:  # first call: pinned host buffers of the output shapes
                    host_outputs.extend(torch.empty(o.shape, dtype=o.dtype, pin_memory=True) for o in outs)
                for dst, src in zip(host_outputs, outs, strict=True):
                    dst.copy_(src, non_blocking=True)
                held["out"] = outs
        else:
            def launch() -> None:
                held["out"] = module(*device_inputs)

        binding.launch = launch
        if self.mode.wants_graph and graph:
            try:
                binding.graph = capture_cuda_graph(launch, stream)
            except RuntimeError as exc:
                why = (f"capturing the module in a CUDA graph failed ({str(exc).splitlines()[0][:200]}); it may "
                       f"synchronize or copy from the host during capture")
                if self.mode.cuda_graph == "on":
                    raise BuildError(f"{self.what}: {why}. Run with --trtperf-cuda-graph auto or off.") from exc
                note = f"CUDA graph not used: {why}; timed as stream launches"
                if note not in self.notes:
                    self.notes.append(note)
                torch.cuda.synchronize(self.device)
        if binding.graph is not None:
            binding.launch = binding.graph.replay
        else:
            with torch.cuda.device(self.device), torch.cuda.stream(stream):
                launch()  # first call outside the timing: lazy cuBLAS/cuDNN setup, pinned buffers
            stream.synchronize()
        return binding

    def timing_mode(self) -> dict[str, Any]:
        if not self.on_gpu:
            import torch

            return self.mode.to_json("host", device="cpu", torch=self.label, intra_op_threads=torch.get_num_threads())
        return self.mode.to_json("cuda_event", self.graph_captured, torch=self.label)

    def close(self) -> None:
        self._bindings.close()
        self._math.__exit__(None, None, None)


class TorchBackend(Backend):
    """``torch``: the module run eagerly."""

    name = "torch"
    runs_onnx_models = False
    install_hint = "pip install torch (a CUDA build for GPU timing: https://pytorch.org/get-started/locally/)"
    compile = False

    def __init__(self) -> None:
        self._device: DeviceInfo | None = None

    # -- where and what it can run -----------------------------------------------------------
    def _torch(self) -> Any:
        import torch

        return torch

    def on_gpu(self) -> bool:
        return bool(self._torch().cuda.is_available())

    def unavailable_reason(self) -> str | None:
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            return f"torch is not importable ({exc}); install it: {self.install_hint}"
        return None

    def precision_unsupported(self, precision: str) -> str | None:
        if precision not in TORCH_PRECISIONS:
            return (f"the {self.name} backend runs {', '.join(TORCH_PRECISIONS)}; {precision} needs a "
                    f"quantization recipe that torch does not apply here (the tensorrt backend runs it)")
        if self.on_gpu():
            if precision == "bf16" and not self._torch().cuda.is_bf16_supported():
                return "this GPU has no bf16 support (compute capability 8.0 or newer needed)"
            return None
        if precision == "tf32":
            return "tf32 is a GPU math mode; no CUDA GPU is visible to torch here, so the torch backend runs on the CPU"
        if precision not in CPU_PRECISIONS:
            return (f"{precision} on the CPU is not a deployment target (torch's CPU half-precision kernels are "
                    f"slow reference paths); no CUDA GPU is visible to torch here")
        return None

    def version(self) -> str:
        return str(self._torch().__version__)

    def torch_device(self) -> torch.device:
        import torch

        if not self.on_gpu():
            return torch.device("cpu")
        from trtperf.timing.gpu import env_gpu_index

        return torch.device("cuda", env_gpu_index())

    def device(self) -> DeviceInfo:
        if self._device is None:
            if self.on_gpu():
                from trtperf.timing.gpu import gpu_device

                index = self.torch_device().index
                self._device = gpu_device(0 if index is None else index)
            else:
                self._device = cpu_device()
        return self._device

    def environment(self) -> dict[str, Any]:
        torch = self._torch()
        env = super().environment()
        env["torch_mode"] = self.mode_label()
        if self.on_gpu():
            env["cuda_runtime"] = str(torch.version.cuda)
            env["cudnn"] = torch.backends.cudnn.version()
            env["driver"] = self.device().facts.get("driver")
        return env

    def mode_label(self) -> str:
        return "eager"

    # -- build and load ----------------------------------------------------------------------
    def _key_parts(self, request: BuildRequest, module: torch.nn.Module) -> dict[str, Any]:
        from trtperf.code_digest import weights_digest

        return engine_key_parts(
            model=request.spec.name,
            source_digest=request.spec.source_digest(module),
            weights_digest=weights_digest(module),
            backend=self.name,
            torch_version=self.version(),
            device=self.device(),
            precision=request.case.precision,
            batch=request.case.batch if self.compile else None,
            compile_mode=self.compile_mode() if self.compile else None,
            compiler=self.compiler_name() if self.compile else None,
            dims=request.case.dim_values if self.compile else None,
        )

    def compile_mode(self) -> str:
        return COMPILE_MODE

    def compiler_name(self) -> str:
        return "inductor"

    def build(self, request: BuildRequest) -> BuiltEngine:
        """Eager: nothing to compile; the manifest records what runs (model and weights digests)."""
        parts = self._key_parts(request, request.spec.key_module())

        def produce(tmp: Path) -> dict[str, Any]:
            tmp.write_text(json.dumps({"mode": "eager", **parts}, sort_keys=True, indent=2) + "\n")
            return {}

        entry = request.cache.get_or_create(
            f"engine-{self.name}", parts, produce, suffix=".json", describe=f"{self.name} engine {request.case.key}"
        )
        return BuiltEngine(path=entry.path, cache_key=entry.key, cache_hit=entry.hit, build_s=0.0,
                           info={"torch_mode": "eager", "artifact": "manifest only: eager runs the declared module"})

    def _engine(self, module: Callable[..., Any], request: BuildRequest) -> TorchEngine:
        settings = request.settings
        return TorchEngine(
            module,
            input_names=[i.name for i in request.spec.inputs],
            output_names=list(request.spec.outputs),
            precision=request.case.precision,
            device=self.torch_device(),
            mode=settings.measurement,
            label=self.mode_label(),
            what=f"{request.case.key}",
            fresh_contexts=settings.fresh_contexts,
        )

    def _check_current(self, built: BuiltEngine, request: BuildRequest, module: torch.nn.Module) -> None:
        """A torch engine is the declared module as the code and weights are now; a manifest of
        another key (e.g. a baseline's engine, for a paired A/B) cannot be turned back into it."""
        from trtperf.cache import cache_key

        current = cache_key(f"engine-{self.name}", self._key_parts(request, module))
        if built.cache_key != current:
            raise BuildError(
                f"{request.case.key}: the {self.name} engine {built.cache_key[:12]} is not the current module "
                f"({current[:12]}); torch engines are rebuilt from the model's code and weights, so an older "
                f"one cannot be loaded (a paired A/B against it is not possible for torch backends)."
            )

    def load(self, built: BuiltEngine, request: BuildRequest) -> Engine:
        self._check_current(built, request, request.spec.key_module())
        module = request.spec.build_module()
        return self._engine(prepare_module(module, request.case.precision, self.torch_device()), request)


class TorchCompileBackend(TorchBackend):
    """``torch_compile``: ``torch.compile(mode="default", dynamic=False)`` with inductor, on a GPU.

    ``compiler`` and ``allow_cpu`` exist for tests: ``TorchCompileBackend("eager", allow_cpu=True)``
    is a test double that exercises dynamo, the cache manifest and the in-process memo on a CPU
    without inductor's compile time.
    """

    name = "torch_compile"
    compile = True

    def __init__(self, compiler: str = "inductor", allow_cpu: bool = False) -> None:
        super().__init__()
        self._compiler = compiler
        self._allow_cpu = allow_cpu
        self._memo: OrderedDict[str, Callable[..., Any]] = OrderedDict()

    def compiler_name(self) -> str:
        return self._compiler

    def mode_label(self) -> str:
        return f"compile:{COMPILE_MODE}" if self._compiler == "inductor" else f"compile:{self._compiler}"

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason is None and not self._allow_cpu and not self.on_gpu():
            reason = ("torch.compile cases need a CUDA GPU: on the CPU inductor's C++ compile takes ~15 s per case, "
                      "too slow for the CPU suite; the `torch` (eager) backend runs on the CPU")
        return reason

    def _compile(self, request: BuildRequest) -> tuple[Callable[..., Any], float]:
        """Compile for this case's precision and batch and run it once (inductor compiles lazily)."""
        import torch

        from trtperf.inputs import make_inputs

        device = self.torch_device()
        module = prepare_module(request.spec.build_module(), request.case.precision, device)
        names = [i.name for i in request.spec.inputs]
        example = to_tensors(make_inputs(request.spec, request.case.batch, request.settings.seed,
                                         request.case.dim_values), names,
                             request.case.precision, device)
        started = time.perf_counter()
        with math_mode(request.case.precision), warnings.catch_warnings():
            # Inductor and Triton warn about their own internals; nothing a trtperf user can act on.
            warnings.simplefilter("ignore")
            try:
                compiled = torch.compile(module, mode=COMPILE_MODE if self._compiler == "inductor" else None,
                                         dynamic=False, backend=self._compiler)
                compiled(*example)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
            except Exception as exc:
                raise BuildError(
                    f"{request.case.key}: torch.compile ({self.mode_label()}) failed: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else ''}\nRun the model with the `torch` (eager) "
                    f"backend, or fix what dynamo/inductor reports (TORCH_LOGS=graph_breaks,recompiles)."
                ) from exc
        return compiled, time.perf_counter() - started

    def build(self, request: BuildRequest) -> BuiltEngine:
        """The manifest entry is created by the first compile (which fills inductor's cache)."""
        parts = self._key_parts(request, request.spec.key_module())
        cache_dir = inductor_cache_dir(request.cache.root, self.version(), self.device().slug)
        if self._compiler == "inductor":
            # Process-wide: inductor's compile workers inherit it. Same value for every case of a
            # process (one cache root, one torch, one device kind), so it is set once and left.
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir)
        compiled_now: dict[str, float] = {}

        def produce(tmp: Path) -> dict[str, Any]:
            module, seconds = self._compile(request)
            compiled_now["s"] = seconds
            self._remember(key_of(parts), module)
            manifest = {"mode": self.mode_label(), "inductor_cache_dir": str(cache_dir),
                        "first_compile_s": round(seconds, 3), **parts}
            tmp.write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n")
            return {"first_compile_s": seconds}

        def key_of(p: Mapping[str, Any]) -> str:
            from trtperf.cache import cache_key

            return cache_key(f"engine-{self.name}", p)

        entry = request.cache.get_or_create(
            f"engine-{self.name}", parts, produce, suffix=".json", describe=f"{self.name} engine {request.case.key}"
        )
        if entry.key not in self._memo:  # a manifest from an earlier process: recompile from the warm cache
            module, seconds = self._compile(request)
            compiled_now["s"] = seconds
            self._remember(entry.key, module)
        self._memo.move_to_end(entry.key)
        first = float(entry.meta.get("extra", {}).get("first_compile_s", 0.0))
        return BuiltEngine(
            path=entry.path, cache_key=entry.key, cache_hit=entry.hit, build_s=compiled_now.get("s", 0.0),
            info={"torch_mode": self.mode_label(), "inductor_cache_dir": str(cache_dir),
                  "first_compile_s": round(first, 3),
                  "compile_s_this_process": round(compiled_now.get("s", 0.0), 3)},
        )

    def _remember(self, key: str, module: Callable[..., Any]) -> None:
        self._memo[key] = module
        while len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)

    def load(self, built: BuiltEngine, request: BuildRequest) -> Engine:
        module = self._memo.get(built.cache_key)
        if module is None:  # evicted, or built by another backend instance
            self._check_current(built, request, request.spec.key_module())
            module, _ = self._compile(request)
            self._remember(built.cache_key, module)
        return self._engine(module, request)
