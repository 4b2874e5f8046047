"""bench/parity_power.py's fault injection and TF32 stand-in: each fault changes the model it claims to
change, leaves a valid ONNX, and the parity check catches a large one (issue 11, item 3)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def power() -> ModuleType:
    spec = importlib.util.spec_from_file_location("parity_power", ROOT / "bench" / "parity_power.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["parity_power"] = module
    spec.loader.exec_module(module)
    return module


def _residual_cnn() -> Any:
    from torch import nn

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 3, 3, padding=1)
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.head = nn.Linear(3 * 8 * 8, 5)

        def forward(self, x: Any) -> Any:
            h = self.stem(x)
            y = h + nn.functional.relu(self.conv(h))  # a residual add of two computed tensors
            return self.head(y.flatten(1))

    return Block()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    import onnx

    import trtperf
    from trtperf import InputSpec
    from trtperf.export import export_onnx

    spec = trtperf.model(inputs=[InputSpec("pixels", ("batch", 3, 8, 8))], outputs=["logits"],
                         name="residual_cnn")(_residual_cnn)
    path = tmp_path_factory.mktemp("power") / "m.onnx"
    export_onnx(spec, spec.build_module(), path)
    return spec, onnx.load(str(path))


def test_every_fault_kind_is_found_and_changes_the_outputs(power: ModuleType, exported: tuple[Any, Any]) -> None:
    import onnx
    from onnx import numpy_helper

    from trtperf.backends.onnxruntime import reference_session, run_session
    from trtperf.inputs import make_inputs

    spec, model = exported
    faults = power.candidate_faults(model, spec)
    assert {f.kind for f in faults} == {"weight x1.01", "weight x1.1", "activation -> Identity",
                                        "residual Add dropped", "input channels 0,1 swapped", "bias zeroed"}
    inputs = make_inputs(spec, 2, 0)
    clean = _run(model, inputs, reference_session, run_session)
    checked_head = False
    for fault in faults:
        faulty = power.inject(model, fault)
        onnx.checker.check_model(faulty, full_check=True)
        effect = power.case_metrics(_run(faulty, inputs, reference_session, run_session), clean)["worst"]["rel_l2"]
        assert effect > 1e-4, fault
        if fault.kind == "weight x1.1" and "head" in fault.site:
            # logits = W y + b, so 1.1 W moves them by 0.1 (logits - b): the right value, from the model's own bias.
            bias = next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == "head.bias")
            moved = 0.1 * np.linalg.norm(clean["logits"].astype(np.float64) - bias)
            assert effect == pytest.approx(moved / np.linalg.norm(clean["logits"].astype(np.float64)), rel=1e-4)
            checked_head = True
    assert checked_head, [f.site for f in faults]
    assert power.inject(model, power.Fault("bias zeroed", "no-such-initializer")) is None


def _run(model: Any, inputs: Any, reference_session: Any, run_session: Any) -> dict[str, np.ndarray]:
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        onnx.save(model, str(path))
        result: dict[str, np.ndarray] = run_session(reference_session(path), inputs)
        return result


def test_tf32_rounding_keeps_ten_mantissa_bits(power: ModuleType) -> None:
    import torch

    # TF32 keeps 10 of fp32's 23 mantissa bits: 2**-10 survives, 2**-12 rounds away, above half rounds up.
    x = torch.tensor([1.0 + 2**-10, 1.0 + 2**-11 + 2**-13, 1.0 + 2**-12, float("inf"), -3.0, 0.1])
    rounded = power.round_to_tf32(x).tolist()
    assert rounded[:5] == [1.0 + 2**-10, 1.0 + 2**-10, 1.0, float("inf"), -3.0]
    assert abs(rounded[5] - 0.1) / 0.1 <= 2**-11


def _row(power: ModuleType, engine: str, rel_l2: float, fault: str = "", passed: bool = True,
         effect: float | None = None, eps: float = 0.0, fp32_own: float | None = None, precision: str = "fp16") -> Any:
    """A made-up result row (a test double: only the fields the summary reads)."""
    metrics = {"max_abs": 0.0, "max_norm": 0.0, "p999_norm": 0.0, "rel_l2": rel_l2, "cosine": 1.0}
    return power.Row("m", precision, engine, fault, "site" if fault else "", passed, metrics, dict(metrics),
                     effect_rel_l2=effect, precision_error=eps, fp32_own_error=fp32_own)


def test_summary_counts_detectable_faults_by_both_definitions(power: ModuleType, tmp_path: Path) -> None:
    # eps = 1.0 (ONNX Runtime's variant vs fp32), the worst correct engine 2.0: a fault of effect 1.5 is
    # detectable by A only, one of 3.0 by both; the one caught counts in both, the missed one in A.
    rows = [_row(power, "onnxruntime", 1.0, eps=1.0), _row(power, "torch-cast-fp16", 2.0, eps=1.0),
            _row(power, "onnxruntime", 1.5, "bias zeroed", passed=True, effect=1.5, eps=1.0),
            _row(power, "onnxruntime", 3.0, "weight x1.1", passed=False, effect=3.0, eps=1.0)]
    text = power.summarize(rows)
    line = next(x for x in text.splitlines() if x.startswith("fp16") and " all " in x)
    assert line.split("|")[1].split() == ["2", "1", "50.0%"]  # A: 2 detectable, 1 caught
    assert line.split("|")[2].split() == ["1", "1", "100.0%"]  # B: 1 detectable, 1 caught
    assert "false failures: 0 of 2" in text
    power.write_results(tmp_path / "out", rows, {"state": "running"})
    assert len(power.load_rows(tmp_path / "out.json")) == 4
    assert (tmp_path / "out.txt").read_text().startswith('{"state": "running"}')
