"""Parity's false failures and fault-detection power on the zoo (issue 11, item 3).

For every zoo model (suites/zoo/test_zoo.py) and precision:

- **Correct engines** run the model: each backend of ``--backends`` through trtperf's own backend
  interface (build, load, infer: ``onnxruntime`` = ORT_ENABLE_ALL on the variant, ``torch`` = eager,
  ``tensorrt`` = a TensorRT plan), plus bench-only CPU engines that stand in for GPU arithmetic:
  ``torch-tf32emu`` (torch eager with every matmul/convolution input rounded to TF32's 10-bit
  mantissa: what fp32 engines with TF32 on compute) and ``torch-cast`` (the whole module cast to
  fp16/bf16, norms and softmax included: a harsher fp16/bf16 engine than trtperf's variant).
  Each is judged by trtperf's two-way parity with the default tolerances: a failure is a **false
  failure**.
- **Faulty engines**: one fault injected into the ONNX the engine builds (``FAULTS``: one weight
  tensor scaled by 1.01 or 1.1, an activation replaced by Identity (Relu; ReLU6's Clip; GELU's
  Erf or Tanh where a model has no Relu), a residual Add dropped (its first input passed on), two
  input channels swapped (pixels: colour channels 0 and 1; tokens: positions 0 and 1), a bias
  zeroed), each at three sites (first, middle, last candidate in graph order), built and run by
  the ONNX backends of ``--backends``. A fault's **effect** is the relative L2 distance of its fp32
  outputs from the fp32 reference. A fault is *detectable* when its effect exceeds the precision's
  **own error** on that model; the summary counts by two definitions side by side:
  A: from the references alone (fp32: ONNX Runtime's optimized run vs the reference, the adaptive
  fp32 bound's scale; fp16/bf16: ``eps``, the variant's ONNX Runtime run vs the fp32 one);
  B: the largest relative L2 error of the correct engines of that precision (TF32-class engines
  apart) on that model in the run. The goal is that >= 99 % of detectable faults fail parity.

    python bench/parity_power.py --backends onnxruntime,torch --precisions fp32,fp16 \\
        --out bench/results/parity_power-cpu-small      # writes .json, .txt (after every row) and .jsonl
    python bench/parity_power.py --summarize a.jsonl b.jsonl --out merged   # several runs, one summary

Filters for short device calls: ``--models``, ``--precisions``, ``--faults`` (kinds, as substrings),
``--sites 1``, ``--no-faults``, ``--stand-ins off`` (default off where torch sees a GPU) and
``--time-limit`` (no engine run starts after it; what ran is summarized). ``bench/h200_parity_power.sh``
wraps it for the GPU machine.

Every number printed is measured in this run; nothing is assumed. Metrics per output: ``max_norm``
= max |got - ref| / rms(ref), ``rel_l2`` = ||got - ref|| / ||ref||, ``cosine``; a case takes its
worst output.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trtperf.backends import get_backend  # noqa: E402
from trtperf.backends.base import BuildRequest  # noqa: E402
from trtperf.backends.onnxruntime import optimized_session, reference_session, run_session  # noqa: E402
from trtperf.cache import ArtifactCache, CacheEntry  # noqa: E402
from trtperf.cases import Case  # noqa: E402
from trtperf.config import Settings  # noqa: E402
from trtperf.export import export_cached  # noqa: E402
from trtperf.fsutil import file_sha256  # noqa: E402
from trtperf.inputs import make_inputs  # noqa: E402
from trtperf.parity.compare import precision_errors, two_way_parity  # noqa: E402
from trtperf.parity.reference import cached_outputs as reference_outputs  # noqa: E402
from trtperf.parity.reference import tf32_emulated  # noqa: E402
from trtperf.parity.tolerance import cost_tolerance_for, default_precision, faithful_tolerance_for  # noqa: E402
from trtperf.precision import precision_variant  # noqa: E402
from trtperf.spec import ModelSpec, load_suite  # noqa: E402

Outputs = dict[str, np.ndarray]
ONNX_BACKENDS = ("onnxruntime", "tensorrt")
FAULT_KINDS = ("weight x1.01", "weight x1.1", "activation -> Identity", "residual Add dropped",
               "input channels 0,1 swapped", "bias zeroed")
SITES = 3
"""Sites per fault kind (first, middle, last candidate); ``--sites`` lowers it for the large models."""


# ---- metrics ---------------------------------------------------------------------------------

def output_metrics(got: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Scale-aware error of one output (float64). Non-finite anywhere: every metric is inf/0."""
    g = np.asarray(got, dtype=np.float64)
    e = np.asarray(ref, dtype=np.float64)
    if not (np.isfinite(g).all() and np.isfinite(e).all()):
        return {"max_abs": float("inf"), "rms": float("nan"), "max_norm": float("inf"), "p999_norm": float("inf"),
                "rel_l2": float("inf"), "cosine": 0.0}
    d = np.abs(g - e)
    rms = float(np.sqrt(np.mean(e * e))) or 1.0
    norm_e = float(np.linalg.norm(e))
    cos_den = float(np.linalg.norm(g) * norm_e)
    return {
        "max_abs": float(d.max()),
        "rms": rms,
        "max_norm": float(d.max() / rms),
        "p999_norm": float(np.quantile(d, 0.999) / rms),
        "rel_l2": float(np.linalg.norm(g - e) / norm_e) if norm_e else float(np.linalg.norm(g - e)),
        "cosine": float(np.dot(g.ravel(), e.ravel()) / cos_den) if cos_den else 1.0,
    }


