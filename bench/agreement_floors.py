"""Agreement of integer outputs below fp32: the measurements behind the default agreement floors.

``trtperf/parity/tolerance.py`` (module docstring, "Integer and boolean outputs"; ``DISCRETE_AGREEMENT``)
sets the fraction of an integer/boolean output's elements that must agree with the reference below fp32,
counted beyond the reference's most common value (``agreement_score`` in ``trtperf/parity/compare.py``),
from measurements on two random-weight models. This script rebuilds those models in code (seeded, no
downloads) and measures, over ``--batches`` seeded batches (seeds 0..N-1, inputs from
``trtperf.inputs.make_inputs`` as trtperf's parity draws them), how often each precision's ids agree with
the fp32 reference:

- ``clip_text``: a CLIP text tower (``transformers.CLIPTextModel``: vocabulary 1000, width 128, MLP 256,
  2 layers, 4 heads; constant parameters spread as in the zoo), output the per-token argmax over the 128
  channels of ``last_hidden_state`` (int64), batch 2 x 16 tokens = 32 ids per batch;
- ``convnext_seg``: a ConvNeXt backbone (``transformers.ConvNextModel``, widths 32-64-128-256, depths
  1-1-2-1, transformers' init) whose first stage's features (1/4 resolution) feed a 1x1 convolution to
  21 classes, output the per-pixel argmax: 2 x 16 x 16 = 512 ids per batch of 64x64 images;
- ``convnext_seg_up``: the same head with its logits upsampled bilinearly to the input resolution
  before the argmax, as a segmentation model outputs them: 2 x 64 x 64 = 8192 ids per batch.

The first two mirror the held-out models the floors were set from (docs/notes/session-2026-12-07-3.md): the same
configurations and seeds (there the tower also returned ``pooler_output`` and the head a foreground mask, which
change no id); their seed-0 int8 ids flip 3 of 32 and 8 of 512, as the held-out run found. With transformers'
init, ConvNeXt's layer scale is 1e-6, so its blocks barely change the features: the head reads, in effect, the
patchify stem's normalized output (the fp16 range pre-flight notes the layer-scale products flushing to zero).

Engines, each against the fp32 reference (ONNX Runtime, CPU, no graph optimization, on trtperf's own fp32
export: the cost check's reference), and the ONNX Runtime engine also against its variant's reference
(the faithful check):

- int8 and fp16: trtperf's own variant (``trtperf.prepare.prepare`` with the onnxruntime backend: export,
  precision stage (int8: static Q/DQ, calibrated on trtperf's drawn calibration set), build), run as
  ``ort-reference`` (ONNX Runtime unoptimized on the variant: the faithful reference) and ``onnxruntime``
  (the backend's engine: ORT_ENABLE_ALL, int8 Q/DQ fused into QLinear kernels);
- fp16 and bf16: ``torch-cast`` (the module cast with ``.to(dtype)``, norms and softmax included) and
  ``torch-autocast`` (``torch.autocast("cpu", dtype)``), on the CPU; bf16's ONNX variant is made and
  ONNX Runtime is tried on it (its CPU provider has no bf16 kernels: the error is recorded);
- fp8 (E4M3): ``ort-reference`` on trtperf's fp8 variant (ONNX Runtime runs fp8 Q/DQ unoptimized only);
- tf32: ``torch-tf32emu`` (torch eager with every matmul/convolution input rounded to TF32's 10-bit
  mantissa, bench/parity_power.py's stand-in for GPU engines with TF32 on);
- fp32 (control; the floor is exact agreement): ``onnxruntime`` and ``torch`` eager.

Per model x precision x engine: the worst and mean plain agreement over the batches, the worst and mean
agreement beyond the majority value (what the floors judge), the majority value's share, the default
floor, its headroom (worst - floor) and margin ((1 - floor) / (1 - worst): how many times the worst
measured disagreement the floor allows; the docstring aims at about 2 for int8/bf16 and 25 for fp16), and
how many batches trtperf's own cost (or faithful) check with the default tolerance passes. A last table
gives, per precision, the smallest margin over every model and engine.

    python bench/agreement_floors.py                       # 10 batches, every model and precision (< 1 min)
    python bench/agreement_floors.py --batches 20 --models clip_text --out /tmp/agreement-20

Results: bench/results/agreement_floors-cpu.{json,txt} (``--out`` changes the stem): the device, versions,
N, per-batch values and the table. Every number is measured in the run; the docstring's figures are
printed beside them for comparison, never used.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import importlib
import importlib.metadata
import json
import math
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import trtperf
from trtperf import InputSpec
from trtperf.backends.onnxruntime import reference_session, run_session
from trtperf.cache import ArtifactCache
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.device import cpu_device
from trtperf.inputs import make_inputs
from trtperf.parity.compare import agreement_score, compare_output
from trtperf.parity.tolerance import DISCRETE_AGREEMENT, cost_tolerance_for, faithful_tolerance_for
from trtperf.precision import precision_variant, tool_versions
from trtperf.prepare import prepare
from trtperf.spec import ModelSpec, Tolerance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/ and suites/ as packages: one copy of what they share
from bench.parity_power import tf32_emulation  # noqa: E402 - the bench's TF32 stand-in
from suites.zoo.test_zoo import spread_constant_parameters  # noqa: E402 - as the zoo spreads constants

DEFAULT_OUT = ROOT / "bench" / "results" / "agreement_floors-cpu"
BATCH = 2
SEQ = 16
VOCAB = 1000
IMAGE = 64
CLASSES = 21
PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "int8", "fp8")
TORCH_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

Outputs = dict[str, np.ndarray]

CLAIMS: dict[tuple[str, str], dict[str, float]] = {
    ("clip_text", "int8"): {"worst": 0.844, "mean": 0.942},
    ("convnext_seg", "int8"): {"worst": 0.984},
    ("clip_text", "bf16"): {"worst": 0.875, "mean": 0.969},
    ("convnext_seg", "bf16"): {"worst": 0.998},
    ("clip_text", "fp16"): {"worst": 1.0},
    ("convnext_seg", "fp16"): {"worst": 0.998},
}
"""The module docstring of trtperf/parity/tolerance.py, "Integer and boolean outputs" (plain agreement against
fp32; int8 by ONNX Runtime, bf16 by torch on the CPU): printed beside the measurements, never used by them."""


# ---- the models ------------------------------------------------------------------------------

def _transformers() -> Any:
    """``transformers``, untyped (as the zoo imports it), its config warnings silenced (the held-out CLIP
    config keeps CLIP's default bos_token_id 49406 beyond its vocabulary of 1000: unused by the tower)."""
    module = importlib.import_module("transformers")
    module.logging.set_verbosity_error()
    return module


class ClipTextArgmax(nn.Module):
    """CLIP text tower; output: the per-token argmax over the channels of ``last_hidden_state`` (int64)."""

    def __init__(self) -> None:
        super().__init__()
        config = _transformers().CLIPTextConfig(
            vocab_size=VOCAB, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=64, eos_token_id=2, attn_implementation="eager")
        self.model = spread_constant_parameters(_transformers().CLIPTextModel(config)).eval()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        hidden: torch.Tensor = self.model(input_ids=input_ids, return_dict=True).last_hidden_state
        return hidden.argmax(-1)


class ConvNextSegArgmax(nn.Module):
    """ConvNeXt backbone, a 1x1 convolution to ``CLASSES`` classes on its first stage's features (1/4
    resolution); output: the per-pixel argmax (int64), at 1/4 resolution or upsampled (bilinear) to the input's."""

    def __init__(self, upsample: bool) -> None:
        super().__init__()
        config = _transformers().ConvNextConfig(hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 2, 1])
        self.backbone = _transformers().ConvNextModel(config).eval()
        self.classifier = nn.Conv2d(32, CLASSES, 1)
        self.upsample = upsample

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        result = self.backbone(pixel_values, output_hidden_states=True, return_dict=True)
        logits: torch.Tensor = self.classifier(result.hidden_states[1])
        if self.upsample:
            logits = F.interpolate(logits, size=tuple(pixel_values.shape[-2:]), mode="bilinear", align_corners=False)
        return logits.argmax(1)


