"""ONNX files as models: the file's bytes become the fp32 stage's artifact, its graph the declaration.

``trtperf.model(onnx="models/detector.onnx")`` (a path relative to the suite file, or a factory
returning a path or an ``onnx.ModelProto``) skips the torch export: the cache entry is the file
itself, keyed by its content digest. Inputs and outputs come from the graph:

- names and dtypes of the graph inputs (initializers listed as inputs excluded) and outputs;
- the batch axis: an axis whose symbolic name is a batch name (``batch``, ``batch_size``, ``N``...),
  else axis 0; a static axis 0 of size k admits batch k only;
- other symbolic axes: named axes, whose values the declaration lists in ``dims=``.

A declared :class:`~trtperf.spec.InputSpec` with the same name overrides what the graph says
(needed for integer inputs, whose range the graph does not know). Every error names the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.errors import ExportError, TrtperfUsageError
from trtperf.onnx_io import GraphInput, graph_inputs, graph_outputs
from trtperf.spec import _DIM_RE, BATCH, InputSpec, ModelSpec, check_dims

if TYPE_CHECKING:
    import onnx

BATCH_NAMES = frozenset({"batch", "batch_size", "batchsize", "bs", "n", "batch_dim"})
"""Symbolic axis names (lower-cased) taken as the batch axis, as exporters and tf2onnx name it."""

_DTYPES = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 9: "bool"}
"""ONNX TensorProto element types trtperf can draw inputs of (FLOAT, FLOAT16, INT64, INT32, BOOL)."""


def _batch_axis(item: GraphInput) -> int:
    for axis, dim in enumerate(item.dims):
        if isinstance(dim, str) and dim.lower() in BATCH_NAMES:
            return axis
    return 0


def input_spec(item: GraphInput, where: str) -> tuple[InputSpec, int | None]:
    """The InputSpec the graph implies, and the fixed batch size when the batch axis is static."""
    dtype = _DTYPES.get(item.elem_type)
    if dtype is None:
        import onnx

        type_name = onnx.TensorProto.DataType.Name(item.elem_type) if item.elem_type else "unknown"
        raise TrtperfUsageError(
            f"{where}: input {item.name!r} has ONNX type {type_name}; trtperf draws float32, float16, int64, int32 "
            f"and bool inputs. Feed it through a Cast in the model, or declare another input."
        )
    if not item.dims:
        raise TrtperfUsageError(
            f"{where}: input {item.name!r} is a scalar (no batch axis); declare InputSpec({item.name!r}, ...) "
            f"with a batch axis, or change the model"
        )
    batch_axis = _batch_axis(item)
    batch_dim = item.dims[batch_axis]
    fixed = batch_dim if isinstance(batch_dim, int) else None
    shape: list[int | str] = []
    for axis, dim in enumerate(item.dims):
        if axis == batch_axis:
            shape.append(BATCH)
        elif isinstance(dim, int) or (isinstance(dim, str) and _DIM_RE.fullmatch(dim)
                                      and dim.lower() not in BATCH_NAMES):
            shape.append(dim)
        else:
            raise TrtperfUsageError(
                f"{where}: input {item.name!r} axis {axis} is dynamic ({dim!r}) without a usable name; declare "
                f"InputSpec({item.name!r}, <shape with ints and axis names such as 'seq'>, ...) in inputs="
            )
    if dtype in ("int64", "int32"):
        raise TrtperfUsageError(
            f"{where}: input {item.name!r} is {dtype}, and the graph does not say which values are valid; declare "
            f"InputSpec({item.name!r}, {tuple(shape)!r}, dtype={dtype!r}, low=..., high=...) in inputs="
        )
    return InputSpec(item.name, tuple(shape), dtype=dtype), fixed


def resolve_spec(spec: ModelSpec, model: onnx.ModelProto, where: str, batch: int | None = None) -> ModelSpec:
    """``spec`` with inputs and outputs from the graph, declared InputSpecs taking precedence.

    Raises :class:`TrtperfUsageError` naming ``where`` (the file) for a declared input or output the
    graph lacks, an input trtperf cannot draw, a named axis without ``dims=`` values, or a ``batch``
    other than a static batch axis allows.
    """
    declared = {item.name: item for item in spec.inputs}
    found = graph_inputs(model)
    names = [item.name for item in found]
    unknown = [name for name in declared if name not in names]
    if unknown:
        one = len(unknown) == 1
        raise TrtperfUsageError(f"{where}: declared {'input' if one else 'inputs'} {unknown} "
                                f"{'is not an input' if one else 'are not inputs'} of the graph; it has {names}")
    inputs = []
    for item in found:
        if item.name in declared:
            inputs.append(declared[item.name])
            continue
        implied, fixed = input_spec(item, where)
        if fixed is not None and batch is not None and batch != fixed:
            raise TrtperfUsageError(
                f"{where}: input {item.name!r} has a fixed batch of {fixed}, so batch {batch} cannot run; declare "
                f"batches=({fixed},) for {spec.name!r}, or re-export the model with a dynamic batch axis"
            )
        inputs.append(implied)
    outputs = graph_outputs(model)
    missing = [name for name in spec.outputs if name not in outputs]
    if missing:
        raise TrtperfUsageError(f"{where}: declared output(s) {missing} are not outputs of the graph; it has {outputs}")
    try:
        dims = check_dims(spec.name, inputs, spec.dims)
    except TrtperfUsageError as exc:
        raise TrtperfUsageError(f"{where}: {exc}") from None
    return dataclasses.replace(spec, inputs=tuple(inputs), outputs=tuple(spec.outputs or outputs), dims=dims)


def describe_source(spec: ModelSpec) -> str:
    """Where an ONNX-file model comes from, for messages: the path, or the factory's name."""
    source = spec.onnx
    if isinstance(source, (str, os.PathLike)):
        return f"ONNX file {source}"
    return f"the ONNX factory {getattr(source, '__qualname__', source)!r} of model {spec.name!r}"