def case_metrics(got: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray]) -> dict[str, Any]:
    per = {name: output_metrics(got[name], ref[name]) for name in ref if np.issubdtype(ref[name].dtype, np.floating)}
    worst = {k: max(m[k] for m in per.values()) for k in ("max_abs", "max_norm", "p999_norm", "rel_l2")}
    worst["cosine"] = min(m["cosine"] for m in per.values())
    return {"worst": worst, "outputs": per}


# ---- bench-only CPU engines ------------------------------------------------------------------

def round_to_tf32(x: Any) -> Any:
    """fp32 tensor -> fp32 tensor with a 10-bit mantissa (round to nearest, ties away), as TF32 reads it."""
    import torch

    if not (isinstance(x, torch.Tensor) and x.dtype == torch.float32):
        return x
    bits = x.contiguous().view(torch.int32)
    rounded = (bits + 0x1000) & ~0x1FFF
    finite = torch.isfinite(x)
    return torch.where(finite, rounded.view(torch.float32), x)


@contextlib.contextmanager
def tf32_emulation() -> Iterator[None]:
    """Inside: the inputs of torch's matmul, linear, convolution and attention ops are rounded to TF32."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    ops = {torch.matmul, torch.bmm, torch.mm, torch.baddbmm, torch.addmm, torch.einsum, F.linear, F.conv1d,
           F.conv2d, F.scaled_dot_product_attention, torch.Tensor.matmul, torch.Tensor.__matmul__}

    class TF32Mode(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            if func in ops:
                args = tuple(round_to_tf32(a) for a in args)
                kwargs = {k: round_to_tf32(v) for k, v in kwargs.items()}
            return func(*args, **kwargs)

    with TF32Mode():
        yield


def torch_cpu_engine(spec: ModelSpec, inputs: Mapping[str, np.ndarray], mode: str) -> Outputs:
    """``mode``: ``tf32emu`` (fp32 with TF32-rounded matmul inputs) or ``fp16``/``bf16`` (module cast)."""
    import torch

    module = spec.build_module().requires_grad_(False)
    dtype = {"tf32emu": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[mode]
    module = module.to(dtype)
    tensors = []
    for item in spec.inputs:
        t = torch.from_numpy(np.ascontiguousarray(inputs[item.name]))
        tensors.append(t.to(dtype) if t.is_floating_point() else t)
    with torch.no_grad(), (tf32_emulation() if mode == "tf32emu" else contextlib.nullcontext()):
        result = module(*tensors)
    values = [result] if isinstance(result, torch.Tensor) else list(result)
    return {name: v.detach().float().numpy() if v.is_floating_point() else v.numpy()
            for name, v in zip(spec.outputs, values, strict=True)}


# ---- faults ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Fault:
    kind: str
    site: str
    """Initializer or node name (the same in the fp32 model and its variants)."""


def _initializers(model: Any) -> dict[str, Any]:
    return {i.name: i for i in model.graph.initializer}


def _float_init(init: Any) -> bool:
    from onnx import TensorProto

    return bool(init.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16))


def _spread(items: list[str]) -> list[str]:
    """First, middle and last of ``items`` (fewer when there are fewer; the middle alone for one site)."""
    if SITES == 1 and items:
        return [items[len(items) // 2]]
    if len(items) <= SITES:
        return items
    return list(dict.fromkeys([items[0], items[len(items) // 2], items[-1]]))


def candidate_faults(model: Any, spec: ModelSpec) -> list[Fault]:
    """The faults of ``FAULT_KINDS`` this fp32 model offers, at up to three sites each."""
    import onnx

    inits = _initializers(model)
    nodes = list(model.graph.node)
    weights: list[str] = []
    biases: list[str] = []
    for node in nodes:
        for position, name in enumerate(node.input):
            init = inits.get(name)
            if init is None or not _float_init(init) or name in weights or name in biases:
                continue
            dims = list(init.dims)
            if node.op_type in ("Conv", "MatMul", "Gemm") and len(dims) >= 2 and position == 1:
                weights.append(name)
            elif len(dims) == 1 and dims[0] > 1 and (
                    (node.op_type in ("Conv", "Gemm", "BatchNormalization", "LayerNormalization") and position == 2)
                    or node.op_type == "Add"):
                biases.append(name)
    activations = [n.name for n in nodes if n.op_type in ("Relu", "Clip")]
    if not activations:
        activations = [n.name for n in nodes if n.op_type in ("Erf", "Tanh")]
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    produced = {o for n in nodes if n.op_type not in ("Constant",) for o in n.output}
    residuals = [n.name for n in nodes if n.op_type == "Add" and len(n.input) == 2
                 and all(i in produced for i in n.input)
                 and shapes.get(n.input[0]) is not None and shapes.get(n.input[0]) == shapes.get(n.input[1])
                 and len(shapes.get(n.input[0]) or []) >= 2]
    faults = [Fault("weight x1.01", w) for w in _spread(weights)]
    faults += [Fault("weight x1.1", w) for w in _spread(weights)]
    faults += [Fault("activation -> Identity", a) for a in _spread(activations)]
    faults += [Fault("residual Add dropped", r) for r in _spread(residuals)]
    faults += [Fault("input channels 0,1 swapped", spec.inputs[0].name)]
    faults += [Fault("bias zeroed", b) for b in _spread(biases)]
    return faults


def inject(model: Any, fault: Fault) -> Any | None:
    """A copy of ``model`` (fp32 or a variant) with ``fault``; None when the site is not in it."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = _initializers(model)
    if fault.kind.startswith("weight") or fault.kind == "bias zeroed":
        init = inits.get(fault.site)
        if init is None:
            return None
        values = numpy_helper.to_array(init)
        factor = {"weight x1.01": 1.01, "weight x1.1": 1.1, "bias zeroed": 0.0}[fault.kind]
        scaled = (values.astype(np.float32) * factor).astype(values.dtype)
        init.CopyFrom(numpy_helper.from_array(scaled, init.name))
        return model
    by_name = {n.name: n for n in graph.node}
    if fault.kind in ("activation -> Identity", "residual Add dropped"):
        node = by_name.get(fault.site)
        if node is None:
            return None
        replacement = helper.make_node("Identity", [node.input[0]], list(node.output), name=node.name + "_fault")
        index = list(graph.node).index(node)
        graph.node.remove(node)
        graph.node.insert(index, replacement)
        return model
    if fault.kind == "input channels 0,1 swapped":
        name = fault.site
        swapped = name + "_swapped"
        for node in graph.node:
            node.input[:] = [swapped if i == name else i for i in node.input]
        graph.initializer.append(numpy_helper.from_array(np.array([1, 0], dtype=np.int64), name + "_perm01"))
        graph.node.insert(0, helper.make_node("Gather", [name, name + "_perm01"], [name + "_first2"], axis=1))
        graph.node.insert(1, helper.make_node("Shape", [name], [name + "_shape"]))
        graph.initializer.append(numpy_helper.from_array(np.array([2], dtype=np.int64), name + "_two"))
        graph.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), name + "_axis1"))
        graph.initializer.append(numpy_helper.from_array(np.array([2**62], dtype=np.int64), name + "_end"))
        graph.node.insert(2, helper.make_node("Slice", [name, name + "_two", name + "_end", name + "_axis1"],
                                              [name + "_rest"]))
        graph.node.insert(3, helper.make_node("Concat", [name + "_first2", name + "_rest"], [swapped], axis=1))
        return model
    raise ValueError(f"unknown fault {fault.kind!r}")


