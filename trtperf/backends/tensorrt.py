"""TensorRT backend: real engines from the suites' ONNX, with TensorRT 10.x, 11.x or TensorRT-RTX.

Build: parse the ONNX (every parser error on failure), strongly typed network, one optimization
profile per case (opt = the case's batch), builder optimization level / workspace / TF32 from the
settings, the timing cache kept in trtperf's cache (full TensorRT; a no-op in TensorRT-RTX), and
the plan cached under the full key: model digest, flavour and version, target GPU (name and
compute capability; "portable" for TensorRT-RTX, whose engines compile for the GPU at run time),
and every build setting. The engine inspector's layer report is stored beside the plan.

Runtime (``trtperf.trt.runtime``): one execution context per stream on its own CUDA stream, torch
CUDA tensors as buffers, timed by the shared CUDA-event worker; copies and CUDA graphs by option.

With TensorRT-RTX the builder needs no GPU: in build-only mode the cases build, cache and report
on CPU-only machines, and parity and timing are skipped with that reason.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from trtperf.backends.base import Backend, BuildRequest
from trtperf.cache import ArtifactCache, CacheEntry, cache_key
from trtperf.config import Settings
from trtperf.device import DeviceInfo, cpu_device
from trtperf.engine import BuiltEngine, Engine
from trtperf.fsutil import atomic_write_bytes, remove_orphans
from trtperf.isolate import run_isolated
from trtperf.precisions import TABLE
from trtperf.timing.mode import MeasurementMode
from trtperf.trt.flavour import INSTALL_HINT, Flavour

if TYPE_CHECKING:
    from trtperf.trt.runtime import RuntimeCacheFile

PORTABLE = "portable"
"""The build target of TensorRT-RTX engines: not tied to the build machine's GPU."""


def _cuda_problem() -> str | None:
    """None when torch sees a CUDA GPU, else why not."""
    try:
        import torch
    except ImportError:
        return "torch is not installed; the tensorrt runtime uses torch for CUDA streams, events and buffers"
    if not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else f"torch {torch.__version__}"
        return f"no CUDA GPU is visible ({build}); to check that engines build, use --trtperf-build-only"
    return None


def target_parts(flavour: Flavour, device: DeviceInfo) -> dict[str, Any]:
    """The build target in the engine's cache key: the GPU, or 'portable' for TensorRT-RTX."""
    if flavour.portable_engines:
        return {"target": PORTABLE}
    return {"target": device.name, "compute_capability": device.facts.get("compute_capability")}


def timing_cache_path(cache: ArtifactCache, flavour: Flavour, device: DeviceInfo) -> Path:
    """One timing cache per TensorRT version and GPU kind; it is updated, so it lives outside the
    content-addressed entries (a stale or foreign one is rejected by TensorRT's header check)."""
    key = cache_key("timing-cache", {"flavour": flavour.label, "version": flavour.version,
                                     **target_parts(flavour, device)})
    return cache.root / "timing-cache" / f"{key}.cache"


