"""Default parity tolerances per precision, for the two parity checks: the rule, its numbers, and why.

Every case is compared twice (see :mod:`trtperf.parity.compare`):

- **faithful**: the engine vs ONNX Runtime (CPU, no graph optimization) running the *same*
  variant ONNX. Both compute the same graph, so the difference is the engine's arithmetic:
  accumulation order, fused kernels, fp16 accumulation, requantization rounding.
- **cost**: the engine vs ONNX Runtime running the *fp32* ONNX. The difference is what the
  precision costs plus the engine's own error.

Both gate. Faithful failing means the engine computes another model, or the precision's own
arithmetic differs from ONNX Runtime's CPU reference, which computes fp16 mostly in fp32 (overflow
is ruled out first by the range pre-flight); cost failing means the precision (or its
calibration) damages the model more than allowed. Where ONNX Runtime cannot
run the variant (bf16 on the CPU), only the cost check exists and it alone gates. For fp32 and
tf32 the variant is the fp32 ONNX: one comparison.

The rule (issue 11): errors are judged against the scale of each output, not raw element values.
With ``rms`` the root mean square of the reference output, an output passes when

1. elementwise, ``|got - ref| <= atol + rtol*|ref| + rms_atol*rms`` for all but a ``max_mismatch``
   fraction of elements (``rtol = rms_atol`` in the defaults: the bound is ``c * (rms + |ref|)``), and
2. its relative L2 error ``||got - ref|| / ||ref||`` is at most ``max_rel_l2``;
3. faithful checks below fp32 scale both bounds with the precision's own error on this model and
   input, ``eps`` = the relative L2 distance of the variant's reference from the fp32 reference
   (``precision_error_factor``): relative L2 up to ``max(max_rel_l2, 3 eps)``, elementwise up to
   ``max(rms_atol, 5 * 3 eps) * rms`` (:data:`trtperf.parity.PEAK_TO_RMS`: the largest of many
   rounding errors is about 5 times their RMS); fp16 with 1.5 eps on onnxruntime (the variant run by the
   reference's own runtime) and 4 eps on tensorrt (see "fp16 faithful" below);
4. fp32 on IEEE-fp32 backends (onnxruntime, torch) scales its relative L2 bound the other way, down
   to the model's own fp32 error ``e`` (ONNX Runtime's optimized run vs the reference):
   ``clamp(10 e, 1e-5, 3e-4)`` (``Tolerance.rel_l2_floor``), so a model that computes fp32 to 1e-6
   is not allowed a 3e-4 error. tf32, and fp32 on tensorrt (where TF32 may be on), scale the same way with
   the model's own TF32 error ``e``: ``clamp(5 e, 1e-4, 0.1)``.

Why scaled: deep models legitimately amplify rounding. On the zoo (suites/zoo, random weights,
bench/parity_power.py, docs/notes/issue-11.md) fp16 costs ResNet-50 a relative L2 error of 4.0e-2 and
SegFormer-B0 1.0e-3, 40x less; TensorRT-RTX on an H200 gave ResNet-50 fp32 logits (magnitude ~1) a
max abs error of 0.0237 with 34 % of elements outside the old atol=1e-4 + rtol=1e-3, BERT-base hidden
states 2.5e-3, ResNet-50 fp16 1.2 % of elements outside atol=rtol=1e-2. A fixed bound either fails
those correct engines or, raised by hand to pass ResNet-50, misses on SegFormer every fault whose
effect is below ResNet-50's fp16 noise (a 1.1x weight: effect 7e-3). Measuring ``eps`` from the
references makes the faithful check as tight as each model allows.

Numbers (measured maxima of correct engines on the zoo at small size, CPU, unless noted; the margin
is what the bound leaves above them):

fp32 (engines with IEEE fp32 arithmetic: onnxruntime, and torch, whose backend turns TF32 off for
  fp32 cases on a GPU as torch's own fp32 contract says): the relative L2 bound adapts to the model's
  own fp32 error ``e`` = the relative L2 distance of ONNX Runtime's optimized run (ORT_ENABLE_ALL: fused
  kernels, other summation orders) of the fp32 ONNX from the unoptimized reference, measured once per
  model, batch and input (cached with the references, in a child process): bound
  ``clamp(10 e, 1e-5, 3e-4)``; elementwise stays 1e-3 * (rms + |ref|), no element may exceed it.
  Measured on the zoo (small, CPU, batch 2; bench/results/parity_power-cpu-small-adaptive.txt): ``e`` =
  3.6e-5 (ResNet-50), 8.1e-6 (MobileNetV2), 1.2e-6 (ViT-B/16), 7.8e-7 (SegFormer-B0), 7.8e-7
  (BERT-base), 7.1e-7 (GPT-2); torch eager's error 0.93-1.55 e (worst ResNet-50: 5.6e-5, max
  |err|/rms 2.1e-4). k = 10 leaves 6.5x above that ratio for GPU kernels (not yet measured there);
  the floor 1e-5 is 8.8x the largest correct error on the transformers (1.14e-6, SegFormer-B0 torch)
  and covers a model the optimizer leaves unchanged (``e`` = 0: the example suites' MLP and
  transformer, where torch eager's error is 1.3e-7 to 4.9e-7); the cap 3e-4 is the fixed bound used
  before, still the bound where ``e`` is not measured. Bounds on the zoo: 3e-4 (ResNet-50, capped),
  8.1e-5 (MobileNetV2), 1.2e-5 (ViT-B/16), 1e-5 (the others). What it buys: a weight scaled by 1.01 in
  ViT-B/16, SegFormer-B0 or BERT-base moves the outputs by 2.9e-5 to 2.0e-4, 37-250x those models'
  own error but below the fixed 3e-4, which passed them; now all 74 zoo faults fail at fp32.
tf32, and fp32 on the tensorrt backend ("fp32 where TF32 may be on": TensorRT builds with TF32 by
  default, and TensorRT-RTX's fp32 engines compute in TF32 even with the flag cleared): the relative L2
  bound adapts to the model's own TF32 error ``e`` = the relative L2 distance from the reference of ONNX
  Runtime's run of the fp32 ONNX with every MatMul/Gemm/Conv input rounded to TF32 in the graph
  (:mod:`trtperf.parity.tf32`), cached like the references: bound ``clamp(5 e, 1e-4, 0.1)``; elementwise
  0.25 * (rms + |ref|), 0.1 % of elements may exceed it. The emulation predicts TensorRT-RTX: on an H100
  (batch 8, full size) its correct fp32 engines erred 2.148e-2 on ResNet-50 and 6.33e-4 on BERT-base, where
  ``e`` is 2.15e-2 and 6.29e-4 (other zoo models: MobileNetV2 1.3e-2, ViT-B/16 8.2e-4, SegFormer-B0
  7.4e-4, GPT-2 7.1e-4). The fixed 0.1 used before (from ResNet-50, the worst) let a GELU replaced by
  the identity in one BERT-base layer pass the fp32 case on that H100: 2.4e-2, 38 e
  (bench/results/h100-2026-12-07-s4/). 0.1 stays as the cap, and the bound where ``e`` is not measured.
fp16 cost: ONNX Runtime on trtperf's fp16 variant, relative L2 up to 4.2e-2; the whole module cast to
  fp16 in torch (norms and softmax too, harsher than any variant): 7.9e-2, max |err|/rms 0.25.
  Bound: relative L2 0.15, elementwise 0.5 * (rms + |ref|), 1 % may exceed it (a sanity cap: how much
  fp16 may cost; the faithful check catches faults).
fp16 faithful, by how the engine is made:
  - the variant ONNX run by ONNX Runtime itself (onnxruntime): the engine rounds the same tensors to fp16
    as the reference does and may skip some of those roundings (fused kernels keep intermediates in
    fp32) but adds none, so its distance from the reference is at most about the activation-rounding
    part of eps, i.e. below 1 eps. Measured: ONNX Runtime's optimized engine 0.005-0.67 eps (GPT-2
    worst; max |err|/rms up to 3.4 eps). Bound: relative L2 max(1e-3, 1.5 eps), elementwise
    max(5e-3, 7.5 eps) * rms + 5e-3 * |ref|, 0.1 % may exceed it.
  - TensorRT (strongly typed from the variant, but with its own kernels: batch norms folded into fp16
    weights, fp16 tensor-core GEMMs and convolutions): TensorRT-RTX 1.7.1 on an H200 (2026-12-07, the
    zoo at full size) gave ResNet-50's fp16 logits 2.7 eps (batch 1) and 2.9 eps (batch 32; relative L2
    0.051, eps 0.018), and 0.6-0.8 % of elements beyond 7.5 eps * rms: a correct engine that the 1.5 eps
    of the line above failed. Bound: relative L2 max(1e-3, 4 eps), elementwise max(5e-3, 20 eps) * rms.
  - a module cast to fp16 (torch, torch_compile): another precision assignment than the variant's (norms
    and softmax in fp16 too), so it rounds tensors the reference keeps in fp32: 1.2-2.3 eps measured
    (the torch cast on the CPU; MobileNetV2 worst). Bound: relative L2 max(1e-3, 3 eps), elementwise max(5e-3, 15 eps) *
    rms + 5e-3 * |ref|, 0.1 % may exceed it; the same for a backend not named here.
  Why two: with 3 eps for every engine, faults that move the outputs by 1.6-2.5 eps (ResNet-50's
  classifier weight x1.1, MobileNetV2's classifier bias zeroed, ViT-B/16 and GPT-2 weights) passed on
  onnxruntime, although four of them exceeded every correct engine's error on their model; with 1.5 eps
  on the same-graph engines all 62 such faults on the zoo fail (bench/results/parity_power-cpu-small-adaptive.txt).
bf16 (8 bits of mantissa: unit roundoff 3.9e-3, 8x fp16's): cost measured with the torch bf16 cast
  only (ONNX Runtime has no CPU bf16 kernels): relative L2 up to 0.34 on ResNet-50 (cosine 0.94; norms in
  bf16 too), 1.1e-2 to 1.6e-2 on the transformers. Bound: relative L2 0.5 and cosine >= 0.9,
  elementwise 1.5 * (rms + |ref|), 5 % may exceed it.
  Faithful (where a bf16 reference runs): relative L2 max(8e-3, 3 eps), as fp16 scaled by 8.
int8: one quantization step is amax/127 per tensor, so elementwise error is a step or a few of
  them wherever values are small relative to amax; elementwise error says little. The check is
  cosine >= 0.99 (measured 0.9998-0.99998 on the example suites) with a loose 0.1 / 0.1 bound that
  5 % of elements may exceed. Faithful: relative L2 max(0.045, 3 eps) (0.045 is cosine 0.999, the
  earlier bound), elementwise 5e-2 / 5e-2 raised to 15 eps * rms, 2 % may exceed. Measured on the zoo
  (ONNX Runtime's optimized int8 engine, which fuses Q/DQ into integer QLinear kernels, vs its own
  unoptimized Q/DQ graph): 0.82-0.93 eps, where eps (the int8 variant's own error) is 0.045-0.52; the
  fixed cosine 0.999 failed ViT-B/16 (faithful relative L2 0.049). The cost check fails ResNet-50 and
  MobileNetV2 int8 (cosine 0.87: random-weight CNNs lose that much to int8), rightly: it judges the
  precision, not the engine.
fp8 (E4M3): 3-bit mantissa, relative step 1/16 at every quantized tensor: cosine >= 0.98
  (measured 0.997-0.9997 on the example suites) and the same loose elementwise bound, 10 % may exceed
  it; faithful relative L2 max(0.1, 3 eps) (0.1 is cosine 0.995), 5e-2 / 5e-2 for 5 %, as int8. Not
  measured on the zoo (no CPU fp8 engine).

Classifier outputs: use :func:`classifier_tolerance`, which adds top-k agreement (ranking is what
a classifier's user sees; a logit moving by one int8 step is not).

Integer and boolean outputs (class ids, masks, top-k indices) are compared element by element: exactly at IEEE
fp32, and below it by the fraction that agrees (``Tolerance.min_agreement``, :data:`DISCRETE_AGREEMENT`). An
argmax or a threshold flips wherever the values it decides between lie closer than the precision's error, so a
correct engine below fp32 disagrees in places, and how often depends on the data's margins, which trtperf
cannot see. Measured by bench/agreement_floors.py (bench/results/agreement_floors-cpu.txt) on random-weight
models (their near-ties make them the worst case) against fp32, 10 and 20 seeded batches: a CLIP text tower's
per-token argmax over 128 channels (32 ids a batch) and a ConvNeXt segmentation head's per-pixel class (512 and
8192 ids). Worst agreement beyond the most common value: fp16 0.9375 (ONNX Runtime on trtperf's variant: 1 of
32 ids, where the most common id is half of them; torch's fp16 cast 0.941), TF32 (torch, inputs rounded)
0.9375, bf16 (torch) 0.905, int8 (ONNX Runtime, static Q/DQ) 0.789, fp8 (E4M3 Q/DQ) 0.625, all on the CLIP
tower; the ConvNeXt head 0.89 (fp8) to 0.998 (fp16). The floors leave 2-3.2x that worst disagreement: fp16 and
TF32 0.8, bf16 0.7, int8 0.4, fp8 0.25 (the 0.95/0.75/0.7 used before failed correct fp16, TF32 and fp8 engines
on the CLIP tower). An output too small for one flip to stay above its floor (a batch-1 class id, 1 of 4 ids
where the most common is half) is in effect compared exactly: a near tie there is indistinguishable from a wrong
answer, so a model whose ids sit on near ties declares its own fraction. The floors count agreement beyond the
reference's most common value
(``Tolerance.chance_corrected``: (a - m) / (1 - m)), so an engine answering a constant fails even where one
value dominates (a mask that is 80 % False, a segmentation that is 85 % background), as do unrelated ids
(agreement near 0): they catch ids wrong wholesale, while the float outputs' checks catch subtler faults.
Declare ``Tolerance(min_agreement=...)`` to tighten or loosen an output; a declaration that leaves it unset
keeps these defaults.
"""