# ---- engines through trtperf's backends ------------------------------------------------------

def run_backend(backend_name: str, spec: ModelSpec, precision: str, batch: int, onnx_path: Path,
                inputs: Mapping[str, np.ndarray], cache: ArtifactCache, settings: Settings) -> Outputs:
    backend = get_backend(backend_name, settings)
    case = Case(model=spec.name, backend=backend_name, precision=precision, batch=batch, streams=1)
    request = BuildRequest(spec=spec, case=case, onnx_path=onnx_path, onnx_sha256=file_sha256(onnx_path),
                           settings=settings, cache=cache)
    built = backend.build(request)
    with backend.load(built, request) as engine:
        return engine.infer(inputs)


def judge(spec: ModelSpec, precision: str, backend: str, got: Outputs, fp32_ref: Outputs,
          variant_ref: Outputs | None, fp32_errors: Mapping[str, float] | None = None,
          tf32_errors: Mapping[str, float] | None = None) -> bool:
    """trtperf's verdict with the default tolerances for ``backend`` (``spec`` declares none).

    Bench-only engines are judged as the backend whose arithmetic they stand in for: ``torch-tf32emu``
    as an fp32 engine that may use TF32 (tensorrt), ``torch-cast-*`` as torch. ``fp32_errors``: the
    model's own fp32 error per output (ONNX Runtime optimized vs the reference), which the adaptive fp32
    bound scales with; ``tf32_errors``: its own TF32 error (the TF32-emulated graph vs the reference), for
    engines whose fp32 may be TF32; as the pipeline passes them (``ReferenceRunner.fp32_own_errors``).
    """
    backend = "tensorrt" if backend == "torch-tf32emu" else backend.split("-")[0]
    faithful = fp32_ref if variant_ref is None else variant_ref
    own = tf32_errors if default_precision(precision, backend) == "tf32" else fp32_errors
    report = two_way_parity(got, fp32_ref, lambda n: cost_tolerance_for(spec, precision, n, backend), faithful,
                            lambda n: faithful_tolerance_for(spec, precision, n, backend), precision,
                            fp32_errors=own if variant_ref is None else None)
    return report.passed