def _clip_text() -> nn.Module:
    return ClipTextArgmax()


def _convnext_seg() -> nn.Module:
    return ConvNextSegArgmax(upsample=False)


def _convnext_seg_up() -> nn.Module:
    return ConvNextSegArgmax(upsample=True)


def model_specs() -> list[ModelSpec]:
    """The three models as trtperf declarations (seed 0: ``ModelSpec.build_module`` seeds torch with it)."""
    text = [InputSpec("input_ids", ("batch", "seq"), dtype="int64", low=0, high=VOCAB)]
    image = [InputSpec("pixel_values", ("batch", 3, IMAGE, IMAGE), low=-2.0, high=2.0)]
    common: dict[str, Any] = {"batches": (BATCH,), "precisions": PRECISIONS}
    return [
        trtperf.model(inputs=text, outputs=["token_ids"], dims={"seq": (SEQ,)}, name="clip_text",
                      **common)(_clip_text),
        trtperf.model(inputs=image, outputs=["class_ids"], name="convnext_seg", **common)(_convnext_seg),
        trtperf.model(inputs=image, outputs=["class_ids"], name="convnext_seg_up", **common)(_convnext_seg_up),
    ]


def dims_of(spec: ModelSpec) -> dict[str, int]:
    """The one value of each named axis (``{"seq": 16}`` for the text tower)."""
    return {axis: values[0] for axis, values in spec.dims.items()}