from __future__ import annotations

import dataclasses

from trtperf.precisions import TABLE
from trtperf.spec import ModelSpec, Tolerance


def _scaled(c: float, max_rel_l2: float, max_mismatch: float, min_cosine: float | None = None) -> Tolerance:
    """``|err| <= 1e-6 + c * (rms + |ref|)`` for all but ``max_mismatch``, relative L2 <= ``max_rel_l2``."""
    return Tolerance(atol=1e-6, rtol=c, rms_atol=c, max_mismatch=max_mismatch, max_rel_l2=max_rel_l2,
                     min_cosine=min_cosine)


FP32_OWN_ERROR_FACTOR = 10.0
"""k of the adaptive fp32 bound: 6.5x the largest measured ratio of a correct IEEE-fp32 engine's error to the
model's own fp32 error (torch eager on ResNet-50: 5.57e-5 / 3.60e-5 = 1.55; see the module docstring)."""
FP32_REL_L2_FLOOR = 1e-5
"""The adaptive fp32 bound's floor (relative L2): 8.8x the largest correct fp32 error measured on the zoo's
transformers (torch eager on SegFormer-B0: 1.14e-6), for a model whose optimizer run changes nothing (own error
0) and for GPU kernels whose summation order differs more than the CPU's."""
FP32_REL_L2_CAP = 3e-4
"""The adaptive fp32 bound's cap: the fixed bound used before (7x ResNet-50's 4.4e-5)."""