@dataclasses.dataclass
class Row:
    model: str
    precision: str
    engine: str
    fault: str
    site: str
    passed: bool
    cost: dict[str, float]
    faithful: dict[str, float] | None
    effect_rel_l2: float | None = None
    precision_error: float = 0.0
    """The variant reference's relative L2 error vs the fp32 reference (worst output): the faithful bound's scale."""
    seconds: float = 0.0
    fp32_own_error: float | None = None
    """The model's own fp32 error (worst output): ONNX Runtime's optimized run vs the reference, the adaptive
    fp32 bound's scale (None in rows written before it existed)."""
    tf32_own_error: float | None = None
    """The model's own TF32 error (worst output): ONNX Runtime on the TF32-emulated graph vs the reference, the
    adaptive TF32 bound's scale (None in rows written before it existed)."""


@dataclasses.dataclass(frozen=True)
class Options:
    """What to run (the command line's filters)."""

    precisions: list[str]
    backends: list[str]
    faults: list[str] | None
    """Fault kinds to inject (substrings of ``Fault.kind``); None: every kind; []: none."""
    stand_ins: bool = True
    """Run the bench-only CPU engines (``torch-tf32emu``, ``torch-cast-*``) next to ``torch``."""
    deadline: float = float("inf")
    """``time.time()`` after which no new engine run starts (the rows so far are kept)."""


class OutOfTime(Exception):
    """The deadline passed: stop measuring, keep and summarize what ran."""


def measure_model(spec: ModelSpec, options: Options, cache: ArtifactCache, settings: Settings, batch: int,
                  log: Callable[[str], None], sink: Callable[[Row], None] = lambda row: None) -> list[Row]:
    """Every correct engine and every selected fault of ``spec`` at ``batch``; each row also goes to ``sink``
    as it finishes. Raises OutOfTime once ``options.deadline`` passes (the rows so far went to ``sink``)."""
    rows: list[Row] = []
    _measure_model(spec, options, cache, settings, batch, log, sink, rows)
    return rows