def _materialize(spec: ModelSpec) -> tuple[bytes, str]:
    """The model's bytes and a description naming the file."""
    import onnx

    source: Any = spec.onnx
    where = describe_source(spec)
    if callable(source) and not isinstance(source, (str, os.PathLike)):
        try:
            source = source()
        except Exception as exc:
            raise TrtperfUsageError(f"{where} raised {type(exc).__name__}: {exc}") from exc
        if isinstance(source, (str, os.PathLike)):
            source = spec.resolve_path(source)
    if isinstance(source, onnx.ModelProto):
        return source.SerializeToString(deterministic=True), where
    if not isinstance(source, (str, os.PathLike)):
        raise TrtperfUsageError(f"{where} gave {type(source).__name__}; expected a path or an onnx.ModelProto")
    path = Path(source)
    where = f"ONNX file {path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrtperfUsageError(f"{where} (model {spec.name!r}) cannot be read: {exc.strerror or exc}") from None
    return data, where


def _check(data: bytes, where: str) -> onnx.ModelProto:
    import onnx

    try:
        model = onnx.load_from_string(data)
    except Exception as exc:
        raise ExportError(f"{where} is not a readable ONNX model: {type(exc).__name__}: {exc}") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise ExportError(f"{where} keeps its weights in external data files; save it as one file "
                          f"(onnx.save(model, path, save_as_external_data=False), under 2 GB) for trtperf")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ExportError(f"{where} fails the ONNX checker: {str(exc).strip().splitlines()[0]}") from None
    if not model.graph.output:
        raise ExportError(f"{where} has no graph outputs")
    return model


def onnx_file_cached(spec: ModelSpec, cache: ArtifactCache) -> tuple[CacheEntry, str]:
    """The model's ONNX as the fp32 stage's cache entry (keyed by its content digest), and where it came from."""
    data, where = _materialize(spec)
    digest = hashlib.sha256(data).hexdigest()

    def produce(tmp: Path) -> None:
        _check(data, where)
        tmp.write_bytes(data)

    entry = cache.get_or_create("onnx", {"onnx_file": digest}, produce, suffix=".onnx", describe=where)
    return entry, where


def load_graph(entry: CacheEntry) -> onnx.ModelProto:
    import onnx

    return onnx.load(str(entry.path), load_external_data=False)