TF32_OWN_ERROR_FACTOR = 5.0
"""k of the adaptive TF32 bound: 4.3x the largest measured ratio of a correct TF32 engine's error to the model's
own TF32 error (TensorRT-RTX 1.7.1 fp32 on an H100, batch 8: ResNet-50 2.148e-2 / 2.15e-2 = 1.0, BERT-base
6.33e-4 / 6.29e-4 = 1.01; see the module docstring)."""
TF32_REL_L2_FLOOR = 1e-4
"""The adaptive TF32 bound's floor (relative L2): about a third of one TF32 rounding's relative error (unit
roundoff 4.9e-4), for models whose matrix products the emulation does not see or that barely move the outputs."""

TF32 = dataclasses.replace(_scaled(0.25, 0.1, 1e-3), precision_error_factor=TF32_OWN_ERROR_FACTOR,
                           rel_l2_floor=TF32_REL_L2_FLOOR)

DISCRETE_AGREEMENT: dict[str, float] = {"fp32": 1.0, "tf32": 0.8, "fp16": 0.8, "bf16": 0.7, "int8": 0.4,
                                         "fp8": 0.25}
"""Default fraction of an integer/boolean output's elements that must agree, per precision (cost and faithful
checks alike): exact at IEEE fp32; below it, see the module docstring ("Integer and boolean outputs")."""