def _measure_model(spec: ModelSpec, options: Options, cache: ArtifactCache, settings: Settings, batch: int,
                   log: Callable[[str], None], sink: Callable[[Row], None], rows: list[Row]) -> None:
    import onnx

    precisions, backends = options.precisions, options.backends

    def check_time() -> None:
        if time.time() > options.deadline:
            raise OutOfTime()

    fp32 = export_cached(spec, cache)
    inputs = make_inputs(spec, batch, settings.seed)
    fp32_ref = reference_outputs(spec, fp32, batch, settings.seed, cache)
    # The model's own fp32 error, as the pipeline measures it for the adaptive fp32 bound (cached).
    fp32_errors = precision_errors(reference_outputs(spec, fp32, batch, settings.seed, cache, optimized=True),
                                   fp32_ref)
    fp32_own = max(fp32_errors.values(), default=0.0)
    tf32_errors = precision_errors(
        reference_outputs(spec, tf32_emulated(spec, fp32, cache), batch, settings.seed, cache), fp32_ref)
    tf32_own = max(tf32_errors.values(), default=0.0)
    log(f"  fp32 own error (ONNX Runtime optimized vs the reference): {fp32_own:.2e}; TF32's: {tf32_own:.2e}")
    fp32_model = onnx.load(str(fp32.path))
    faults = [f for f in candidate_faults(fp32_model, spec)
              if options.faults is None or any(k in f.kind for k in options.faults)]
    effects: dict[Fault, float] = {}
    for precision in precisions:
        variant: CacheEntry = precision_variant(spec, fp32, precision, cache)
        variant_ref: Outputs | None = None
        if variant.meta["sha256"] != fp32.meta["sha256"]:
            try:
                variant_ref = reference_outputs(spec, variant, batch, settings.seed, cache)
            except Exception as exc:  # ORT cannot run bf16 on the CPU
                log(f"  {precision}: no ONNX Runtime reference of the variant ({str(exc).splitlines()[0][:80]})")
        engines: list[tuple[str, Callable[[], Outputs]]] = []
        for name in backends:
            backend = get_backend(name, settings)
            reason = backend.unavailable_reason() or backend.precision_unsupported(precision)
            if reason is None and name == "torch":
                reason = backend.skip_reason(settings) or backend.precision_unsupported(precision)
            if reason:
                log(f"  {name} {precision}: skipped ({reason[:90]})")
                continue
            engines.append((name, lambda n=name, p=precision, v=variant.path: run_backend(  # type: ignore[misc]
                n, spec, p, batch, v, inputs, cache, settings)))
        if options.stand_ins and "torch" in backends and precision in ("fp32", "tf32"):
            engines.append(("torch-tf32emu", lambda: torch_cpu_engine(spec, inputs, "tf32emu")))
        if options.stand_ins and "torch" in backends and precision in ("fp16", "bf16"):
            engines.append((f"torch-cast-{precision}",
                            lambda p=precision: torch_cpu_engine(spec, inputs, p)))  # type: ignore[misc]
        own_error = 0.0
        eps = max(precision_errors(variant_ref, fp32_ref).values(), default=0.0) if variant_ref is not None else 0.0
        for name, run in engines:
            check_time()
            started = time.perf_counter()
            try:
                got = run()
            except Exception as exc:  # one engine that cannot run (a build error) must not end the bench
                log(f"  {precision:5} {name:18} ERROR {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:200] if str(exc) else ''}")
                continue
            cost = case_metrics(got, fp32_ref)["worst"]
            faithful = case_metrics(got, variant_ref)["worst"] if variant_ref is not None else None
            passed = judge(spec, precision, name, got, fp32_ref, variant_ref, fp32_errors, tf32_errors)
            if error_class(name, precision) == precision:
                own_error = max(own_error, cost["rel_l2"])
            rows.append(Row(spec.name, precision, name, "", "", passed, cost, faithful, precision_error=eps,
                            seconds=time.perf_counter() - started, fp32_own_error=fp32_own,
                            tf32_own_error=tf32_own))
            sink(rows[-1])
            log(f"  {precision:5} {name:18} {'pass' if passed else 'FAIL'}  rel_l2 {cost['rel_l2']:.2e}  "
                f"max_norm {cost['max_norm']:.2e}  cos {cost['cosine']:.6f}"
                + (f"  faithful rel_l2 {faithful['rel_l2']:.2e} max_norm {faithful['max_norm']:.2e}" if faithful
                   else ""))
        variant_model = fp32_model if variant.path == fp32.path else onnx.load(str(variant.path))
        ran = {r.engine for r in rows if r.model == spec.name and r.precision == precision and not r.fault}
        for fault in faults:
            for name in backends:
                if name not in ONNX_BACKENDS or name not in ran:
                    continue
                faulty = inject(variant_model, fault)
                if faulty is None:
                    log(f"  {precision} {fault.kind} @ {fault.site}: site not in the variant")
                    continue
                check_time()
                started = time.perf_counter()
                with tempfile.TemporaryDirectory(prefix="trtperf-fault-") as tmp:
                    path = Path(tmp) / "faulty.onnx"
                    onnx.save(faulty, str(path))
                    if fault not in effects:
                        faulty32 = path if precision == "fp32" else Path(tmp) / "faulty32.onnx"
                        if precision != "fp32":
                            faulty_fp32 = inject(fp32_model, fault)
                            assert faulty_fp32 is not None  # every fault's site comes from the fp32 model
                            onnx.save(faulty_fp32, str(faulty32))
                        exact = run_session(reference_session(faulty32), inputs)
                        effects[fault] = case_metrics(exact, fp32_ref)["worst"]["rel_l2"]
                    try:
                        if name == "onnxruntime":
                            # The backend's engine is this graph optimized (ORT_ENABLE_ALL), saved and reloaded;
                            # an in-memory optimized session computes the same kernels without writing it twice.
                            got = run_session(optimized_session(path), inputs)
                        else:
                            got = run_backend(name, spec, precision, batch, path, inputs,
                                              ArtifactCache(Path(tmp) / "c"), settings)
                    except Exception as exc:  # e.g. a builder that rejects the faulty graph: logged, not counted
                        log(f"  {precision:5} {name:12} {fault.kind:28} ERROR {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}")
                        continue
                cost = case_metrics(got, fp32_ref)["worst"]
                faithful = case_metrics(got, variant_ref)["worst"] if variant_ref is not None else None
                passed = judge(spec, precision, name, got, fp32_ref, variant_ref, fp32_errors, tf32_errors)
                rows.append(Row(spec.name, precision, name, fault.kind, fault.site, passed, cost, faithful,
                                effect_rel_l2=effects[fault], precision_error=eps,
                                seconds=time.perf_counter() - started, fp32_own_error=fp32_own,
                                tf32_own_error=tf32_own))
                sink(rows[-1])
                detectable = effects[fault] > own_error
                log(f"  {precision:5} {name:12} {fault.kind:28} effect {effects[fault]:.2e} "
                    f"(own {own_error:.1e}) {'detected' if not passed else 'MISSED' if detectable else 'missed'}")


# ---- summary -----------------------------------------------------------------------------------

def error_class(engine: str, precision: str) -> str:
    """Engines judged by the same default tolerances share an own error: fp32 on TensorRT (TF32 may be on)
    and its CPU stand-in are one class, exact fp32 engines another; each lower precision is one class."""
    return "tf32" if precision == "fp32" and engine in ("tensorrt", "torch-tf32emu") else precision


