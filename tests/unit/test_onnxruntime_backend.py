"""The ONNX Runtime backend as a real engine: cached build, load, infer, concurrent workers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from trtperf.backends import get_backend, known_backends
from trtperf.backends.base import BuildRequest
from trtperf.backends.onnxruntime import OnnxRuntimeBackend, intra_op_threads, reference_session, run_session
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.errors import TrtperfUsageError
from trtperf.inputs import make_inputs
from trtperf.spec import ModelSpec
from trtperf.timing.loop import TimingPlan, measure


def _request(spec: ModelSpec, onnx_entry: CacheEntry, cache: ArtifactCache, batch: int = 4,
             streams: int = 1) -> BuildRequest:
    return BuildRequest(
        spec=spec,
        case=Case(spec.name, "onnxruntime", "fp32", batch, streams),
        onnx_path=onnx_entry.path,
        onnx_sha256=str(onnx_entry.meta["sha256"]),
        settings=Settings(),
        cache=cache,
    )


@pytest.fixture
def request_(tiny_spec: ModelSpec, tiny_onnx: tuple[ArtifactCache, CacheEntry], cache: ArtifactCache) -> BuildRequest:
    """A build request for the tiny model into an empty per-test cache."""
    return _request(tiny_spec, tiny_onnx[1], cache)


def test_registered_and_available() -> None:
    assert "onnxruntime" in known_backends()
    backend = get_backend("onnxruntime")
    assert isinstance(backend, OnnxRuntimeBackend)
    assert get_backend("onnxruntime") is backend
    assert backend.unavailable_reason() is None
    assert backend.version() == onnxruntime.__version__
    assert backend.environment()["backend"] == "onnxruntime"
    assert backend.environment()["backend_version"] == onnxruntime.__version__
    assert backend.device().kind == "cpu"


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(TrtperfUsageError, match=r"unknown backend 'tensorflow'; known backends: .*onnxruntime"):
        get_backend("tensorflow")


def test_precisions() -> None:
    backend = OnnxRuntimeBackend()
    assert backend.precision_unsupported("fp32") is None
    assert "GPU math mode" in (backend.precision_unsupported("tf32") or "")


def test_build_is_cached(request_: BuildRequest) -> None:
    backend = OnnxRuntimeBackend()
    first = backend.build(request_)
    second = backend.build(request_)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert first.path == second.path and first.cache_key == second.cache_key
    assert first.build_s > 0 and second.build_s == first.build_s  # the original build time is kept
    assert first.path.suffix == ".onnx"
    onnx.checker.check_model(onnx.load(str(first.path)))


def test_build_key_follows_the_onnx_and_the_precision(tiny_spec: ModelSpec,
                                                      tiny_onnx: tuple[ArtifactCache, CacheEntry],
                                                      cache: ArtifactCache) -> None:
    backend = OnnxRuntimeBackend()
    base = backend.build(_request(tiny_spec, tiny_onnx[1], cache))
    other_batch = backend.build(_request(tiny_spec, tiny_onnx[1], cache, batch=1, streams=2))
    assert other_batch.cache_hit and other_batch.cache_key == base.cache_key  # one engine serves every batch
    request = _request(tiny_spec, tiny_onnx[1], cache)
    changed = BuildRequest(spec=request.spec, case=request.case, onnx_path=request.onnx_path,
                           onnx_sha256="0" * 64, settings=request.settings, cache=cache)
    assert backend.build(changed).cache_key != base.cache_key
    fp16 = BuildRequest(spec=request.spec, case=Case(tiny_spec.name, "onnxruntime", "fp16", 4, 1),
                        onnx_path=request.onnx_path, onnx_sha256=request.onnx_sha256, settings=request.settings,
                        cache=cache)
    assert backend.build(fp16).cache_key != base.cache_key


def test_load_and_infer_match_the_reference_and_torch(tiny_spec: ModelSpec, request_: BuildRequest) -> None:
    backend = OnnxRuntimeBackend()
    built = backend.build(request_)
    inputs = make_inputs(tiny_spec, 4, seed=0)
    expected = run_session(reference_session(request_.onnx_path), inputs)
    with backend.load(built, request_) as engine:
        got = engine.infer(inputs)
        assert engine.timing_mode()["clock"] == "host"
    assert list(got) == ["y"]
    assert got["y"].shape == (4, 3)
    np.testing.assert_allclose(got["y"], expected["y"], rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        module_out = tiny_spec.build_module()(torch.from_numpy(inputs["x"])).numpy()
    np.testing.assert_allclose(got["y"], module_out, rtol=1e-5, atol=1e-6)


def test_make_workers_gives_independent_concurrent_workers(tiny_spec: ModelSpec, request_: BuildRequest) -> None:
    backend = OnnxRuntimeBackend()
    engine = backend.load(backend.build(request_), request_)
    inputs = make_inputs(tiny_spec, 4, seed=0)
    workers = list(engine.make_workers(inputs, streams=2))
    assert len(workers) == 2
    sessions: list[Any] = [getattr(getattr(w, "_infer"), "func").__self__ for w in workers]  # noqa: B009
    assert sessions[0] is not sessions[1]  # one session per stream, none shared

    errors: list[BaseException] = []
    latencies: list[list[float]] = [[], []]

    def drive(index: int) -> None:
        try:
            latencies[index] = workers[index].run(20)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [len(v) for v in latencies] == [20, 20]
    assert all(v > 0 for run in latencies for v in run)
    for worker in workers:
        worker.close()
    engine.close()


def test_measure_with_real_workers(tiny_spec: ModelSpec, request_: BuildRequest) -> None:
    backend = OnnxRuntimeBackend()
    engine = backend.load(backend.build(request_), request_)
    inputs = make_inputs(tiny_spec, 4, seed=0)
    plan = TimingPlan(runs=2, warmup_s=0.0, min_time_s=0.005, min_iters=5)
    runs = measure(lambda streams: engine.make_workers(inputs, streams), streams=2, plan=plan)
    assert len(runs) == 2
    assert all(len(run.latencies) >= 2 * 5 for run in runs)


@pytest.mark.parametrize(("streams", "expected"), [(1, 8), (2, 4), (3, 2), (16, 1)])
def test_intra_op_threads_split_the_cores(streams: int, expected: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert intra_op_threads(streams) == expected


def _embedding_graph(path: Path, cast: bool) -> None:
    """ids (int32, cast to int64 when ``cast``) -> Gather on a 10 x 4 table; and a Gather of computed indices."""
    from onnx import TensorProto, helper, numpy_helper

    table = numpy_helper.from_array(np.zeros((10, 4), np.float32), "emb.weight")
    nodes = [helper.make_node("Cast", ["ids"], ["ids64"], to=TensorProto.INT64)] if cast else []
    nodes += [helper.make_node("Gather", ["emb.weight", "ids64" if cast else "ids"], ["y"], name="lookup"),
              helper.make_node("ArgMax", ["y"], ["top"], axis=-1, keepdims=0),
              helper.make_node("Gather", ["emb.weight", "top"], ["z"], name="again")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("ids", TensorProto.INT32 if cast else
                                                                         TensorProto.INT64, ["batch", 4])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], [table])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_lookup_tables_trace_the_indices_to_the_graph_input(tmp_path: Path) -> None:
    from trtperf.onnx_io import LookupTable, lookup_tables

    _embedding_graph(tmp_path / "m.onnx", cast=True)
    assert lookup_tables(onnx.load(tmp_path / "m.onnx")) == [LookupTable("lookup", "emb.weight", 10, "ids"),
                                                              LookupTable("again", "emb.weight", 10, None)]


def test_an_embedding_fed_ids_beyond_its_vocabulary_names_the_input_its_range_the_size_and_the_fix(
        tmp_path: Path) -> None:
    from trtperf.backends.onnxruntime import index_range_hint, reference_to_file
    from trtperf.spec import InputSpec

    _embedding_graph(tmp_path / "m.onnx", cast=False)
    ids = {"name": "ids", "shape": ("batch", 4), "dtype": "int64", "low": 0, "high": 30}
    with pytest.raises(TrtperfUsageError) as excinfo:
        reference_to_file(tmp_path / "m.onnx", [ids], 4, 0, tmp_path / "out.npz")
    text = str(excinfo.value)
    assert text.startswith("input 'ids' holds ids beyond the model's vocabulary: it is declared InputSpec('ids', "
                           "dtype='int64', low=0, high=30) (ids drawn in [0, 30)), but the Gather 'lookup' it feeds "
                           "got index ")
    assert (": its table 'emb.weight' (a Gather on an initializer) has 10 rows, so the vocabulary size is 10 (valid "
            "ids 0..9). " in text)
    assert "Fix: declare high=10 in InputSpec('ids', ...). (ONNX Runtime: Gather node. Name:'lookup'" in text
    # A Gather of computed indices: no input to blame, the size and the declared ranges still named.
    error = ("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while running Gather node. "
             "Name:'again' Status Message: indices element out of data bounds, idx=12 must be within the inclusive "
             "range [-10,9]")
    hint = index_range_hint(tmp_path / "m.onnx", [InputSpec("ids", ("batch", 4), dtype="int64", low=0, high=30)],
                            error)
    assert hint.startswith("Gather 'again' got index 12 but its table 'emb.weight' (a Gather on an initializer) has "
                           "10 rows (valid 0..9); the model's vocabulary size is 10. Declared integer inputs: 'ids' "
                           "low=0 high=30. Fix: declare high=10")
    assert index_range_hint(tmp_path / "m.onnx", [], "some other ONNX Runtime error") == ""


def test_every_session_uses_exact_int8_kernels_on_cpus_without_vnni(tmp_path: Path) -> None:
    """On x86-64 without VNNI, ONNX Runtime's U8S8 int8 GEMM saturates unless ``session.x64quantprecision`` is
    set while the graph is optimized (found on an AVX2 AMD EPYC: every int8 case failed the faithful check,
    relative L2 0.23 against ONNX Runtime's own Q/DQ graph, 0.005 with the option). The option is in the
    engine's cache key, so engines optimized without it are rebuilt."""
    from trtperf.backends.onnxruntime import PRECISE_INT8_GEMM, _session

    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2])
    path = tmp_path / "id.onnx"
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])],
                                                            "g", [x], [y])), str(path))
    for optimize in (False, True):
        options = _session(path, threads=1, optimize=optimize).get_session_options()
        assert options.get_session_config_entry(PRECISE_INT8_GEMM[0]) == PRECISE_INT8_GEMM[1]