def _discrete(tolerances: dict[str, Tolerance]) -> dict[str, Tolerance]:
    return {k: dataclasses.replace(t, min_agreement=DISCRETE_AGREEMENT[k], chance_corrected=DISCRETE_AGREEMENT[k] < 1)
            for k, t in tolerances.items()}


def _discrete_default(tolerance: Tolerance, default: Tolerance) -> Tolerance:
    """A declared tolerance that leaves ``min_agreement`` unset (None) takes the default's for integer outputs:
    loosening a float bound with ``"int8:"`` or ``""`` must not make class ids exact again."""
    if tolerance.min_agreement is not None:
        return tolerance
    return dataclasses.replace(tolerance, min_agreement=default.min_agreement,
                               chance_corrected=default.chance_corrected)


COST_TOLERANCES: dict[str, Tolerance] = _discrete({
    "fp32": dataclasses.replace(_scaled(1e-3, FP32_REL_L2_CAP, 0.0), precision_error_factor=FP32_OWN_ERROR_FACTOR,
                                rel_l2_floor=FP32_REL_L2_FLOOR),
    "tf32": TF32,
    "fp16": _scaled(0.5, 0.15, 1e-2),
    "bf16": _scaled(1.5, 0.5, 5e-2, min_cosine=0.9),
    "int8": Tolerance(atol=0.1, rtol=0.1, max_mismatch=0.05, min_cosine=0.99),
    "fp8": Tolerance(atol=0.1, rtol=0.1, max_mismatch=0.10, min_cosine=0.98),
})