def own_errors(rows: list[Row]) -> dict[tuple[str, str], float]:
    """(model, error class) -> the largest relative L2 error of the correct engines of that class on that
    model in ``rows`` (cost: vs the fp32 reference): the precision's own error, definition B."""
    own: dict[tuple[str, str], float] = {}
    for r in rows:
        if not r.fault:
            key = (r.model, error_class(r.engine, r.precision))
            own[key] = max(own.get(key, 0.0), r.cost["rel_l2"])
    return own


def reference_error(r: Row, own: Mapping[tuple[str, str], float]) -> float:
    """The precision's own error from the references alone, definition A: fp32 = ONNX Runtime's optimized run
    vs the reference (the adaptive bound's scale), fp16/bf16/int8 = the variant's ONNX Runtime reference vs
    the fp32 one (``eps``, the faithful bound's scale), TF32 = the TF32-emulated graph vs the reference (rows
    from before it was measured: definition B)."""
    cls = error_class(r.engine, r.precision)
    if cls == "fp32" and r.fp32_own_error is not None:
        return r.fp32_own_error
    if cls == "tf32" and r.tf32_own_error is not None:
        return r.tf32_own_error
    if cls not in ("fp32", "tf32") and r.precision_error > 0:
        return r.precision_error
    return own.get((r.model, cls), 0.0)


DEFINITIONS = {
    "A": "effect > the precision's own error from the references alone (fp32: ONNX Runtime optimized vs the "
         "reference; fp16/bf16: eps = ONNX Runtime's variant vs fp32; TF32: the TF32-emulated graph vs the reference)",
    "B": "effect > the largest error of the correct engines of that precision on that model in this run",
}


def summarize(rows: list[Row]) -> str:
    lines = ["False failures of correct engines (default tolerances):",
             f"{'model':14} {'prec':5} {'engine':18} {'verdict':7} {'rel_l2':>9} {'max_norm':>9} {'cosine':>10} "
             f"{'faithful rel_l2':>15} {'faithful max_norm':>17} {'fp32 own':>9}"]
    correct = [r for r in rows if not r.fault]
    for r in correct:
        f = r.faithful
        lines.append(f"{r.model:14} {r.precision:5} {r.engine:18} {'pass' if r.passed else 'FAIL':7} "
                     f"{r.cost['rel_l2']:9.2e} {r.cost['max_norm']:9.2e} {r.cost['cosine']:10.7f} "
                     + (f"{f['rel_l2']:15.2e} {f['max_norm']:17.2e}" if f else f"{'-':>15} {'-':>17}")
                     + (f" {r.fp32_own_error:9.2e}" if r.fp32_own_error is not None else f" {'-':>9}"))
    false_failures = sum(not r.passed for r in correct)
    lines.append(f"false failures: {false_failures} of {len(correct)}")
    lines.append("")
    own = own_errors(rows)

    def threshold(r: Row, definition: str) -> float:
        return reference_error(r, own) if definition == "A" else own.get((r.model, error_class(r.engine, r.precision)),
                                                                          0.0)

    faulty = [r for r in rows if r.fault]
    lines.append("Fault detection. A fault is detectable when its effect (relative L2 of the faulty fp32 model's "
                 "outputs vs the fp32 reference) exceeds the precision's own error on that model, by definition:")
    lines += [f"  {k}: {v}" for k, v in DEFINITIONS.items()]
    lines.append(f"{'precision':9} {'engine':12} {'fault':28} {'faults':>6} | {'A: detectable':>13} {'detected':>8} "
                 f"{'%':>6} | {'B: detectable':>13} {'detected':>8} {'%':>6} | {'B-undetectable caught':>21}")
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for r in faulty:
        groups.setdefault((r.precision, r.engine, r.fault), []).append(r)
        groups.setdefault((r.precision, r.engine, "all"), []).append(r)
    for (precision, engine, fault), items in sorted(groups.items()):
        cells = []
        for definition in ("A", "B"):
            detectable = [r for r in items if (r.effect_rel_l2 or 0.0) > threshold(r, definition)]
            caught = sum(not r.passed for r in detectable)
            cells.append(f"{len(detectable):13} {caught:8} "
                         f"{(caught / len(detectable) if detectable else float('nan')):6.1%}")
        small = [r for r in items if not (r.effect_rel_l2 or 0.0) > threshold(r, "B")]
        lines.append(f"{precision:9} {engine:12} {fault:28} {len(items):6} | {cells[0]} | {cells[1]} | "
                     f"{sum(not r.passed for r in small):>11} of {len(small):<6}")
    bins = [(0.0, 1.0), (1.0, 1.5), (1.5, 2.0), (2.0, 4.0), (4.0, 10.0), (10.0, float("inf"))]
    for definition in ("A", "B"):
        lines.append("")
        lines.append(f"Detection by the fault's effect in units of the precision's own error ({definition}):")
        for precision in sorted({r.precision for r in faulty}):
            cells = []
            for low, high in bins:
                inside = [r for r in faulty if r.precision == precision
                          and low < (r.effect_rel_l2 or 0.0) / max(threshold(r, definition), 1e-300) <= high]
                cells.append(f"({low:g}, {high:g}]x: {sum(not r.passed for r in inside)}/{len(inside)}")
            lines.append(f"  {precision}: " + "  ".join(cells))
        missed = [r for r in faulty if r.passed and (r.effect_rel_l2 or 0.0) > threshold(r, definition)]
        if missed:
            lines.append(f"missed detectable faults ({definition}):")
            lines += [f"  {r.model} {r.precision} {r.engine} {r.fault} @ {r.site}: effect {r.effect_rel_l2:.2e} = "
                      f"{(r.effect_rel_l2 or 0.0) / max(threshold(r, definition), 1e-300):.2f}x own error "
                      f"{threshold(r, definition):.2e}; engine rel_l2 {r.cost['rel_l2']:.2e}"
                      + (f", faithful {r.faithful['rel_l2']:.2e} = {r.faithful['rel_l2'] / r.precision_error:.2f} eps"
                         if r.faithful and r.precision_error else "") for r in missed]
    lines += factor_diagnostics(rows)
    return "\n".join(lines)