# ---- engines -----------------------------------------------------------------------------------

def torch_engine(module: nn.Module, spec: ModelSpec, precision: str, mode: str) -> Callable[[Outputs], Outputs]:
    """``mode``: ``eager`` (fp32), ``tf32emu`` (fp32 with TF32-rounded matmul/convolution inputs), ``cast`` (a
    copy of the module ``.to(dtype)``, float inputs too) or ``autocast`` (``torch.autocast("cpu", dtype)``)."""
    dtype = TORCH_DTYPES[precision]
    run_module = copy.deepcopy(module).to(dtype) if mode == "cast" else module

    def run(inputs: Outputs) -> Outputs:
        tensors = []
        for item in spec.inputs:
            t = torch.from_numpy(np.ascontiguousarray(inputs[item.name]))
            tensors.append(t.to(dtype) if mode == "cast" and t.is_floating_point() else t)
        context: contextlib.AbstractContextManager[Any] = (
            torch.autocast("cpu", dtype=dtype) if mode == "autocast"
            else tf32_emulation() if mode == "tf32emu" else contextlib.nullcontext())
        with torch.no_grad(), context:
            result = run_module(*tensors)
        values = [result] if isinstance(result, torch.Tensor) else list(result)
        return {name: v.detach().float().numpy() if v.is_floating_point() else v.numpy()
                for name, v in zip(spec.outputs, values, strict=True)}

    return run


def session_engine(path: Path) -> Callable[[Outputs], Outputs]:
    session = reference_session(path)
    return lambda inputs: run_session(session, inputs)


# ---- measurement ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Row:
    """One engine's ids on one model at one precision, against one reference, per batch."""

    model: str
    output: str
    precision: str
    engine: str
    against: str
    """``fp32`` (the cost check's reference) or ``variant`` (ONNX Runtime on the same variant: faithful)."""
    check: str
    """Which of trtperf's checks judges it with its default tolerance: ``cost`` or ``faithful``."""
    elements: int
    floor: float
    agreement: list[float] = dataclasses.field(default_factory=list)
    majority: list[float] = dataclasses.field(default_factory=list)
    beyond_majority: list[float] = dataclasses.field(default_factory=list)
    differing: list[int] = dataclasses.field(default_factory=list)
    passed: list[bool] = dataclasses.field(default_factory=list)

    def add(self, got: np.ndarray, ref: np.ndarray, tolerance: Tolerance) -> None:
        agree = float(np.mean(got.astype(np.int64) == ref.astype(np.int64)))
        score, majority = agreement_score(agree, ref.astype(np.int64))
        self.agreement.append(agree)
        self.majority.append(majority)
        self.beyond_majority.append(score)
        self.differing.append(int(np.sum(got.astype(np.int64) != ref.astype(np.int64))))
        self.passed.append(compare_output(self.output, got, ref, tolerance).passed)

    def summary(self) -> dict[str, float]:
        worst = min(self.beyond_majority)
        worst_plain = min(self.agreement)
        allowed = 1.0 - self.floor
        return {
            "batches": len(self.agreement),
            "worst": worst_plain,
            "mean": float(np.mean(self.agreement)),
            "worst_beyond_majority": worst,
            "mean_beyond_majority": float(np.mean(self.beyond_majority)),
            "majority_min": min(self.majority),
            "majority_max": max(self.majority),
            "differing_total": sum(self.differing),
            "floor": self.floor,
            "headroom": worst - self.floor,
            "margin": allowed / (1.0 - worst) if worst < 1.0 else math.inf,
            "margin_plain": allowed / (1.0 - worst_plain) if worst_plain < 1.0 else math.inf,
            "passed": sum(self.passed),
        }