FAITHFUL_TOLERANCES: dict[str, Tolerance] = _discrete({
    "fp32": COST_TOLERANCES["fp32"],
    "tf32": COST_TOLERANCES["tf32"],
    "fp16": Tolerance(atol=1e-6, rtol=5e-3, rms_atol=5e-3, max_mismatch=1e-3, max_rel_l2=1e-3,
                      precision_error_factor=3.0),
    "bf16": Tolerance(atol=1e-6, rtol=4e-2, rms_atol=4e-2, max_mismatch=1e-3, max_rel_l2=8e-3,
                      precision_error_factor=3.0),
    "int8": Tolerance(atol=5e-2, rtol=5e-2, max_mismatch=0.02, max_rel_l2=0.045, precision_error_factor=3.0),
    "fp8": Tolerance(atol=5e-2, rtol=5e-2, max_mismatch=0.05, max_rel_l2=0.1, precision_error_factor=3.0),
})

SAME_GRAPH_BACKENDS = frozenset({"onnxruntime"})
"""Backends whose engines run the variant ONNX with the reference's own runtime: their faithful error is the
kernels' own (fusions, summation order). TensorRT was here until the H200 run (see "fp16 faithful")."""

TENSORRT_FP16_FACTOR = 4.0
"""fp16's faithful factor on tensorrt: measured 2.7-2.9 eps on a correct TensorRT-RTX ResNet-50 (H200)."""

SAME_GRAPH_FP16_FACTOR = 1.5
"""fp16's faithful factor for :data:`SAME_GRAPH_BACKENDS` (module-cast engines such as torch keep 3): see the
module docstring, "fp16 faithful"."""

