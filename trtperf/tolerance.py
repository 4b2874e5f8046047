"""Default parity tolerances per precision, and why.

fp32: the engine may reorder sums (fusions, other kernels); 1e-4 absolute / 1e-3 relative covers
  that for activations of order 1 while still catching a perturbed weight.
tf32: 10-bit mantissa in matmul/conv inputs, relative error about 1e-3 per product, growing with
  the reduction length: 1e-2 / 1e-2.
fp16: 10-bit mantissa end to end, plus fp16 accumulation where the engine picks it: 1e-2 / 1e-2,
  0.1 % of elements may exceed it (outliers near zero crossings).
bf16: 7-bit mantissa: 5e-2 / 5e-2, 1 % of elements may exceed it, cosine >= 0.999.
int8/fp8: elementwise error is dominated by quantization steps; judge by cosine similarity
  (>= 0.99) with a loose elementwise bound that only 5 % of elements may exceed.
"""

from __future__ import annotations

from trtperf.spec import Tolerance

DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(atol=1e-4, rtol=1e-3),
    "tf32": Tolerance(atol=1e-2, rtol=1e-2),
    "fp16": Tolerance(atol=1e-2, rtol=1e-2, max_mismatch=1e-3),
    "bf16": Tolerance(atol=5e-2, rtol=5e-2, max_mismatch=1e-2, min_cosine=0.999),
    "int8": Tolerance(atol=0.1, rtol=0.1, max_mismatch=0.05, min_cosine=0.99),
    "fp8": Tolerance(atol=0.1, rtol=0.1, max_mismatch=0.05, min_cosine=0.99),
}


def default_tolerance(precision: str) -> Tolerance:
    return DEFAULT_TOLERANCES[precision]
