"""Default parity tolerances per precision, for the two parity checks, and why.

Every case is compared twice (see :mod:`trtperf.parity`):

- **faithful**: the engine vs ONNX Runtime (CPU, no graph optimization) running the *same*
  variant ONNX. Both compute the same graph, so the difference is the engine's arithmetic:
  accumulation order, fused kernels, fp16 accumulation, requantization rounding.
- **cost**: the engine vs ONNX Runtime running the *fp32* ONNX. The difference is what the
  precision costs plus the engine's own error.

Both gate. Faithful failing means the engine does not compute its model; cost failing means the
precision (or its calibration) damages the model more than allowed. Where ONNX Runtime cannot
run the variant (bf16 on the CPU), only the cost check exists and it alone gates.

Cost tolerances (engine vs fp32; declared ``tolerances=`` keys override them):

fp32: the engine may reorder sums (fusions, other kernels); 1e-4 absolute / 1e-3 relative covers
  that for activations of order 1 while still catching a perturbed weight.
tf32: 10-bit mantissa in matmul/conv inputs, relative error about 1e-3 per product, growing with
  the reduction length: 1e-2 / 1e-2.
fp16: 10-bit mantissa (unit roundoff 4.9e-4) in weights and activations, errors growing with
  depth and reduction length: 1e-2 / 1e-2, 0.1 % of elements may exceed it (near zero crossings).
bf16: 7-bit mantissa (unit roundoff 3.9e-3), 8x fp16's: 5e-2 / 5e-2, 1 % of elements may exceed
  it, and cosine >= 0.999 so a systematic drift cannot hide under the loose elementwise bound.
int8: one quantization step is amax/127 per tensor, so elementwise error is a step or a few of
  them wherever values are small relative to amax; elementwise error says little. The check is
  cosine >= 0.99 (measured 0.9998-0.99998 on the example suites) with a loose 0.1 / 0.1 bound that
  5 % of elements may exceed.
fp8 (E4M3): 3-bit mantissa, relative step 1/16 at every quantized tensor: cosine >= 0.98
  (measured 0.997-0.9997) and the same loose elementwise bound, 10 % may exceed it.

Faithful tolerances (engine vs ONNX Runtime on the same variant; keys ``"faithful:fp16:out"``,
``"faithful:fp16:"``):

fp32/tf32: the variant *is* the fp32 ONNX, so faithful and cost are one comparison (cost's).
fp16: both sides round the same tensors to fp16; left is accumulation order and fp16 vs fp32
  accumulation inside kernels: 1e-2 / 1e-2, 0.1 % may exceed it.
bf16: as its cost tolerance (ONNX Runtime's CPU cannot run it, so this rarely applies).
int8/fp8: the same scales on both sides; an engine that requantizes a value just across a rounding
  boundary moves it one step, and that propagates: cosine >= 0.999 / 0.995, elementwise 5e-2 / 5e-2
  for 2 % / 5 % of elements. An engine that ignores or misplaces a Q/DQ pair fails that.

Classifier outputs: use :func:`classifier_tolerance`, which adds top-k agreement (ranking is what
a classifier's user sees; a logit moving by one int8 step is not).
"""

from __future__ import annotations

import dataclasses

from trtperf.spec import ModelSpec, Tolerance

COST_TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(atol=1e-4, rtol=1e-3),
    "tf32": Tolerance(atol=1e-2, rtol=1e-2),
    "fp16": Tolerance(atol=1e-2, rtol=1e-2, max_mismatch=1e-3),
    "bf16": Tolerance(atol=5e-2, rtol=5e-2, max_mismatch=1e-2, min_cosine=0.999),
    "int8": Tolerance(atol=0.1, rtol=0.1, max_mismatch=0.05, min_cosine=0.99),
    "fp8": Tolerance(atol=0.1, rtol=0.1, max_mismatch=0.10, min_cosine=0.98),
}

FAITHFUL_TOLERANCES: dict[str, Tolerance] = {
    "fp32": COST_TOLERANCES["fp32"],
    "tf32": COST_TOLERANCES["tf32"],
    "fp16": Tolerance(atol=1e-2, rtol=1e-2, max_mismatch=1e-3),
    "bf16": COST_TOLERANCES["bf16"],
    "int8": Tolerance(atol=5e-2, rtol=5e-2, max_mismatch=0.02, min_cosine=0.999),
    "fp8": Tolerance(atol=5e-2, rtol=5e-2, max_mismatch=0.05, min_cosine=0.995),
}

DEFAULT_TOLERANCES = COST_TOLERANCES
"""The cost tolerances under their historical name."""

FAITHFUL_PREFIX = "faithful:"


def default_tolerance(precision: str) -> Tolerance:
    """The cost tolerance of ``precision`` (engine vs the fp32 reference)."""
    return COST_TOLERANCES[precision]


def faithful_tolerance(precision: str) -> Tolerance:
    """The faithful tolerance of ``precision`` (engine vs ONNX Runtime on the same variant)."""
    return FAITHFUL_TOLERANCES[precision]


def classifier_tolerance(precision: str, top_k: int = 1, min_agreement: float = 1.0) -> Tolerance:
    """``precision``'s cost tolerance for class scores: top-k agreement decides, not logit values.

    Below fp32 the elementwise bound is reported but any fraction may exceed it
    (``max_mismatch=1``); cosine (at least 0.999) stays, so scores that keep their order but
    collapse still fail.
    """
    base = COST_TOLERANCES[precision]
    if precision in ("fp32", "tf32"):
        return dataclasses.replace(base, top_k=top_k, min_top_k_agreement=min_agreement)
    return dataclasses.replace(base, max_mismatch=1.0, min_cosine=base.min_cosine or 0.999, top_k=top_k,
                               min_top_k_agreement=min_agreement)


def _with_model_options(spec: ModelSpec, output: str, tolerance: Tolerance) -> Tolerance:
    """The model-level ``allow_nonfinite=`` declaration applies on top of any tolerance."""
    if output in spec.allow_nonfinite and not tolerance.allow_nonfinite:
        return dataclasses.replace(tolerance, allow_nonfinite=True)
    return tolerance


def cost_tolerance_for(spec: ModelSpec, precision: str, output: str) -> Tolerance:
    """Declared ``"int8:out"``, ``"int8:"``, ``"out"``, ``""`` (in that order), else the default."""
    return _with_model_options(spec, output, spec.tolerance_for(precision, output, COST_TOLERANCES[precision]))


def faithful_tolerance_for(spec: ModelSpec, precision: str, output: str) -> Tolerance:
    """Declared ``"faithful:int8:out"``, ``"faithful:int8:"`` (in that order), else the default."""
    for key in (f"{FAITHFUL_PREFIX}{precision}:{output}", f"{FAITHFUL_PREFIX}{precision}:"):
        if key in spec.tolerances:
            return _with_model_options(spec, output, spec.tolerances[key])
    return _with_model_options(spec, output, FAITHFUL_TOLERANCES[precision])