class TensorRTBackend(Backend):
    name = "tensorrt"
    install_hint = INSTALL_HINT

    def __init__(self, flavour_choice: str = "auto") -> None:
        self._choice = flavour_choice
        self._device: DeviceInfo | None = None  # one process, one GPU (xdist: one worker per GPU)

    @classmethod
    def settings_key(cls, settings: Settings) -> Hashable:
        return settings.trt_flavour

    @classmethod
    def for_settings(cls, settings: Settings) -> TensorRTBackend:
        return cls(settings.trt_flavour)

    def uses_builder_flags(self, precision: str, settings: Settings) -> bool:
        return settings.trt_precision_flags and TABLE[precision].variant != "none"

    # -- which TensorRT -----------------------------------------------------------------------

    def flavour(self) -> Flavour | str:
        """The active flavour, or why TensorRT cannot be used here (``activate`` keeps it per process)."""
        from trtperf.trt.api import activate

        return activate(self._choice)

    def _require_flavour(self) -> Flavour:
        flavour = self.flavour()
        if isinstance(flavour, str):
            from trtperf.errors import BuildError

            raise BuildError(flavour)
        return flavour

    def unavailable_reason(self) -> str | None:
        flavour = self.flavour()
        if isinstance(flavour, str):
            return flavour
        return _cuda_problem()

    def skip_reason(self, settings: Settings) -> str | None:
        """In build-only mode a builder that runs without a GPU (TensorRT-RTX) is enough."""
        flavour = self.flavour()
        if isinstance(flavour, str):
            return flavour
        if settings.build_only and flavour.builds_without_gpu:
            return None
        problem = _cuda_problem()
        if problem and settings.build_only:
            return f"{flavour.label} needs a CUDA GPU to build engines ({problem})"
        return problem

    def precision_unsupported(self, precision: str) -> str | None:
        """On a GPU, precisions it cannot run (by compute capability); without one, every precision builds."""
        flavour = self.flavour()
        if isinstance(flavour, str) or _cuda_problem() is not None:
            return None
        from trtperf.precision.support import gpu_precision_unsupported

        cc = self.device().facts.get("compute_capability")
        capability = tuple(int(part) for part in str(cc).split(".")[:2]) if cc else None
        # The model's layers are not known here: RTX's int8-convolution limit is decided from the
        # exported ONNX's op types (precision_unsupported_for, before the build).
        return gpu_precision_unsupported(precision, capability, flavour.kind)  # type: ignore[arg-type]

    def precision_unsupported_for(self, precision: str, op_types: frozenset[str]) -> str | None:
        """TensorRT-RTX's int8 is weight-only GEMM: int8 Q/DQ convolutions build but cannot run."""
        from trtperf.precision.support import flavour_graph_unsupported

        flavour = self.flavour()
        if isinstance(flavour, str):
            return None
        return flavour_graph_unsupported(precision, flavour.kind, op_types)

    def version(self) -> str:
        flavour = self.flavour()
        return "unavailable" if isinstance(flavour, str) else flavour.version

    def environment(self) -> dict[str, Any]:
        env = super().environment()
        flavour = self.flavour()
        # isinstance(str), not isinstance(Flavour): a test's re-import of trtperf.trt makes a second Flavour class.
        if isinstance(flavour, str):
            env["trt_flavour"] = "unavailable"
        else:
            env.update({"trt_flavour": flavour.label, "trt_module": flavour.module_name,
                        "trt_version": flavour.version})
        return env

    def device(self) -> DeviceInfo:
        if self._device is None:
            self._device = self._find_device()
        return self._device

    def _find_device(self) -> DeviceInfo:
        if _cuda_problem() is not None:
            device = cpu_device()
            return DeviceInfo(kind=device.kind, name=device.name, slug=device.slug,
                              facts={**device.facts, "gpu": None})
        from trtperf.timing.gpu import env_gpu_index, gpu_device

        device_info: DeviceInfo = gpu_device(env_gpu_index())
        return device_info

    # -- build ----------------------------------------------------------------------------------
    def build_options(self, request: BuildRequest) -> Any:
        from trtperf.trt.build import BuildOptions, profile_shapes

        settings = request.settings
        tf32 = request.case.precision == "tf32" if settings.trt_tf32 == "auto" else settings.trt_tf32 == "on"
        workspace_mib = settings.trt_workspace
        return BuildOptions(
            profile=profile_shapes(request.spec, request.case.batch, settings.trt_batch_range,
                                   request.case.dim_values),
            opt_level=settings.trt_opt_level,
            workspace_bytes=None if workspace_mib is None else int(workspace_mib) << 20,
            tf32=tf32,
            precision_flag=(request.case.precision if self.uses_builder_flags(request.case.precision, settings)
                            else None),
        )

    def build(self, request: BuildRequest) -> BuiltEngine:
        from trtperf.trt.api import LOG

        flavour = self._require_flavour()
        device = self.device()
        options = self.build_options(request)
        parts = {
            "onnx": request.onnx_sha256,
            "backend": self.name,
            "flavour": flavour.label,
            "version": flavour.version,
            **target_parts(flavour, device),
            "precision": request.case.precision,
            **options.key_parts(),
        }
        what = f"{request.case.key} ({flavour.label} {flavour.version}, opt level {options.opt_level})"
        tc_path = timing_cache_path(request.cache, flavour, device) if flavour.timing_cache else None

        plan_path = request.cache.path_for("engine-tensorrt", cache_key("engine-tensorrt", parts), ".plan")

        def produce(tmp: Path) -> dict[str, Any]:
            LOG.info("building engine %s ...", what)
            for stale in (plan_path.parent / f"{plan_path.name}.layers.{ext}" for ext in ("json", "txt")):
                stale.unlink(missing_ok=True)  # the report of a corrupt plan being rebuilt
            seed = _read_timing_cache(tc_path)
            # Parse and build in a child process: a crash in the parser or builder fails this case only.
            output = run_isolated(build_plan_to_file, flavour.kind, request.onnx_path, dataclasses.asdict(options),
                                  seed, tmp,
                                  what=f"{flavour.label} parse and build of {request.case.key}")
            if tc_path is not None and output.timing_cache:
                _write_timing_cache(tc_path, output.timing_cache)
            LOG.info("built engine %s in %.1f s", what, output.seconds)
            return {
                "build_s": output.seconds,
                "timing_cache": "seeded" if seed else ("new" if tc_path else "none"),
                "network_layers": len(output.network_layers),
                "network_layer_types": dict(sorted(Counter(layer.type for layer in output.network_layers).items())),
            }

        started = time.perf_counter()
        entry = request.cache.get_or_create("engine-tensorrt", parts, produce, suffix=".plan",
                                            describe=f"TensorRT engine {request.case.key}")
        extra = dict(entry.meta.get("extra", {}))
        info: dict[str, Any] = {
            **flavour.to_json(),
            "target": parts["target"],
            "opt_level": options.opt_level,
            "tf32": options.tf32,
            "workspace_bytes": options.workspace_bytes,
            "profile": options.key_parts()["profile"],
            "plan_bytes": entry.meta.get("size"),
            "timing_cache": str(tc_path) if tc_path else f"not used ({flavour.label} has none)",
            "network_layers": extra.get("network_layers"),
            "network_layer_types": extra.get("network_layer_types"),
        }
        if not entry.hit:
            info["timing_cache_state"] = extra.get("timing_cache")
        if _cuda_problem() is None:
            info.update(self._layer_report(flavour, entry, request))
        else:
            info["layers"] = "engine layers need a GPU to deserialize the plan; network layers are listed instead"
        info["lookup_s"] = round(time.perf_counter() - started, 4)
        # build_s is the plan's own build time, also on a cache hit (cache_hit says it was reused).
        return BuiltEngine(path=entry.path, cache_key=entry.key, cache_hit=entry.hit,
                           build_s=float(extra.get("build_s", 0.0)), info=info)

    def _layer_report(self, flavour: Flavour, entry: CacheEntry, request: BuildRequest) -> dict[str, Any]:
        """The inspector JSON and a readable report beside the plan (made once per plan)."""
        from trtperf.trt.report import onnx_node_ops, parse_inspector_json

        raw = request.cache.sidecar(entry, "layers.json")
        text_path = request.cache.sidecar(entry, "layers.txt")
        if request.cache.read_only:  # a shared cache: use the stored report, or make one without storing it
            text = raw.read_text() if raw.exists() else inspect_plan(flavour, entry.path.read_bytes(), request.case.key)
            report = parse_inspector_json(text, onnx_node_ops(request.onnx_path))
            return {"layers": report.to_json(), "layer_report": str(text_path) if text_path.exists() else "",
                    "inspector_json": str(raw) if raw.exists() else ""}
        with FileLock(str(raw) + ".lock"):
            remove_orphans(raw)
            remove_orphans(text_path)
            if not raw.exists():
                atomic_write_bytes(raw, inspect_plan(flavour, entry.path.read_bytes(), request.case.key).encode())
            report = parse_inspector_json(raw.read_text(), onnx_node_ops(request.onnx_path))
            if not text_path.exists():
                atomic_write_bytes(text_path, report.render().encode())
        return {"layers": report.to_json(), "layer_report": str(text_path), "inspector_json": str(raw)}

    def load(self, built: BuiltEngine, request: BuildRequest) -> Engine:
        from trtperf.trt.runtime import TrtEngine

        flavour = self._require_flavour()
        _select_gpu()
        settings = request.settings
        return TrtEngine(flavour, built.path.read_bytes(), mode=settings.measurement,
                         allow_host_code=settings.trt_allow_host_code, what=request.case.key,
                         kernel_specialization=settings.trt_kernel_specialization,
                         fresh_contexts=settings.fresh_contexts,
                         runtime_cache=(runtime_cache_file(request.cache, built.path, self.device().slug)
                                        if settings.trt_runtime_cache else None))


