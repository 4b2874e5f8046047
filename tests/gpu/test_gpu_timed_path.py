"""GPU only (skipped without CUDA): parity through the timed path and CUDA graphs on 'auto' (issue 14).

Run on a GPU machine: ``pytest tests/gpu -q``. TensorRT cases need a TensorRT flavour that runs on the
GPU (on an H100/H200, TensorRT-RTX through ../shared/gpu/trt-rtx); the transformers models need
``transformers``. Results seen are in docs/VERIFICATION.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import trtperf
from trtperf import InputSpec, ModelSpec, Tolerance
from trtperf.backends import get_backend
from trtperf.cache import ArtifactCache
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.inputs import make_inputs
from trtperf.parity.reference import ReferenceRunner
from trtperf.pipeline import CaseRunner
from trtperf.prepare import prepare
from trtperf.record.results import FAILED, PASSED
from trtperf.spec import find_model
from trtperf.timing.loop import timed_outputs

pytest.importorskip("torch")
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SUITES = sorted((Path(__file__).resolve().parents[2] / "suites").glob("test_*.py"))
QUICK = {"runs": 2, "warmup": 0.05, "min_time": 0.05, "min_iters": 10}


def _tensorrt_or_skip() -> None:
    if get_backend("tensorrt").unavailable_reason() is not None:
        pytest.skip(str(get_backend("tensorrt").unavailable_reason()))


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact cache for this module: ResNet-50 is exported once."""
    return tmp_path_factory.mktemp("gpu-cache")


@pytest.fixture
def tmp_path(tmp_path: Path, shared_cache: Path) -> Path:
    (tmp_path / "cache").symlink_to(shared_cache)
    return tmp_path


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(**{**QUICK, **extra}, cache_dir=tmp_path / "cache", update_baselines=True)  # type: ignore[arg-type]


