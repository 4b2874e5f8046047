from __future__ import annotations

from pathlib import Path

import pytest


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