@dataclasses.dataclass
class Measured:
    rows: list[Row]
    notes: list[str]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:240]}" if text else type(exc).__name__


def measure_model(spec: ModelSpec, precisions: list[str], batches: int, cache: ArtifactCache, settings: Settings,
                  log: Callable[[str], None]) -> Measured:
    """Every engine of every precision of ``spec`` on seeds 0..batches-1 (see the module docstring)."""
    dims = dims_of(spec)
    case_dims = tuple(sorted(dims.items()))
    output = spec.outputs[0]
    notes: list[str] = []

    def case(precision: str) -> Case:
        return Case(model=spec.name, backend="onnxruntime", precision=precision, batch=BATCH, streams=1,
                    dims=case_dims)

    fp32 = prepare(spec, case("fp32"), settings, cache)
    reference = session_engine(fp32.fp32.path)
    module = spec.build_module().requires_grad_(False)
    # (precision, engine name, backend its defaults are for, run, the variant reference or None)
    engines: list[tuple[str, str, str, Callable[[Outputs], Outputs], Callable[[Outputs], Outputs] | None]] = []
    loaded: list[Any] = []
    for precision in precisions:
        if precision in ("fp32", "fp16", "int8"):
            prepared = prepare(spec, case(precision), settings, cache)
            notes += [f"{spec.name} {precision}: {n}" for n in prepared.notes]
            engine = prepared.load()
            loaded.append(engine)
            variant = (session_engine(prepared.variant.path)
                       if prepared.variant.meta["sha256"] != prepared.fp32.meta["sha256"] else None)
            if variant is not None:
                engines.append((precision, "ort-reference", "onnxruntime", variant, None))
            engines.append((precision, "onnxruntime", "onnxruntime", engine.infer, variant))
        if precision in ("bf16", "fp8"):  # no onnxruntime engine: the variant's reference, where ORT runs it
            entry = precision_variant(spec, fp32.fp32, precision, cache, dims=dims)
            try:
                session = session_engine(entry.path)
                session(make_inputs(spec, BATCH, 0, dims))
                engines.append((precision, "ort-reference", "onnxruntime", session, None))
            except Exception as exc:  # ONNX Runtime's CPU provider has no bf16 kernels (NOT_IMPLEMENTED)
                notes.append(f"{spec.name} {precision}: ONNX Runtime cannot run trtperf's {precision} variant: "
                             f"{_first_line(exc)}")
        if precision == "fp32":
            engines.append((precision, "torch", "torch", torch_engine(module, spec, precision, "eager"), None))
        if precision == "tf32":  # judged as the GPU backends' fp32 with TF32 on
            engines.append((precision, "torch-tf32emu", "tensorrt", torch_engine(module, spec, precision, "tf32emu"),
                            None))
        if precision in ("fp16", "bf16"):
            for mode in ("cast", "autocast"):
                engines.append((precision, f"torch-{mode}", "torch", torch_engine(module, spec, precision, mode),
                                None))
    rows: dict[tuple[str, str, str], Row] = {}
    failed: set[tuple[str, str]] = set()
    elements = 0
    for seed in range(batches):
        inputs = make_inputs(spec, BATCH, seed, dims)
        ref = reference(inputs)[output]
        elements = int(ref.size)
        for precision, name, backend, run, variant_run in engines:
            if (precision, name) in failed:
                continue
            try:
                got = run(inputs)[output]
            except Exception as exc:  # e.g. an op without a CPU kernel in this dtype: recorded, not fatal
                failed.add((precision, name))
                notes.append(f"{spec.name} {precision} {name}: cannot run: {_first_line(exc)}")
                continue
            checks = [("fp32", "cost", ref, cost_tolerance_for(spec, precision, output, backend))]
            if variant_run is not None:
                checks.append(("variant", "faithful", variant_run(inputs)[output],
                               faithful_tolerance_for(spec, precision, output, backend)))
            for against, check, expected, tolerance in checks:
                key = (precision, name, against)
                if key not in rows:
                    floor = tolerance.min_agreement if tolerance.min_agreement is not None else 1.0
                    if floor != DISCRETE_AGREEMENT[precision]:
                        notes.append(f"{spec.name} {precision} {name}: the {check} tolerance's floor {floor} differs "
                                     f"from DISCRETE_AGREEMENT[{precision!r}] = {DISCRETE_AGREEMENT[precision]}")
                    rows[key] = Row(spec.name, output, precision, name, against, check, elements, floor)
                rows[key].add(got, expected, tolerance)
        log(f"  {spec.name} seed {seed}: " + " ".join(
            f"{p}/{e}{'' if a == 'fp32' else '~v'} {r.agreement[-1]:.3f}" for (p, e, a), r in rows.items()
            if len(r.agreement) == seed + 1))
    for engine in loaded:
        engine.close()
    order = {p: i for i, p in enumerate(PRECISIONS)}
    return Measured(sorted(rows.values(), key=lambda r: (order[r.precision], r.engine, r.against)), notes)