SAME_GRAPH_FAITHFUL: dict[str, Tolerance] = {
    "fp16": dataclasses.replace(FAITHFUL_TOLERANCES["fp16"], precision_error_factor=SAME_GRAPH_FP16_FACTOR),
}

DEFAULT_TOLERANCES = COST_TOLERANCES
"""The cost tolerances under their historical name."""

TF32_BACKENDS = frozenset({"tensorrt"})
"""Backends whose fp32 engines may compute in TF32: their fp32 cases get the tf32 defaults."""


def default_precision(precision: str, backend: str | None = None) -> str:
    """The key of the default tolerances for ``precision`` on ``backend`` (fp32 on TensorRT: tf32)."""
    return "tf32" if precision == "fp32" and backend in TF32_BACKENDS else precision


FAITHFUL_PREFIX = "faithful:"


def default_tolerance(precision: str, backend: str | None = None) -> Tolerance:
    """The cost tolerance of ``precision`` (engine vs the fp32 reference) on ``backend``."""
    return COST_TOLERANCES[default_precision(precision, backend)]


def faithful_tolerance(precision: str, backend: str | None = None) -> Tolerance:
    """The faithful tolerance of ``precision`` (engine vs ONNX Runtime on the same variant) on ``backend``
    (fp16 on a backend of :data:`SAME_GRAPH_BACKENDS`: the tighter :data:`SAME_GRAPH_FAITHFUL`)."""
    if backend in SAME_GRAPH_BACKENDS and precision in SAME_GRAPH_FAITHFUL:
        return SAME_GRAPH_FAITHFUL[precision]
    if backend == "tensorrt" and precision == "fp16":
        return dataclasses.replace(FAITHFUL_TOLERANCES["fp16"], precision_error_factor=TENSORRT_FP16_FACTOR)
    return FAITHFUL_TOLERANCES[default_precision(precision, backend)]


def classifier_tolerance(precision: str, top_k: int = 1, min_agreement: float = 1.0) -> Tolerance:
    """``precision``'s cost tolerance for class scores: top-k agreement decides, not logit values.

    Below fp32 the elementwise bound is reported but any fraction may exceed it
    (``max_mismatch=1``); cosine (at least 0.999) stays, so scores that keep their order but
    collapse still fail.
    """
    base = COST_TOLERANCES[precision]
    if TABLE[precision].variant == "none":
        return dataclasses.replace(base, top_k=top_k, min_top_k_agreement=min_agreement)
    return dataclasses.replace(base, max_mismatch=1.0, min_cosine=base.min_cosine or 0.999, top_k=top_k,
                               min_top_k_agreement=min_agreement)


def _with_model_options(spec: ModelSpec, output: str, tolerance: Tolerance) -> Tolerance:
    """The model-level ``allow_nonfinite=`` declaration applies on top of any tolerance."""
    if output in spec.allow_nonfinite and not tolerance.allow_nonfinite:
        return dataclasses.replace(tolerance, allow_nonfinite=True)
    return tolerance


def cost_tolerance_for(spec: ModelSpec, precision: str, output: str, backend: str | None = None) -> Tolerance:
    """Declared ``"int8:out"``, ``"int8:"``, ``"out"``, ``""`` (in that order), else the default
    (for ``backend``: see :func:`default_precision`)."""
    default = default_tolerance(precision, backend)
    declared = _discrete_default(spec.tolerance_for(precision, output, default), default)
    return _with_model_options(spec, output, declared)


def faithful_tolerance_for(spec: ModelSpec, precision: str, output: str, backend: str | None = None) -> Tolerance:
    """Declared ``"faithful:int8:out"``, ``"faithful:int8:"`` (in that order), else the default."""
    default = faithful_tolerance(precision, backend)
    for key in (f"{FAITHFUL_PREFIX}{precision}:{output}", f"{FAITHFUL_PREFIX}{precision}:"):
        if key in spec.tolerances:
            return _with_model_options(spec, output, _discrete_default(spec.tolerances[key], default))
    return _with_model_options(spec, output, default)
