from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

TINY_SUITE = '''
import os
from torch import nn
import trtperf
from trtperf import InputSpec

def _mlp(width, depth):
    layers = [nn.Linear(64, width), nn.ReLU()]
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 8))

@trtperf.model(inputs=[InputSpec("x", ("batch", 64))], outputs=["y"], batches=BATCHES, streams=STREAMS, **SETTINGS)
def tiny():
    # TRTPERF_TEST_HEAVY registers a much heavier model under the same case: a real slowdown.
    if os.environ.get("TRTPERF_TEST_HEAVY"):
        return _mlp(HEAVY_WIDTH, HEAVY_DEPTH)
    return _mlp(64, 1)
'''

TinySuite = Callable[..., None]


@pytest.fixture
def tiny_suite(pytester: pytest.Pytester) -> TinySuite:
    """Writes ``test_tiny.py``: a small MLP declared as model ``tiny`` (case ``tiny[onnxruntime-fp32-b4-s1]``
    with the defaults); ``settings`` is a dict literal of further ``trtperf.model`` arguments."""

    def write(batches: str = "(4,)", streams: str = "(1,)", settings: str = "{}",
              heavy: tuple[int, int] = (1024, 8)) -> None:
        source = (TINY_SUITE.replace("BATCHES", batches).replace("STREAMS", streams).replace("SETTINGS", settings)
                  .replace("HEAVY_WIDTH", str(heavy[0])).replace("HEAVY_DEPTH", str(heavy[1])))
        pytester.makepyfile(test_tiny=source)

    return write


@pytest.fixture
def same_engine_rerun() -> list[str]:
    """Options for a rerun of an engine unchanged since its recording, where the test is about something
    other than the gate's sensitivity (the baseline round trip, a migration, a replaced entry).

    Why so wide a threshold: on the shared 2-vCPU CI VM an unchanged ONNX Runtime engine moved x1.9 between
    two sessions, and a 0.39 ms MLP failed a 50 % rerun seconds after its own recording (CI, 2026-12-07,
    run-to-run CV of run medians 33 %). Where a test checks that a recording took, a stale baseline still fails
    it: the heavy MLP read x75 the light one there."""
    return ["--trtperf-threshold", "300%"]


@pytest.fixture(scope="session", autouse=True)
def _import_heavy_modules_once(tmp_path_factory: pytest.TempPathFactory) -> None:
    """pytester's in-process runs drop modules first imported inside them; torch cannot be
    imported twice in one process (it segfaults). Export and run one tiny model up front so that
    every lazily imported module of torch.onnx and onnxruntime is loaded outside the inner runs."""
    import torch

    from trtperf.backends.onnxruntime import reference_session, run_session
    from trtperf.export import export_onnx
    from trtperf.inputs import make_inputs
    from trtperf.spec import InputSpec, model

    @model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"])
    def warm() -> torch.nn.Module:
        return torch.nn.Linear(4, 2)

    path = Path(tmp_path_factory.mktemp("warm")) / "warm.onnx"
    export_onnx(warm, warm.build_module(), path)
    run_session(reference_session(path), make_inputs(warm, 2))
