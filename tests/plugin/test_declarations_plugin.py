"""Declarations as users write them: code in helper modules, factories that are not suite functions,
integer inputs, and named dynamic axes. Each was silently wrong before (issue 13)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import onnx
import pytest

OPTS = ["--trtperf-no-timing", "-p", "no:cacheprovider", "-rs"]

BLOCKS = '''
from torch import nn

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x).tanh()
'''

SUITE_IMPORTING_HELPER = '''
import trtperf
from trtperf import InputSpec
import blocks

block = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], batches=(2,), name="block")(blocks.Block)
'''


def _run(pytester: pytest.Pytester, tmp_path: Path, *args: str) -> tuple[pytest.RunResult, dict[str, dict]]:  # type: ignore[type-arg]
    results = tmp_path / "results.json"
    run = pytester.runpytest(*OPTS, "--trtperf-cache-dir", str(tmp_path / "cache"), "--trtperf-results",
                             str(results), "--trtperf-baseline-dir", str(tmp_path / "baselines"), *args)
    cases = {c["case"]["key"]: c for c in json.loads(results.read_text())["cases"]} if results.exists() else {}
    return run, cases


def _onnx(cache: Path, sha256: str) -> onnx.ModelProto:
    for path in cache.rglob("*.onnx"):
        if hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
            return onnx.load(str(path))
    raise AssertionError(f"no ONNX with digest {sha256} in {cache}")


def _ops(cache: Path, sha256: str) -> set[str]:
    return {node.op_type for node in _onnx(cache, sha256).graph.node}


def test_editing_forward_in_an_imported_helper_re_exports(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(blocks=BLOCKS, test_suite=SUITE_IMPORTING_HELPER)
    backends = ("--trtperf-backend", "onnxruntime,torch")
    run, cases = _run(pytester, tmp_path, *backends)
    run.assert_outcomes(passed=2)
    first = cases["block[onnxruntime-fp32-b2-s1]"]["artifact"]["onnx_sha256"]
    assert "Tanh" in _ops(tmp_path / "cache", first) and "Sigmoid" not in _ops(tmp_path / "cache", first)

    pytester.makepyfile(blocks=BLOCKS.replace(".tanh()", ".sigmoid()"))
    run, cases = _run(pytester, tmp_path, *backends)
    # The torch backend runs the edited module: it agrees with the reference only if the export is new.
    run.assert_outcomes(passed=2)
    second = cases["block[onnxruntime-fp32-b2-s1]"]["artifact"]["onnx_sha256"]
    assert second != first
    assert "Sigmoid" in _ops(tmp_path / "cache", second) and "Tanh" not in _ops(tmp_path / "cache", second)
    assert cases["block[torch-fp32-b2-s1]"]["parity"]["passed"] is True


SUITE_OF_OTHER_CALLABLES = '''
import functools
import trtperf
from torch import nn
from trtperf import InputSpec
from blocks import Block

X = [InputSpec("x", ("batch", 4))]
tanh = trtperf.model(inputs=X, outputs=["y"], batches=(1, 8), name="tanh")(nn.Tanh)
block = trtperf.model(inputs=X, outputs=["y"], batches=(1,))(Block)
linear = trtperf.model(inputs=X, outputs=["y"], batches=(1,))(functools.partial(nn.Linear, 4, 2))
lam = trtperf.model(inputs=X, outputs=["y"], batches=(1,), name="lam")(lambda: nn.Sequential(nn.Linear(4, 2)))
'''

SUITE_IMPORTING_A_SUITE = '''
from test_callables import tanh  # declared in test_callables: collected there, not twice
'''


def test_any_callable_factory_is_collected(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(blocks=BLOCKS, test_callables=SUITE_OF_OTHER_CALLABLES, test_importer=SUITE_IMPORTING_A_SUITE)
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "onnxruntime")
    run.assert_outcomes(passed=5)
    # A class and a partial are named after their (wrapped) class; a lambda by its name=.
    assert sorted(cases) == ["Block[onnxruntime-fp32-b1-s1]", "Linear[onnxruntime-fp32-b1-s1]",
                             "lam[onnxruntime-fp32-b1-s1]", "tanh[onnxruntime-fp32-b1-s1]",
                             "tanh[onnxruntime-fp32-b8-s1]"]


def test_declarations_no_module_level_name_holds_are_collected(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_loop='''
import trtperf
from torch import nn
from trtperf import InputSpec

MODELS = [trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], batches=(1,), name=f"act_{kind}")(
    getattr(nn, kind)) for kind in ("Tanh", "ReLU")]
named = MODELS[0]  # bound as well: collected once
''')
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "onnxruntime")
    run.assert_outcomes(passed=2)
    assert sorted(cases) == ["act_ReLU[onnxruntime-fp32-b1-s1]", "act_Tanh[onnxruntime-fp32-b1-s1]"]


def test_a_declaration_in_a_helper_module_is_collected_by_the_suite_importing_it(pytester: pytest.Pytester,
                                                                                 tmp_path: Path) -> None:
    pytester.makepyfile(
        models='''
import trtperf
from torch import nn
from trtperf import InputSpec

shared = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], batches=(1,), name="shared")(nn.Tanh)
''',
        test_uses_models="from models import shared\n",
    )
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "onnxruntime")
    run.assert_outcomes(passed=1)
    assert list(cases) == ["shared[onnxruntime-fp32-b1-s1]"]


def test_a_lambda_without_a_name_is_rejected_with_the_fix(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_lam='''
import trtperf
from torch import nn
from trtperf import InputSpec

lam = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"])(lambda: nn.Tanh())
''')
    run, _ = _run(pytester, tmp_path, "--trtperf-backend", "onnxruntime")
    assert run.ret != 0
    run.stdout.fnmatch_lines(["*cannot name the model after <function <lambda>*; pass name=*"])


def test_an_integer_input_without_a_range_is_a_usage_error(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_ids='''
import trtperf
from torch import nn
from trtperf import InputSpec

@trtperf.model(inputs=[InputSpec("ids", ("batch", 4), dtype="int64")], outputs=["y"], batches=(1,))
def ids_default_range():
    return nn.Embedding(10, 4)
''')
    run, _ = _run(pytester, tmp_path, "--trtperf-backend", "onnxruntime")
    assert run.ret != 0
    run.stdout.fnmatch_lines(["*input 'ids': an integer (int64) input needs low= and high=*"])


def test_integer_ids_with_a_range_pass_on_torch_and_onnxruntime(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_ids='''
import trtperf
from torch import nn
from trtperf import InputSpec

@trtperf.model(inputs=[InputSpec("ids", ("batch", 4), dtype="int64", low=0, high=10)], outputs=["y"], batches=(3,))
def ids():
    return nn.Embedding(10, 4)
''')
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "onnxruntime,torch")
    run.assert_outcomes(passed=2)
    assert cases["ids[torch-fp32-b3-s1]"]["parity"]["passed"] is True


SEQ_SUITE = '''
import torch
from torch import nn
import trtperf
from trtperf import InputSpec

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)

    def forward(self, ids, mask):
        h = self.layer(self.emb(ids))
        return (h * mask.unsqueeze(-1).to(h.dtype)).sum(1)

@trtperf.model(inputs=[InputSpec("ids", ("batch", "seq"), dtype="int64", low=0, high=100),
                       InputSpec("mask", ("batch", "seq"), dtype="bool", p_true=0.8)],
               outputs=["pooled"], batches=(2,), dims={"seq": (8, 24)}, max_batch=4)
def enc():
    return Encoder()
'''


def test_named_axes_make_one_export_and_a_case_per_value(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_enc=SEQ_SUITE)
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "onnxruntime,torch")
    run.assert_outcomes(passed=4)
    assert sorted(cases) == ["enc[onnxruntime-fp32-b2-seq24-s1]", "enc[onnxruntime-fp32-b2-seq8-s1]",
                             "enc[torch-fp32-b2-seq24-s1]", "enc[torch-fp32-b2-seq8-s1]"]
    assert cases["enc[onnxruntime-fp32-b2-seq8-s1]"]["case"]["dims"] == {"seq": 8}
    exports = {c["artifact"]["onnx_sha256"] for c in cases.values()}
    assert len(exports) == 1  # one export, both axes dynamic
    ids = _onnx(tmp_path / "cache", exports.pop()).graph.input[0]
    assert [bool(d.dim_param) for d in ids.type.tensor_type.shape.dim] == [True, True]

    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "torch", "--trtperf-dim", "seq=16,999")
    # 16 lies within the declared 8..24 and runs; 999 does not and is dropped, and the header says so.
    run.assert_outcomes(passed=1)
    run.stdout.fnmatch_lines(["trtperf: --trtperf-dim values outside a model's declared range:",
                              "  model 'enc': seq=999 (declared range 8..24) not run: *"])
    assert list(cases) == ["enc[torch-fp32-b2-seq16-s1]"]

    # A misspelled axis was ignored silently: every declared case ran.
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "torch", "--trtperf-dim", "sq=16")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    run.stderr.fnmatch_lines(["ERROR: --trtperf-dim sq=16: no collected model declares the axis 'sq'; the collected "
                              "models declare: seq (model enc). Fix: name a declared axis, e.g. --trtperf-dim "
                              "seq=16 (did you mean it?)"])
    assert list(cases) == ["enc[torch-fp32-b2-seq16-s1]"], "a usage error leaves the results file alone"


ONNX_SUITE = '''
import trtperf
from trtperf import InputSpec

mlp = trtperf.model(onnx="models/mlp.onnx", batches=(1, 4), precisions=("fp32", "fp16", "int8"))
mlp_qdq = trtperf.model(onnx="models/mlp_qdq.onnx", batches=(4,))
ids = trtperf.model(onnx="models/ids.onnx", inputs=[InputSpec("ids", ("batch", "sequence"), dtype="int64", low=0,
                                                              high=50)], batches=(2,), dims={"sequence": (8,)})
'''


def _onnx_suite(pytester: pytest.Pytester, onnx_files: dict[str, Path]) -> None:
    models = pytester.path / "models"
    models.mkdir()
    for path in onnx_files.values():
        shutil.copy(path, models / path.name)
    pytester.makepyfile(test_files=ONNX_SUITE)


def test_onnx_files_run_as_models(pytester: pytest.Pytester, tmp_path: Path, onnx_files: dict[str, Path]) -> None:
    _onnx_suite(pytester, onnx_files)
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "onnxruntime,torch")
    run.assert_outcomes(passed=8, skipped=8)
    run.stdout.fnmatch_lines(["*mlp[[]torch-fp32-b1-s1[]]: 'mlp' is declared from an ONNX file; the torch backend "
                              "runs a torch module*"])
    assert sorted(k for k, c in cases.items() if c["outcome"] == "passed") == [
        "ids[onnxruntime-fp32-b2-sequence8-s1]",
        "mlp[onnxruntime-fp16-b1-s1]", "mlp[onnxruntime-fp16-b4-s1]", "mlp[onnxruntime-fp32-b1-s1]",
        "mlp[onnxruntime-fp32-b4-s1]", "mlp[onnxruntime-int8-b1-s1]", "mlp[onnxruntime-int8-b4-s1]",
        "mlp_qdq[onnxruntime-int8-b4-s1]"]
    qdq = cases["mlp_qdq[onnxruntime-int8-b4-s1]"]["artifact"]
    assert qdq["onnx_sha256"] == hashlib.sha256(onnx_files["qdq"].read_bytes()).hexdigest()
    assert qdq["variant_sha256"] == qdq["onnx_sha256"]  # the Q/DQ file runs as it is
    int8 = cases["mlp[onnxruntime-int8-b4-s1]"]["artifact"]
    assert int8["variant_sha256"] != int8["onnx_sha256"]  # quantized by trtperf from the file


def test_onnx_files_build_tensorrt_engines(pytester: pytest.Pytester, tmp_path: Path,
                                           onnx_files: dict[str, Path]) -> None:
    pytest.importorskip("tensorrt_rtx_bindings")
    _onnx_suite(pytester, onnx_files)
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "tensorrt", "--trtperf-build-only",
                      "--trtperf-trt-flavour", "tensorrt_rtx", "--trtperf-trt-opt-level", "0", "-k",
                      "fp32-b4 or qdq or ids")
    run.assert_outcomes(passed=3)
    assert all(c["build"]["cache_key"] for c in cases.values())


def test_named_axes_build_one_profile_over_the_declared_range(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytest.importorskip("tensorrt_rtx_bindings")
    pytester.makepyfile(test_enc=SEQ_SUITE)
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "tensorrt", "--trtperf-build-only",
                      "--trtperf-trt-flavour", "tensorrt_rtx", "--trtperf-trt-opt-level", "0")
    run.assert_outcomes(passed=2)
    for seq in (8, 24):
        profile = cases[f"enc[tensorrt-fp32-b2-seq{seq}-s1]"]["build"]["profile"]
        # min/max: batch 1..max_batch 4 and seq 8..24 (the declared range); opt: the case's shape
        assert profile == {name: [[1, 8], [2, seq], [4, 24]] for name in ("ids", "mask")}


NET_SUITE = '''
from torch import nn
import trtperf
from trtperf import InputSpec

@trtperf.model(inputs=[InputSpec("x", ("batch", 8))], outputs=["y"], batches=BATCHES)
def net():
    return LAYERS
'''


def test_two_models_under_one_name_fail_the_second_ones_cases_with_the_fix(pytester: pytest.Pytester,
                                                                          tmp_path: Path) -> None:
    # Found by review (2026-12-07): both shared the first one's export; the onnxruntime case of the second
    # passed on the first model's ONNX, its torch case failed parity.
    pytester.makepyfile(test_a=NET_SUITE.replace("BATCHES", "(2,)").replace("LAYERS", "nn.Linear(8, 4)"),
                        test_b=NET_SUITE.replace("BATCHES", "(2,)").replace(
                            "LAYERS", "nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4), nn.Tanh())"))
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "onnxruntime,torch")
    run.assert_outcomes(passed=2, failed=2)
    run.stdout.fnmatch_lines(["*net[[]onnxruntime-fp32-b2-s1[]]*model name 'net' is declared for two different "
                              "models (*test_a.py and *test_b.py; they differ in: factory)*"
                              "trtperf.model(..., name=...)*"])
    # The first file's cases ran on its own model; the other's never ran.
    failed = [key for key, case in cases.items() if case["outcome"] == "failed"]
    assert len(failed) == 2 and all(cases[k]["failed_stage"] == "setup" for k in failed)


def test_one_model_declared_twice_for_other_batches_shares_its_export(pytester: pytest.Pytester,
                                                                      tmp_path: Path) -> None:
    pytester.makepyfile(test_split='''
from torch import nn
import trtperf
from trtperf import InputSpec

def make():
    return nn.Linear(8, 4)

small = trtperf.model(inputs=[InputSpec("x", ("batch", 8))], outputs=["y"], batches=(2, 4), name="lin")(make)
large = trtperf.model(inputs=[InputSpec("x", ("batch", 8))], outputs=["y"], batches=(4, 16, 16), name="lin")(make)
''')
    run, cases = _run(pytester, tmp_path, "--trtperf-backend", "onnxruntime")
    # b4 is declared by both and b16 twice (a new user's trial, 2026-12-07: repeated keys ran twice and were
    # reported twice): each key is one case
    run.assert_outcomes(passed=3)
    assert sorted(cases) == [f"lin[onnxruntime-fp32-b{b}-s1]" for b in (16, 2, 4)]
    assert len({c["artifact"]["onnx_sha256"] for c in cases.values()}) == 1