# ---- report --------------------------------------------------------------------------------------

def _fmt_margin(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}x"


def table(rows: list[Row]) -> list[str]:
    lines = [f"{'model':15} {'prec':4} {'engine':14} {'vs':7} {'ids':>5} | {'plain worst':>11} {'mean':>6} | "
             f"{'beyond-majority worst':>21} {'mean':>6} | {'majority':>11} | {'floor':>5} {'headroom':>8} "
             f"{'margin':>7} {'(plain)':>8} | {'default check':>13}"]
    for r in rows:
        s = r.summary()
        lines.append(
            f"{r.model:15} {r.precision:4} {r.engine:14} {r.against:7} {r.elements:5} | {s['worst']:11.3f} "
            f"{s['mean']:6.3f} | {s['worst_beyond_majority']:21.3f} {s['mean_beyond_majority']:6.3f} | "
            f"{s['majority_min']:.3f}-{s['majority_max']:.3f} | {r.floor:5.2f} {s['headroom']:8.3f} "
            f"{_fmt_margin(s['margin']):>7} {_fmt_margin(s['margin_plain']):>8} | "
            f"{r.check} {int(s['passed'])}/{int(s['batches'])}".rstrip())
    return lines


def claims_comparison(rows: list[Row]) -> list[str]:
    lines = ["Docstring (trtperf/parity/tolerance.py; plain agreement vs fp32) vs this run:"]
    for (model, precision), claim in CLAIMS.items():
        measured = [r for r in rows if r.model == model and r.precision == precision and r.against == "fp32"]
        said = ", ".join(f"{k} {v:.3f}" for k, v in claim.items())
        if not measured:
            lines.append(f"  {model} {precision}: docstring {said}; not measured in this run")
            continue
        now = "; ".join(f"{r.engine} worst {r.summary()['worst']:.3f} mean {r.summary()['mean']:.3f} "
                        f"(seed 0: {r.agreement[0]:.3f})" for r in measured)
        lines.append(f"  {model} {precision}: docstring {said} | now: {now}")
    return lines


def floors(rows: list[Row]) -> list[str]:
    """Per precision: the floor, the smallest margin of any model and engine, and the batches failed."""
    lines = ["Per precision, over every model and engine (fp32 and variant references):",
             f"  {'prec':4} {'floor':>5} | {'worst beyond-majority':>21} {'worst plain':>11} | {'smallest margin':>15} "
             f"{'(plain)':>8} | {'checks failed':>13} | where the margin is smallest"]
    for precision in PRECISIONS:
        mine = [r for r in rows if r.precision == precision]
        if not mine:
            continue
        tightest = min(mine, key=lambda r: r.summary()["margin"])
        s = tightest.summary()
        failed = sum(len(r.passed) - sum(r.passed) for r in mine)
        checks = sum(len(r.passed) for r in mine)
        lines.append(
            f"  {precision:4} {DISCRETE_AGREEMENT[precision]:5.2f} | "
            f"{min(r.summary()['worst_beyond_majority'] for r in mine):21.3f} "
            f"{min(r.summary()['worst'] for r in mine):11.3f} | {_fmt_margin(s['margin']):>15} "
            f"{_fmt_margin(min(r.summary()['margin_plain'] for r in mine)):>8} | {failed:>5} of {checks:<5} | "
            f"{tightest.model} {tightest.engine} vs {tightest.against}")
    return lines