def runtime_cache_path(plan: Path, device_slug: str) -> Path:
    """Where the TensorRT-RTX runtime cache of the engine ``plan`` on the GPU ``device_slug`` is kept:
    beside the plan in its cache entry, so it goes when the engine is rebuilt."""
    return plan.with_name(f"{plan.name}.runtime-cache-{device_slug}")


def runtime_cache_file(cache: ArtifactCache, plan: Path, device_slug: str) -> RuntimeCacheFile:
    """The signed runtime-cache sidecar of ``plan`` for :class:`~trtperf.trt.runtime.TrtEngine`
    (read-only caches load it and store nothing)."""
    from trtperf.trt.runtime import RuntimeCacheFile

    path = runtime_cache_path(plan, device_slug)

    def store(blob: bytes) -> None:
        if cache.read_only:
            return
        # The entry's own lock: a rebuild of the entry (which replaces its directory) and this write never interleave.
        with FileLock(str(cache.lock_path(plan.parent))):
            if not plan.is_file():  # the entry went (pruned, or rebuilt as another plan): its kernels go with it
                return
            remove_orphans(path)  # a killed writer's temporary file
            cache.write_signed_sidecar(path, blob)

    return RuntimeCacheFile(load=lambda: cache.read_signed_sidecar(path), store=store)