def factor_diagnostics(rows: list[Row]) -> list[str]:
    """Per precision with a faithful check: the largest faithful error of a correct engine and the smallest of a
    missed fault, in units of eps (the faithful bound is ``precision_error_factor`` eps): what a change of
    that factor would gain or break."""
    lines = []
    for precision in sorted({r.precision for r in rows if r.faithful and r.precision_error}):
        def ratio(r: Row) -> float:
            return float(r.faithful["rel_l2"]) / r.precision_error if r.faithful else 0.0

        correct = [r for r in rows if r.precision == precision and not r.fault and r.faithful and r.precision_error]
        missed = [r for r in rows if r.precision == precision and r.fault and r.passed and r.faithful
                  and r.precision_error and (r.effect_rel_l2 or 0.0) > own_errors(rows).get((r.model, precision), 0.0)]
        for engine in sorted({r.engine for r in correct}):
            worst = max((r for r in correct if r.engine == engine), key=ratio)
            lines.append(f"{precision} faithful error in eps, correct {engine}: up to {ratio(worst):.3f} "
                         f"({worst.model})")
        if missed:
            lines.append(f"{precision} missed detectable faults (B): faithful error {min(map(ratio, missed)):.2f} to "
                         f"{max(map(ratio, missed)):.2f} eps")
    fp32 = [r for r in rows if r.precision == "fp32" and not r.fault and error_class(r.engine, "fp32") == "fp32"
            and r.fp32_own_error]
    for engine in sorted({r.engine for r in fp32}):
        worst = max((r for r in fp32 if r.engine == engine), key=lambda r: r.cost["rel_l2"] / (r.fp32_own_error or 1))
        lines.append(f"fp32 error in units of the model's own fp32 error e, correct {engine}: up to "
                     f"{worst.cost['rel_l2'] / (worst.fp32_own_error or 1):.2f} ({worst.model}; the bound is 10 e "
                     f"within [1e-5, 3e-4])")
    tf32 = [r for r in rows if not r.fault and error_class(r.engine, r.precision) == "tf32" and r.tf32_own_error]
    for engine in sorted({r.engine for r in tf32}):
        worst = max((r for r in tf32 if r.engine == engine), key=lambda r: r.cost["rel_l2"] / (r.tf32_own_error or 1))
        lines.append(f"fp32-where-TF32-may-be-on error in units of the model's own TF32 error e, correct {engine}: "
                     f"up to {worst.cost['rel_l2'] / (worst.tf32_own_error or 1):.2f} ({worst.model}; the bound is "
                     f"5 e within [1e-4, 0.1])")
    return ["", *lines] if lines else []


def write_results(out: Path, rows: list[Row], meta: Mapping[str, Any]) -> None:
    """OUT.json (meta and rows) and OUT.txt (meta and the summary), rewritten whole (called after every row:
    a run stopped by a time limit keeps everything that finished)."""
    out.with_suffix(".json").write_text(json.dumps(
        {"meta": dict(meta), "rows": [dataclasses.asdict(r) for r in rows]}, indent=1, default=str) + "\n")
    out.with_suffix(".txt").write_text(f"{json.dumps(dict(meta))}\n{summarize(rows)}\n")


