"""Which precisions a GPU can run, as a pure function for GPU backends' ``precision_unsupported``.

Sources: NVIDIA TensorRT support matrix (hardware precision per compute capability: FP16 from
5.3, INT8 from 6.1, TF32 and BF16 from 8.0 (Ampere), FP8 from 8.9 (Ada, Hopper)); TensorRT-RTX
1.7.1 on an H100 through the harness in shared/gpu/trt-rtx (int8 Q/DQ convolutions build, but
context creation fails: RTX's int8 is weight-only GEMM).
"""

from __future__ import annotations

from trtperf.precisions import TABLE

MIN_COMPUTE_CAPABILITY: dict[str, tuple[int, int]] = {p.name: p.min_compute_capability for p in TABLE.values()}


def gpu_precision_unsupported(precision: str, compute_capability: tuple[int, int] | None,
                              flavour: str = "tensorrt", has_conv: bool = False) -> str | None:
    """None when a GPU of ``compute_capability`` can run ``precision``, else why not.

    ``flavour`` "tensorrt_rtx" adds RTX's own limit (no int8 convolution) when ``has_conv``.
    ``compute_capability`` None (unknown device) is judged at build time, not here.
    """
    needed = MIN_COMPUTE_CAPABILITY.get(precision)
    if needed is None:
        return f"unknown precision {precision!r}"
    if compute_capability is not None and tuple(compute_capability) < needed:
        cc = ".".join(map(str, compute_capability))
        return (f"{precision} needs compute capability {needed[0]}.{needed[1]} or newer; this GPU has {cc}")
    if flavour == "tensorrt_rtx" and precision == "int8" and has_conv:
        return ("TensorRT-RTX has no int8 convolution kernels (its int8 is weight-only GEMM): int8 Q/DQ convolutions "
                "build but the execution context cannot be created; use full TensorRT for int8 CNNs")
    return None