def build_plan_to_file(choice: str, onnx_path: Path, options: dict[str, Any], timing_cache: bytes | None,
                       target: Path) -> Any:
    """Parse and build with the TensorRT ``choice`` names, write the plan to ``target`` and return the
    :class:`~trtperf.trt.build.BuildOutput` without the plan bytes. Run in a child process by
    :meth:`TensorRTBackend.build` (:mod:`trtperf.isolate`); BuildError on a parse or build failure."""
    from trtperf.errors import BuildError
    from trtperf.trt.api import activate
    from trtperf.trt.build import BuildOptions, build_plan

    flavour = activate(choice)
    if isinstance(flavour, str):
        raise BuildError(flavour)
    output = build_plan(flavour, onnx_path, BuildOptions(**options), timing_cache=timing_cache)
    target.write_bytes(output.plan)
    return dataclasses.replace(output, plan=b"")


def inspect_plan(flavour: Flavour, plan: bytes, what: str) -> str:
    """The engine inspector's JSON for a plan (deserializes it: needs the GPU for full TensorRT)."""
    from trtperf.trt.api import trt
    from trtperf.trt.runtime import TrtEngine

    engine = TrtEngine(flavour, plan, mode=MeasurementMode(), what=what)
    inspector = engine.engine.create_engine_inspector()
    text = str(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    json.loads(text)  # fail here, not in the report, if TensorRT gave something else
    return text


def _select_gpu() -> None:
    import torch

    from trtperf.timing.gpu import env_gpu_index

    torch.cuda.set_device(env_gpu_index())


def _read_timing_cache(path: Path | None) -> bytes | None:
    if path is None or not path.exists():
        return None
    with FileLock(str(path) + ".lock"):
        return path.read_bytes() or None


def _write_timing_cache(path: Path, data: bytes) -> None:
    # Last writer wins: concurrent builds may drop each other's new entries, never corrupt the file.
    with FileLock(str(path) + ".lock"):
        remove_orphans(path)
        atomic_write_bytes(path, data)
