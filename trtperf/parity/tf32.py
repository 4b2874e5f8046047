"""TF32 emulated in an fp32 ONNX graph: the scale of a TF32 engine's error on a model, measured on the CPU.

TensorRT may run fp32 matrix multiplies and convolutions on TF32 tensor cores (TensorRT builds allow
TF32 by default; TensorRT-RTX's fp32 engines showed TF32-sized errors with it cleared: ResNet-50 2.1e-2
and BERT-base 6.3e-4 relative L2 on an H100, docs/notes/issue-11.md). TF32 keeps fp32's exponent and 10
of its 23 mantissa bits for those operators' inputs; everything else stays fp32. So the error a correct
TF32 engine makes depends on the model: a fixed bound loose enough for ResNet-50 (0.1) lets a fault move
BERT-base's outputs by 2.4 % (38x its TF32 error) unseen.

:func:`tf32_emulation` rounds every float input of MatMul, Gemm, Conv and ConvTranspose in the main
graph (and Einsum, Attention, LSTM/GRU/RNN) to TF32's 11 significant bits with Veltkamp's splitting,
in fp32 arithmetic that any ONNX runtime executes exactly: ``c = x * (2**13 + 1); hi = c - (c - x)``
rounds to nearest (T. J. Dekker, "A floating-point technique for extending the available precision",
Numer. Math. 18, 1971). Initializers are rounded once in numpy the same way. ONNX Runtime's reference
run of the result, compared with the fp32 reference, is the model's own TF32 error
(:meth:`trtperf.parity.reference.ReferenceRunner.fp32_own_errors`).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from trtperf.onnx_io import nested_op_types

TF32_OPS: dict[str, tuple[int, ...]] = {
    "MatMul": (0, 1), "Gemm": (0, 1), "Conv": (0, 1), "ConvTranspose": (0, 1), "Einsum": tuple(range(8)),
    "Attention": (0, 1, 2), "LSTM": (0, 1, 2), "GRU": (0, 1, 2), "RNN": (0, 1, 2),
}
"""Operators whose inputs (by index) TF32 tensor cores may take in TF32: activations and weights of the
matrix products (attention's Q, K, V; a recurrent layer's X, W, R)."""

SPLITTER = float(2**13 + 1)
"""Veltkamp's constant for 24 - 13 = 11 significant bits: TF32's 10 explicit mantissa bits plus the implicit one."""


def round_to_tf32(values: np.ndarray) -> np.ndarray:
    """``values`` (float32, any shape) rounded to TF32's precision, the same arithmetic as the graph's."""
    x = values.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        c = x * np.float32(SPLITTER)
        hi = c - (c - x)
    # |x| > FLT_MAX / 8193 overflows the split: such values keep their fp32 value (TF32 shares fp32's range).
    return np.where(np.isfinite(hi), hi, x).astype(np.float32)


class TF32EmulationIncomplete(ValueError):
    """The model has TF32-capable operators where the emulation does not reach (subgraphs, functions)."""


def tf32_emulation(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of the fp32 ``model`` whose MatMul/Gemm/Conv/ConvTranspose float inputs are rounded to TF32.

    Returns the model unchanged in meaning elsewhere (outputs, names, opsets). Inputs that are not
    float32 (integer Q/DQ paths, fp16 variants) are left alone; an initializer that also feeds other
    operators gets a rounded copy, so only the matrix products see TF32. Raises
    :class:`TF32EmulationIncomplete` when such operators sit in If/Loop/Scan subgraphs or local functions,
    which it does not rewrite: an error measured without them would understate TF32's.
    """
    hidden = nested_op_types(model) & TF32_OPS.keys()
    if hidden:
        raise TF32EmulationIncomplete(f"{', '.join(sorted(hidden))} inside subgraphs or functions")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    float_values = _float32_names(model)
    initializers = {init.name: init for init in graph.initializer}
    taken = _value_names(graph)

    def fresh(base: str) -> str:  # a name no value of the graph has
        name, n = base, 0
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        return name

    splitter = fresh("trtperf_tf32_splitter")
    rounded: dict[str, str] = {}
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        for index in TF32_OPS.get(node.op_type, ()):
            if index >= len(node.input) or not node.input[index] or node.input[index] not in float_values:
                continue
            name = node.input[index]
            if name not in rounded:
                out = fresh(f"{name}__tf32")
                if name in initializers:
                    array = numpy_helper.to_array(initializers[name])
                    graph.initializer.append(numpy_helper.from_array(round_to_tf32(array), out))
                    if model.ir_version < 4:  # IR 3: every initializer is also a graph input
                        graph.input.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, array.shape))
                else:
                    scaled, low, overflow = fresh(f"{name}__tf32_scaled"), fresh(f"{name}__tf32_low"), fresh(
                        f"{name}__tf32_overflow")
                    split = fresh(f"{name}__tf32_split")
                    nodes += [helper.make_node("Mul", [name, splitter], [scaled]),
                              helper.make_node("Sub", [scaled, name], [low]),
                              helper.make_node("Sub", [scaled, low], [split]),
                              # |x| > FLT_MAX / 8193 overflows the split: keep x (TF32 shares fp32's range)
                              helper.make_node("IsInf", [scaled], [overflow]),
                              helper.make_node("Where", [overflow, name, split], [out])]
                rounded[name] = out
            node.input[index] = rounded[name]
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.append(numpy_helper.from_array(np.array(SPLITTER, dtype=np.float32), splitter))
    return model


def _value_names(graph: onnx.GraphProto) -> set[str]:
    """Every value name of ``graph`` (inputs, initializers, node outputs, declared values)."""
    names = {value.name for value in (*graph.input, *graph.output, *graph.value_info)}
    names |= {init.name for init in graph.initializer}
    for node in graph.node:
        names.update(node.output)
        names.update(node.input)
    return names


def _float32_names(model: onnx.ModelProto) -> set[str]:
    """Names of the main graph's float32 values (inputs, initializers, and inferred intermediates)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # an uninferable graph: judge by what is declared
        inferred = model
    graph = inferred.graph
    names = {init.name for init in graph.initializer if init.data_type == TensorProto.FLOAT}
    for value in (*graph.input, *graph.value_info, *graph.output):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT:
            names.add(value.name)
    return names
