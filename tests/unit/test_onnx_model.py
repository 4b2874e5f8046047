"""ONNX files as models: graph I/O with declared overrides, content-digest cache key, errors naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

import trtperf
from trtperf import InputSpec, TrtperfUsageError
from trtperf.cache import ArtifactCache
from trtperf.cases import Case
from trtperf.errors import ExportError
from trtperf.inputs import make_inputs
from trtperf.onnx_io import graph_inputs
from trtperf.onnx_model import load_graph
from trtperf.pipeline import skip_reason
from trtperf.precision import precision_variant
from trtperf.prepare import prepare_model


def test_inputs_and_outputs_come_from_the_graph(onnx_files: dict[str, Path], cache: ArtifactCache) -> None:
    spec = trtperf.model(onnx=onnx_files["fp32"])
    assert spec.name == "mlp" and spec.is_onnx and spec.precisions == ("fp32",)
    resolved, entry = prepare_model(spec, cache, batch=8)
    assert resolved.inputs == (InputSpec("features", ("batch", 16)),)  # "batch_size" is the batch axis
    assert resolved.outputs == ("logits",)
    assert entry.path.read_bytes() == onnx_files["fp32"].read_bytes()  # the file as it is
    assert make_inputs(resolved, 8)["features"].shape == (8, 16)


def test_a_declared_input_overrides_the_graph_and_named_axes_need_dims(onnx_files: dict[str, Path],
                                                                      cache: ArtifactCache) -> None:
    ids = onnx_files["ids"]
    assert graph_inputs(onnx.load(str(ids)))[0].dims == ("batch_size", "sequence")
    where = f"ONNX file {ids.resolve()}"
    with pytest.raises(TrtperfUsageError, match=rf"{where}: input 'ids' is int64, .* declare InputSpec\('ids', "
                                                r"\('batch', 'sequence'\), dtype='int64', low=\.\.\., high=\.\.\.\)"):
        prepare_model(trtperf.model(onnx=ids), cache)
    declared = InputSpec("ids", ("batch", "sequence"), dtype="int64", low=0, high=50)
    with pytest.raises(TrtperfUsageError, match=rf"{where}: .*input axes \['sequence'\] have no values"):
        prepare_model(trtperf.model(onnx=ids, inputs=[declared]), cache)
    spec = trtperf.model(onnx=ids, inputs=[declared], dims={"sequence": (4, 32)})
    resolved, _ = prepare_model(spec, cache)
    assert resolved.inputs == (declared,) and resolved.outputs == ("pooled",)
    assert make_inputs(resolved, 2, 0, {"sequence": 32})["ids"].shape == (2, 32)


def test_declared_names_the_graph_lacks_are_errors_naming_the_file(onnx_files: dict[str, Path],
                                                                   cache: ArtifactCache) -> None:
    path = onnx_files["fp32"]
    with pytest.raises(TrtperfUsageError, match=r"mlp.onnx: declared input \['x'\] is not an input of the "
                                                r"graph; it has \['features'\]"):
        prepare_model(trtperf.model(onnx=path, inputs=[InputSpec("x", ("batch", 16))]), cache)
    with pytest.raises(TrtperfUsageError, match=r"mlp.onnx: declared output\(s\) \['scores'\] are not outputs"):
        prepare_model(trtperf.model(onnx=path, outputs=["scores"]), cache)


def test_missing_or_broken_files_are_errors_naming_them(tmp_path: Path, cache: ArtifactCache) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(TrtperfUsageError, match=rf"ONNX file {missing} \(model 'nope'\) cannot be read"):
        prepare_model(trtperf.model(onnx=missing), cache)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07not onnx at all")
    with pytest.raises(ExportError, match=rf"ONNX file {garbage}"):
        prepare_model(trtperf.model(onnx=garbage), cache)


def test_the_cache_key_is_the_content_digest(onnx_files: dict[str, Path], tmp_path: Path,
                                             cache: ArtifactCache) -> None:
    copy = tmp_path / "elsewhere" / "renamed.onnx"
    copy.parent.mkdir()
    shutil.copy(onnx_files["fp32"], copy)
    _, first = prepare_model(trtperf.model(onnx=onnx_files["fp32"]), cache)
    _, same = prepare_model(trtperf.model(onnx=copy), cache)
    assert same.key == first.key and same.hit
    model = onnx.load(str(copy))
    model.graph.initializer[0].float_data.append(0.0)  # another weight value: another file
    model.graph.initializer[0].raw_data = np.ones(16 * 32, np.float32).tobytes()
    del model.graph.initializer[0].float_data[:]
    onnx.save(model, str(copy))
    _, changed = prepare_model(trtperf.model(onnx=copy), cache)
    assert changed.key != first.key


def test_factories_may_return_a_model_proto_or_a_suite_relative_path(onnx_files: dict[str, Path],
                                                                     cache: ArtifactCache) -> None:
    proto = trtperf.model(onnx=lambda: onnx.load(str(onnx_files["fp32"])), name="from_proto")
    resolved, entry = prepare_model(proto, cache)
    assert resolved.inputs[0].name == "features" and load_graph(entry).graph.output[0].name == "logits"
    # A relative path is relative to the declaring file: this test file's folder.
    relative = Path(__file__).resolve().parent.joinpath("..", "..", "missing", "x.onnx")
    spec = trtperf.model(onnx=lambda: "../../missing/x.onnx", name="rel")
    with pytest.raises(TrtperfUsageError, match=rf"ONNX file {relative.resolve()} \(model 'rel'\) cannot be read"):
        prepare_model(spec, cache)
    with pytest.raises(TrtperfUsageError, match=r"gave int; expected a path or an onnx.ModelProto"):
        prepare_model(trtperf.model(onnx=lambda: 3, name="bad"), cache)


def test_a_qdq_file_runs_as_it_is_at_its_own_precision(onnx_files: dict[str, Path], cache: ArtifactCache) -> None:
    spec = trtperf.model(onnx=onnx_files["qdq"])
    assert spec.precisions == ("int8",)  # from the file's Q/DQ nodes
    resolved, fp32 = prepare_model(spec, cache)
    assert precision_variant(resolved, fp32, "int8", cache).path == fp32.path


def test_precision_variants_are_made_from_the_file(onnx_files: dict[str, Path], cache: ArtifactCache) -> None:
    resolved, fp32 = prepare_model(trtperf.model(onnx=onnx_files["fp32"]), cache)
    fp16 = onnx.load(str(precision_variant(resolved, fp32, "fp16", cache).path))
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in fp16.graph.initializer)
    int8 = onnx.load(str(precision_variant(resolved, fp32, "int8", cache).path))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in int8.graph.node}


def test_a_static_batch_admits_only_its_size(tmp_path: Path, cache: ArtifactCache) -> None:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "static.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)]), str(path))
    spec = trtperf.model(onnx=path, batches=(1, 8))
    assert prepare_model(spec, cache, batch=1)[0].inputs == (InputSpec("x", ("batch", 3)),)
    with pytest.raises(TrtperfUsageError, match=r"static.onnx: input 'x' has a fixed batch of 1, so batch 8 cannot "
                                                r"run; declare batches=\(1,\)"):
        prepare_model(spec, cache, batch=8)


def test_torch_backends_skip_an_onnx_model_with_the_reason(onnx_files: dict[str, Path]) -> None:
    spec = trtperf.model(onnx=onnx_files["fp32"])
    reason = skip_reason(spec, Case("mlp", "torch", "fp32", 1, 1))
    assert reason == "'mlp' is declared from an ONNX file; the torch backend runs a torch module, which this " \
                     "model does not have"
    assert skip_reason(spec, Case("mlp", "onnxruntime", "fp32", 1, 1)) is None
