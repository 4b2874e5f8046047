"""The fixture library: case selection for trtperf_build, names of timed callables."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

import trtperf
from trtperf import InputSpec, TrtperfUsageError
from trtperf.cases import Case
from trtperf.fixtures import callable_name, make_case


def _seq_model() -> trtperf.ModelSpec:
    ids = InputSpec("ids", ("batch", "seq"), dtype="int64", low=0, high=10)
    return trtperf.model(inputs=[ids], outputs=["y"], name="enc", batches=(4, 8), dims={"seq": (16, 64)})(nn.Identity)


def test_a_built_case_defaults_to_the_first_declared_values() -> None:
    spec = _seq_model()
    assert make_case(spec, "onnxruntime", "fp32", None, 1, None) == Case("enc", "onnxruntime", "fp32", 4, 1,
                                                                          (("seq", 16),))
    assert make_case(spec, "tensorrt", "fp16", 2, 2, {"seq": 32}).key == "enc[tensorrt-fp16-b2-seq32-s2]"
    with pytest.raises(TrtperfUsageError, match=r"dims= must give every named axis \['seq'\]"):
        make_case(spec, "onnxruntime", "fp32", None, 1, {"len": 3})


@pytest.mark.parametrize(("test_name", "model"), [
    ("test_speed", "test_speed"),
    ("test_speed[cpu-8]", "test_speed_cpu-8"),
    ("9th test", "t_9th_test"),
])
def test_callable_names_make_valid_case_keys(test_name: str, model: str) -> None:
    name = callable_name(test_name)
    assert name == model
    assert Case.from_key(Case(name, "callable", "fp32", 1, 1).key).model == model


def test_a_typo_in_the_backend_name_is_an_error_not_a_skip(tmp_path: Path) -> None:
    """Found by a new-user run: trtperf_build(enc, backend="onnxrt") skipped, so the test passed in CI."""
    from trtperf.config import Settings
    from trtperf.fixtures import build_case
    from trtperf.pipeline import CaseRunner

    runner = CaseRunner(Settings(cache_dir=tmp_path / "cache"), tmp_path / "baselines")
    with pytest.raises(TrtperfUsageError, match="unknown backend 'onnxrt'; known backends: onnxruntime"):
        build_case(runner, _seq_model(), backend="onnxrt")
