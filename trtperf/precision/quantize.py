"""int8 and fp8 variants by post-training quantization into Q/DQ nodes that TensorRT accepts.

int8: onnxruntime.quantization.quantize_static (already a dependency; maintained with ONNX
Runtime) in QDQ format with the settings NVIDIA ModelOpt uses for TensorRT: symmetric
activations and weights (zero point 0), per-channel weights, max calibration, and bias left in
fp32 (``QuantizeBias=False``: TensorRT-RTX's parser rejects int32 bias). Only the inputs of
Conv/ConvTranspose/Gemm/MatMul are quantized, which is where TensorRT places int8 kernels; other
ops run in fp32 between the DQ and the next Q.

fp8 (E4M3): ONNX Runtime's fp8 path only offers its "Distribution" calibrator, which produced
negative scales here (TensorRT-RTX refuses them) and crashed on the transformer. So the fp8
variant is the int8 variant retargeted: the same max calibration, every scale multiplied by
127/448 (E4M3's largest finite value is 448), zero points of type FLOAT8E4M3FN, opset >= 19.
That is ModelOpt's fp8 recipe (amax / 448) on ONNX Runtime's calibrator.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from trtperf.onnx_io import QDQ_OPS
from trtperf.precision.calibration import Batch, CalibrationSet
from trtperf.precision.support import QUANTIZED_OPS

INT8_MAX = 127.0
E4M3_MAX = 448.0
FP8_OPSET = 19



def extra_options() -> dict[str, Any]:
    """quantize_static's extra_options for TensorRT-style Q/DQ (see the module docstring)."""
    return {
        "ActivationSymmetric": True,
        "WeightSymmetric": True,
        "QuantizeBias": False,
        "AddQDQPairToWeight": True,
        "DedicatedQDQPair": False,
        "ForceQuantizeNoInputCheck": True,
        "QDQOpTypePerChannelSupportToAxis": {"Conv": 0, "ConvTranspose": 1},
        "QDQDisableWeightAdjustForInt32Bias": True,
    }


class _Reader:
    """The calibration data reader quantize_static asks for: ``get_next()`` until None."""

    def __init__(self, batches: tuple[Batch, ...]) -> None:
        self._it: Iterator[Batch] = iter(batches)

    def get_next(self) -> Batch | None:
        return next(self._it, None)

    def rewind(self) -> None:  # pragma: no cover - only some calibrators call it
        pass


@contextmanager
def _quiet_root_logger() -> Iterator[list[str]]:
    """onnxruntime.quantization logs to the root logger; keep its messages for the cache meta instead."""
    messages: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    root = logging.getLogger()
    handler = _Keep(logging.INFO)
    old_level, old_propagate_handlers = root.level, root.handlers[:]
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    try:
        yield messages
    finally:
        root.handlers = old_propagate_handlers
        root.setLevel(old_level)


def quantize_int8(fp32_path: Path, target: Path, calibration: CalibrationSet) -> dict[str, Any]:
    """Write the int8 Q/DQ variant of ``fp32_path`` to ``target``; returns notes for the cache meta."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="trtperf-quant-") as tmp, _quiet_root_logger() as messages:
        prepared = Path(tmp) / "prepared.onnx"
        # Shape inference and constant folding first, as ONNX Runtime's quantization guide asks.
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        out = Path(tmp) / "int8.onnx"
        quantize_static(
            str(prepared),
            str(out),
            _Reader(calibration.batches),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options=extra_options(),
        )
        target.write_bytes(out.read_bytes())
    return {"tool": "onnxruntime.quantization.quantize_static (QDQ, symmetric, per-channel, MinMax)",
            "quantized_ops": list(QUANTIZED_OPS), "calibration": calibration.source,
            "tool_log": messages[-20:]}


def retarget_int8_to_fp8(model: Any) -> Any:
    """Turn symmetric int8 Q/DQ into E4M3 Q/DQ in place: scale * 127/448, fp8 zero points, opset 19."""
    import onnx
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    scales: set[str] = set()
    zero_points: set[str] = set()
    for node in model.graph.node:
        if node.op_type in QDQ_OPS:
            scales.add(node.input[1])
            if len(node.input) > 2 and node.input[2]:
                zero_points.add(node.input[2])
    for name in scales:
        values = numpy_helper.to_array(inits[name])
        inits[name].CopyFrom(numpy_helper.from_array((values * (INT8_MAX / E4M3_MAX)).astype(values.dtype), name))
    for name in zero_points:
        zp = numpy_helper.to_array(inits[name])
        if np.any(zp != 0):
            raise ValueError(f"zero point {name!r} is not 0: the int8 variant is not symmetric")
        inits[name].CopyFrom(onnx.helper.make_tensor(name, onnx.TensorProto.FLOAT8E4M3FN, zp.shape,
                                                     bytes(zp.size), raw=True))
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < FP8_OPSET:
            opset.version = FP8_OPSET
    return model