def resnet50_spec() -> ModelSpec:
    """transformers' ResNet-50 (ResNetConfig() defaults, random weights, seed 0), logits out."""
    pytest.importorskip("transformers")

    def resnet50() -> torch.nn.Module:
        from transformers import ResNetConfig, ResNetForImageClassification

        class Logits(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                torch.manual_seed(0)
                self.inner = ResNetForImageClassification(ResNetConfig()).eval()  # type: ignore[no-untyped-call]

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.inner(pixel_values=x).logits  # type: ignore[no-any-return]

        return Logits()

    return trtperf.model(inputs=[InputSpec("x", ("batch", 3, 224, 224))], outputs=["logits"], name="resnet50",
                         batches=(1, 32), max_batch=32,
                         tolerances={"fp32:": Tolerance(atol=5e-2, rtol=1e-2)})(resnet50)


def bert_spec() -> ModelSpec:
    """A small transformers BertModel (2 layers, width 128), token ids in, last hidden state out."""
    pytest.importorskip("transformers")

    def bert() -> torch.nn.Module:
        from transformers import BertConfig, BertModel

        class Hidden(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                torch.manual_seed(0)
                config = BertConfig(num_hidden_layers=2, hidden_size=128, num_attention_heads=2,
                                    intermediate_size=256, vocab_size=1000)
                self.inner = BertModel(config).eval()  # type: ignore[no-untyped-call]

            def forward(self, ids: torch.Tensor) -> torch.Tensor:
                return self.inner(input_ids=ids).last_hidden_state  # type: ignore[no-any-return]

        return Hidden()

    return trtperf.model(inputs=[InputSpec("ids", ("batch", 128), dtype="int64", low=0, high=1000)],
                         outputs=["hidden"], name="bert", batches=(8,), max_batch=8,
                         tolerances={"": Tolerance(atol=1e-3, rtol=1e-3)})(bert)


@pytest.mark.parametrize("cuda_graph", ["on", "off"])
def test_tensorrt_checks_every_stream_of_every_timed_run(tmp_path: Path, cuda_graph: str) -> None:
    _tensorrt_or_skip()
    spec = find_model(SUITES, "cnn")
    settings = _settings(tmp_path, cuda_graph=cuda_graph)
    result = CaseRunner(settings, tmp_path / "b").run(spec, Case("cnn", "tensorrt", "fp32", 8, 2))
    assert result.outcome == PASSED, result.message
    assert result.timing_mode is not None and result.timing_mode["cuda_graph"] is (cuda_graph == "on")
    # a recording measures record_runs runs (10, the sequential design); each of its 2 streams is checked
    checked = settings.record_runs * 2
    assert result.parity is not None and result.parity["timed_path"] == {"checked": checked, "passed": True}


def _steady_state_right(spec: ModelSpec, case: Case, settings: Settings) -> bool:
    """Independently of the pipeline: after 300 launches and a pause, does the timed launch compute the model?"""
    cache = ArtifactCache(settings.cache_dir or Path("."))
    prepared = prepare(spec, case, settings, cache)
    inputs = make_inputs(spec, case.batch, settings.seed)
    reference = ReferenceRunner(spec, prepared.fp32, prepared.variant, case.precision, cache, case.backend)
    with prepared.load() as engine:
        workers = list(engine.make_workers(inputs, case.streams))
        try:
            for worker in workers:
                worker.run(300)
            time.sleep(2.0)  # background kernel compilation (TensorRT-RTX lazy specialization) lands
            for worker in workers:
                worker.run(50)
            outputs = timed_outputs(workers)
        finally:
            for worker in workers:
                worker.close()
    assert outputs is not None
    return all(reference.check(o, case.batch, settings.seed).passed for o in outputs)


@pytest.mark.parametrize("specialization", ["eager", "lazy", "none"])
@pytest.mark.parametrize("cuda_graph", ["auto", "off"])
def test_resnet50_b1_never_passes_with_wrong_timed_outputs(tmp_path: Path, specialization: str,
                                                          cuda_graph: str) -> None:
    """The issue-14 case: ResNet-50 b1 on TensorRT-RTX was right on its first launch, wrong after more."""
    _tensorrt_or_skip()
    spec = resnet50_spec()
    case = Case("resnet50", "tensorrt", "fp32", 1, 1)
    settings = _settings(tmp_path, trt_kernel_specialization=specialization, cuda_graph=cuda_graph)
    result = CaseRunner(settings, tmp_path / "b").run(spec, case)
    right = _steady_state_right(spec, case, settings)
    print(f"resnet50 b1 {specialization=} {cuda_graph=}: outcome {result.outcome}, steady state right: {right}; "
          f"{(result.message or '').splitlines()[:3]}")
    if not right:
        assert result.outcome == FAILED, "wrong timed outputs passed parity"
    assert result.outcome in (PASSED, FAILED)
    if result.outcome == PASSED:
        assert result.parity is not None and result.parity["timed_path"]["checked"] == QUICK["runs"]


def test_torch_bert_that_cannot_be_captured_falls_back_on_auto(tmp_path: Path) -> None:
    spec = bert_spec()
    case = Case("bert", "torch", "fp32", 8, 1)
    result = CaseRunner(_settings(tmp_path, cuda_graph="auto"), tmp_path / "b").run(spec, case)
    assert result.outcome == PASSED, result.message
    assert result.timing_mode is not None
    fell_back = any("CUDA graph not used" in n for n in result.notes)
    assert result.timing_mode["cuda_graph"] is not fell_back  # captured, or timed on the stream with the reason
    print(f"bert torch auto: cuda_graph={result.timing_mode['cuda_graph']} notes={result.notes}")
    strict = CaseRunner(_settings(tmp_path, cuda_graph="on"), tmp_path / "b2").run(spec, case)
    if fell_back:
        assert strict.outcome == FAILED and "--trtperf-cuda-graph auto or off" in strict.message


def host_copy_spec() -> ModelSpec:
    """A module that copies a host tensor to the GPU in forward(): CUDA-graph capture fails."""

    def host_copy() -> torch.nn.Module:
        class HostCopy(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.linear = torch.nn.Linear(16, 16)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.linear(x) + torch.tensor([1.0]).to(x.device)  # type: ignore[no-any-return]

        return HostCopy()

    return trtperf.model(inputs=[InputSpec("x", ("batch", 16))], outputs=["y"], name="host_copy",
                         batches=(4,), max_batch=8)(host_copy)


def test_torch_module_that_copies_from_the_host_falls_back_on_auto_and_fails_on_on(tmp_path: Path) -> None:
    spec = host_copy_spec()
    case = Case("host_copy", "torch", "fp32", 4, 1)
    result = CaseRunner(_settings(tmp_path), tmp_path / "b").run(spec, case)  # default: auto
    assert result.outcome == PASSED, result.message
    assert result.timing_mode is not None and result.timing_mode["cuda_graph"] is False
    assert any(n.startswith("CUDA graph not used: capturing the module in a CUDA graph failed") for n in result.notes)
    strict = CaseRunner(_settings(tmp_path, cuda_graph="on"), tmp_path / "b2").run(spec, case)
    assert strict.outcome == FAILED and "--trtperf-cuda-graph auto or off" in strict.message


def test_default_settings_time_graph_replays_where_capture_works(tmp_path: Path) -> None:
    spec = find_model(SUITES, "cnn")
    result = CaseRunner(_settings(tmp_path), tmp_path / "b").run(spec, Case("cnn", "torch", "fp32", 8, 1))
    assert result.outcome == PASSED, result.message
    assert result.timing_mode is not None and result.timing_mode["cuda_graph"] is True
    assert result.parity is not None and result.parity["timed_path"]["passed"]


def test_tensorrt_rtx_kernels_are_kept_in_the_runtime_cache_for_the_next_session(tmp_path: Path) -> None:
    _tensorrt_or_skip()
    from trtperf.backends.tensorrt import runtime_cache_path

    spec = find_model(SUITES, "cnn")
    case = Case("cnn", "tensorrt", "fp32", 8, 1)
    results = [CaseRunner(_settings(tmp_path), tmp_path / "b").run(spec, case) for _ in range(2)]
    for result in results:
        assert result.outcome == PASSED, result.message
    if results[0].environment.get("trt_flavour") != "tensorrt-rtx":
        pytest.skip("the runtime cache is TensorRT-RTX's")
    statuses = [r.build["runtime"]["runtime_cache"] for r in results]
    plan = Path(ArtifactCache(tmp_path / "cache").find(results[0].build["cache_key"]) or "")
    sidecar = runtime_cache_path(plan, results[0].device["slug"])
    # The first session of a fresh cache compiles and stores; the second loads (same engine, same GPU).
    print(f"runtime cache: {statuses}, {sidecar.stat().st_size} bytes; parity stage (engine load, context, "
          f"first inference) {[r.stage_seconds.get('parity') for r in results]} s")
    assert statuses[1] == "loaded" and statuses[0] in ("empty", "loaded")
    assert results[1].parity is not None and results[1].parity["timed_path"]["passed"]


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[int]:
    """Wrap the method ``owner.name``; the list grows by one at each call."""
    calls: list[int] = []
    real = getattr(owner, name)

    def counting(self: Any, *args: Any) -> Any:
        calls.append(1)
        return real(self, *args)

    monkeypatch.setattr(owner, name, counting)
    return calls


@pytest.mark.parametrize("fresh", [False, True])
def test_tensorrt_contexts_are_kept_across_runs_unless_fresh(tmp_path: Path, fresh: bool,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _tensorrt_or_skip()
    from trtperf.trt.runtime import TrtEngine

    binds = _count_calls(monkeypatch, TrtEngine, "bind")
    spec = find_model(SUITES, "cnn")
    settings = _settings(tmp_path, fresh_contexts=fresh, runs=3)
    result = CaseRunner(settings, tmp_path / "b").run(spec, Case("cnn", "tensorrt", "fp32", 8, 2))
    assert result.outcome == PASSED, result.message
    # infer() binds once and its binding serves the first timed run's first stream; the host-latency probe
    # reuses a kept binding. With fresh contexts nothing is kept: a recording measures settings.record_runs
    # runs (10), each binding both streams afresh, and the probe binds once more.
    assert len(binds) == (1 + settings.record_runs * 2 + 1 if fresh else 2)


@pytest.mark.parametrize("fresh", [False, True])
def test_torch_graphs_are_kept_across_runs_unless_fresh(tmp_path: Path, fresh: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from trtperf.backends.torch_backend import TorchEngine

    binds = _count_calls(monkeypatch, TorchEngine, "_bind")
    spec = find_model(SUITES, "cnn")
    settings = _settings(tmp_path, fresh_contexts=fresh, runs=3)
    result = CaseRunner(settings, tmp_path / "b").run(spec, Case("cnn", "torch", "fp32", 8, 1))
    assert result.outcome == PASSED, result.message
    assert result.timing_mode is not None and result.timing_mode["cuda_graph"] is True
    assert result.parity is not None and result.parity["timed_path"] == {"checked": settings.record_runs,
                                                                         "passed": True}
    # Kept: one capture serves every run. Fresh: each of the recording's record_runs runs captures its own.
    assert len(binds) == (settings.record_runs if fresh else 1)


def test_torch_kept_graph_computes_each_runs_own_inputs(tmp_path: Path) -> None:
    """A kept graph replays captured addresses: the next run's inputs are loaded into them, not rebound."""
    import numpy as np

    spec = find_model(SUITES, "cnn")
    settings = _settings(tmp_path)
    case = Case("cnn", "torch", "fp32", 8, 1)
    prepared = prepare(spec, case, settings, ArtifactCache(settings.cache_dir or Path(".")))
    first, second = make_inputs(spec, 8, 0), make_inputs(spec, 8, 1)
    got = []
    with prepared.load() as engine:
        for inputs in (first, second, first):
            workers = list(engine.make_workers(inputs, 1))
            try:
                workers[0].run(5)
                outputs = timed_outputs(workers)
                assert outputs is not None
                got.append(outputs[0])
            finally:
                workers[0].close()
        assert getattr(engine, "graph_captured", None) is True
        expected = [engine.infer(first), engine.infer(second), engine.infer(first)]
    for timed, eager in zip(got, expected, strict=True):
        for name, value in eager.items():
            np.testing.assert_allclose(timed[name], value, rtol=1e-3, atol=1e-4)
    name = next(iter(got[0]))
    assert not np.allclose(got[0][name], got[1][name])  # the second run did compute other inputs