def render(rows: list[Row], notes: list[str], meta: Mapping[str, Any]) -> str:
    header = (f"Agreement of integer outputs with the fp32 reference, {meta['batches']} batches (seeds "
              f"0..{meta['batches'] - 1}, batch {BATCH}); 'beyond-majority' = (a - m) / (1 - m), m = the share of "
              f"the reference's most common value, what DISCRETE_AGREEMENT's floors judge; margin = "
              f"(1 - floor) / (1 - worst beyond-majority), (plain) the same with plain agreement; 'vs variant' = "
              f"the engine against ONNX Runtime on the same variant (faithful); default check = batches that "
              f"trtperf's check passes with the default tolerance.")
    return "\n".join([header, "", *table(rows), "", *floors(rows), "", *claims_comparison(rows), "",
                      *(["Notes:", *(f"  {n}" for n in notes)] if notes else [])])


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("trtperf", "torch", "transformers", "onnx", "onnxruntime", "onnxconverter-common", "ml_dtypes",
                 "numpy"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "absent"
    return found


def write_results(out: Path, rows: list[Row], notes: list[str], meta: Mapping[str, Any]) -> str:
    text = render(rows, notes, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary_rows = [{**dataclasses.asdict(r), "summary": r.summary()} for r in rows]
    out.with_suffix(".json").write_text(json.dumps(
        {"meta": dict(meta), "floors": DISCRETE_AGREEMENT, "docstring_claims": {f"{m} {p}": c for (m, p), c in
                                                                                CLAIMS.items()},
         "notes": notes, "rows": summary_rows}, indent=1, default=str) + "\n")
    out.with_suffix(".txt").write_text(f"{json.dumps(dict(meta), default=str)}\n{text}\n")
    return text


@contextlib.contextmanager
def cache_dir(given: Path | None) -> Iterator[Path]:
    """``given``, or a temporary folder removed afterwards (every export and variant made fresh)."""
    if given is not None:
        yield given
        return
    path = Path(tempfile.mkdtemp(prefix="trtperf-agreement-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=10, help="seeded batches per model (seeds 0..N-1)")
    parser.add_argument("--models", default="", help="comma-separated: clip_text, convnext_seg, convnext_seg_up "
                                                     "(default: all)")
    parser.add_argument("--precisions", default=",".join(PRECISIONS),
                        help="comma-separated (default: all; fp32 is a control)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="trtperf cache (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="writes OUT.json and OUT.txt")
    args = parser.parse_args(argv)
    specs = model_specs()
    wanted = [m for m in args.models.split(",") if m]
    unknown = sorted(set(wanted) - {s.name for s in specs})
    if unknown:
        parser.error(f"unknown --models {unknown}; known: {[s.name for s in specs]}")
    precisions = [p for p in args.precisions.split(",") if p]
    if set(precisions) - set(PRECISIONS):
        parser.error(f"--precisions: choose from {list(PRECISIONS)}")
    if args.batches < 1:
        parser.error("--batches must be at least 1")
    started = time.time()
    device = cpu_device()
    meta: dict[str, Any] = {
        "command": "python bench/agreement_floors.py" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None
                                                                                  else argv)),
        "device": device.to_json(), "versions": versions(), "variant_tools": tool_versions(),
        "batches": args.batches, "batch": BATCH, "seeds": f"0..{args.batches - 1}",
        "torch_threads": torch.get_num_threads(), "precisions": precisions,
    }
    rows: list[Row] = []
    notes: list[str] = []
    with cache_dir(args.cache_dir) as folder:
        cache = ArtifactCache(folder)
        settings = Settings(cache_dir=folder, no_timing=True)
        for spec in specs:
            if wanted and spec.name not in wanted:
                continue
            print(f"{spec.name} (inputs {[list(i.shape) for i in spec.inputs]}, dims {dims_of(spec)})", flush=True)
            measured = measure_model(spec, precisions, args.batches, cache, settings,
                                     lambda line: print(line, flush=True))
            rows += measured.rows
            notes += measured.notes
    meta["seconds"] = round(time.time() - started, 1)
    print(write_results(args.out, rows, notes, meta))
    print(f"\nwrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.txt')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