def load_rows(path: Path) -> list[Row]:
    """Rows of OUT.jsonl (one per line) or OUT.json (``rows``)."""
    if path.suffix == ".json":
        return [Row(**r) for r in json.loads(path.read_text())["rows"]]
    return [Row(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    global SITES
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="onnxruntime,torch",
                        help="comma-separated trtperf backends (onnxruntime, torch, tensorrt)")
    parser.add_argument("--precisions", default="fp32,fp16")
    parser.add_argument("--models", default="", help="comma-separated zoo models (default: all)")
    parser.add_argument("--batch", type=int, default=0, help="batch (default: the model's first declared)")
    parser.add_argument("--no-faults", action="store_true", help="correct engines only")
    parser.add_argument("--faults", default="",
                        help="comma-separated fault kinds to inject, as substrings of: " + ", ".join(FAULT_KINDS)
                        + " (default: all)")
    parser.add_argument("--stand-ins", choices=("auto", "on", "off"), default="auto",
                        help="the bench-only CPU engines torch-tf32emu and torch-cast-fp16/bf16 next to torch "
                             "(auto: only when torch sees no CUDA GPU, where they would run slowly on the host)")
    parser.add_argument("--time-limit", type=float, default=0.0,
                        help="seconds after which no new engine run starts; what ran is summarized (0: none)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="write OUT.json and OUT.txt (rewritten after every row, so a stopped run keeps its "
                             "rows) and OUT.jsonl (one row per line)")
    parser.add_argument("--sites", type=int, default=SITES, help="sites per fault kind: 1 (the middle) or 3")
    parser.add_argument("--summarize", type=Path, nargs="*", default=None,
                        help="only print (and with --out write) the summary of saved OUT.jsonl or OUT.json files")
    args = parser.parse_args(argv)
    SITES = args.sites
    if args.summarize is not None:
        # Runs of one machine share the correct engines they each ran first: each (model, precision, engine,
        # fault, site) is counted once, from the first file that has it.
        unique: dict[tuple[str, str, str, str, str], Row] = {}
        for path in args.summarize:
            for r in load_rows(path):
                unique.setdefault((r.model, r.precision, r.engine, r.fault, r.site), r)
        rows_from = list(unique.values())
        text = summarize(rows_from)
        print(text)
        if args.out is not None:
            write_results(args.out, rows_from, {"summarized": [str(p) for p in args.summarize],
                                                "rows": len(rows_from)})
        return 0
    specs = load_suite(ROOT / "suites" / "zoo" / "test_zoo.py")
    wanted = [m for m in args.models.split(",") if m]
    unknown = set(wanted) - {s.name for s in specs}
    if unknown:
        parser.error(f"unknown --models {sorted(unknown)}; the zoo has {[s.name for s in specs]}")
    specs = [s for s in specs if not wanted or s.name in wanted]
    cache_dir = args.cache_dir or Path(os.environ.get("TRTPERF_CACHE_DIR", "") or tempfile.mkdtemp())
    cache = ArtifactCache(cache_dir)
    settings = Settings(cache_dir=cache_dir, no_timing=True)
    backends = [b for b in args.backends.split(",") if b]
    stand_ins = args.stand_ins == "on"
    if args.stand_ins == "auto":
        import torch

        stand_ins = not torch.cuda.is_available()
    kinds = [k.strip() for k in args.faults.split(",") if k.strip()]
    started = time.time()
    options = Options(precisions=[p for p in args.precisions.split(",") if p], backends=backends,
                      faults=[] if args.no_faults else (kinds or None), stand_ins=stand_ins,
                      deadline=started + args.time_limit if args.time_limit > 0 else float("inf"))
    zoo_size = sys.modules[specs[0].factory.__module__].zoo_size
    meta: dict[str, Any] = {"argv": sys.argv[1:] if argv is None else argv, "zoo_size": zoo_size(), "sites": SITES,
                            "stand_ins": stand_ins, "machine": platform.processor() or platform.machine(),
                            "cpus": os.cpu_count(), "seconds": 0.0, "state": "running"}
    rows: list[Row] = []
    jsonl = args.out.with_suffix(".jsonl") if args.out is not None else None
    if args.out is not None and jsonl is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        jsonl.write_text("")

    def sink(row: Row) -> None:
        rows.append(row)
        if args.out is not None and jsonl is not None:
            with jsonl.open("a") as handle:
                handle.write(json.dumps(dataclasses.asdict(row), default=str) + "\n")
            meta["seconds"] = round(time.time() - started, 1)
            write_results(args.out, rows, meta)

    state = "done"
    for spec in specs:
        print(f"{spec.name} (inputs {[list(i.shape) for i in spec.inputs]})", flush=True)
        try:
            measure_model(spec, options, cache, settings, args.batch or spec.batches[0],
                          lambda s: print(s, flush=True), sink)
        except OutOfTime:
            state = f"stopped by --time-limit {args.time_limit:g} s in {spec.name}"
            print(state, flush=True)
            break
    meta["seconds"] = round(time.time() - started, 1)
    meta["state"] = state
    print(summarize(rows))
    if args.out is not None:
        write_results(args.out, rows, meta)
    if args.cache_dir is None and not os.environ.get("TRTPERF_CACHE_DIR"):
        shutil.rmtree(cache_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
