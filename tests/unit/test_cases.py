"""Cases: expansion of a declaration, narrowing by the selection, ids and keys."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from torch import nn

import trtperf
from trtperf import InputSpec, ModelSpec
from trtperf.cases import Case, dims_out_of_range, expand_cases, unknown_dim_axes
from trtperf.precisions import PRECISIONS

KNOWN = ["onnxruntime", "tensorrt", "torch"]


def _factory() -> nn.Module:
    return nn.Linear(4, 2)


def _spec(**kwargs: Any) -> ModelSpec:
    args: dict[str, Any] = {"inputs": [InputSpec("x", ("batch", 4))], "outputs": ["y"], "name": "cnn"}
    args.update(kwargs)
    spec: ModelSpec = trtperf.model(**args)(_factory)
    return spec


def test_id_and_key_are_readable() -> None:
    case = Case("cnn", "onnxruntime", "fp32", 8, 2)
    assert case.id == "onnxruntime-fp32-b8-s2"
    assert case.key == "cnn[onnxruntime-fp32-b8-s2]"


def test_named_axes_are_in_the_id_and_the_key_round_trips() -> None:
    case = Case("bert", "tensorrt", "fp16", 8, 1, (("seq", 128),))
    assert case.id == "tensorrt-fp16-b8-seq128-s1"
    assert case.key == "bert[tensorrt-fp16-b8-seq128-s1]"
    assert Case.from_key(case.key) == case
    two = Case("m", "torch", "fp32", 2, 3, (("h", 64), ("s", 7)))
    assert two.key == "m[torch-fp32-b2-h64-s7-s3]"  # an axis called "s" still parses
    assert Case.from_key(two.key) == two
    # Cases without named axes keep their ids: existing baselines still match.
    assert Case.from_key("cnn[onnxruntime-fp32-b8-s2]") == Case("cnn", "onnxruntime", "fp32", 8, 2)
    assert Case.from_key("cnn[onnxruntime-fp32-b8-s2]").dims == ()


def _seq_spec(**kwargs: Any) -> ModelSpec:
    ids = InputSpec("ids", ("batch", "seq"), dtype="int64", low=0, high=30000)
    return _spec(inputs=[ids], name="bert", dims={"seq": (128, 512)}, **kwargs)


def test_a_case_per_named_axis_value_and_dim_narrows_within_the_declared_range() -> None:
    spec = _seq_spec(batches=(8,))
    assert [c.key for c in expand_cases(spec, ["tensorrt"])] == ["bert[tensorrt-fp32-b8-seq128-s1]",
                                                                  "bert[tensorrt-fp32-b8-seq512-s1]"]
    narrowed = expand_cases(spec, ["tensorrt"], dims={"seq": (256, 1024, 256)})
    assert [c.dim_values for c in narrowed] == [{"seq": 256}]  # 1024 is beyond the export's range
    assert expand_cases(spec, ["tensorrt"], dims={"other": (3,)}) == expand_cases(spec, ["tensorrt"])
    # The dropped value is said, with the range and the fix (it was dropped silently).
    low, high = spec.dim_range("seq")
    assert dims_out_of_range(spec, {"seq": (256, 1024, 256), "other": (3,)}) == (
        f"model 'bert': seq=1024 (declared range {low}..{high}) not run: the export and the engine profile cover "
        "only the declared range (widen the axis's range in the declaration to run it)")
    assert dims_out_of_range(spec, {"seq": (256,)}) is None and dims_out_of_range(spec, None) is None


def test_expansion_without_selection_is_the_full_product_in_declaration_order() -> None:
    spec = _spec(batches=(8, 1), precisions=("fp32", "fp16"), streams=(1, 2))
    cases = expand_cases(spec, ["onnxruntime", "torch"])
    assert [c.id for c in cases] == [
        f"{b}-{p}-b{n}-s{s}"
        for b in ("onnxruntime", "torch")
        for p in ("fp32", "fp16")
        for n in (8, 1)
        for s in (1, 2)
    ]
    assert all(c.model == "cnn" for c in cases)
    assert len(set(cases)) == 16


def test_declared_backends_restrict_the_known_ones() -> None:
    cases = expand_cases(_spec(backends=("tensorrt",)), KNOWN)
    assert {c.backend for c in cases} == {"tensorrt"}


@pytest.mark.parametrize(
    ("selection", "expected_ids"),
    [
        ({"backends": ["torch"]}, ["torch-fp32-b1-s1", "torch-fp32-b8-s1"]),
        ({"backends": ["nope"]}, []),
        ({"precisions": ["fp16"]}, []),  # not declared: not run
        ({"batches": [8]}, ["onnxruntime-fp32-b8-s1"]),
        ({"batches": [32]}, ["onnxruntime-fp32-b32-s1"]),  # undeclared but within max_batch: run
        ({"batches": [65, 64]}, ["onnxruntime-fp32-b64-s1"]),  # above max_batch: dropped
        ({"streams": [4]}, ["onnxruntime-fp32-b1-s4", "onnxruntime-fp32-b8-s4"]),
        ({"batches": [], "streams": [1]}, []),
    ],
)
def test_selection_narrows(selection: dict[str, Any], expected_ids: list[str]) -> None:
    backends = selection.pop("backends", None)
    known = ["onnxruntime", "torch"] if backends else ["onnxruntime"]
    cases = expand_cases(_spec(), known, backends, **selection)
    assert [c.id for c in cases] == expected_ids


def test_precision_selection_keeps_declared_order() -> None:
    spec = _spec(precisions=("fp16", "fp32", "int8"))
    cases = expand_cases(spec, ["onnxruntime"], precisions=["int8", "fp16"], batches=[1])
    assert [c.precision for c in cases] == ["fp16", "int8"]


@pytest.mark.parametrize("key", [
    "cnn",
    "cnn[onnxruntime-fp32-b8]",
    "cnn[onnxruntime-fp32-8-s2]",
    "cnn[onnxruntime-fp32-b8-s2",
    "[onnxruntime-fp32-b8-s2]",
    "cnn[ONNX-fp32-b8-s2]",
    "cnn[onnxruntime-fp32-b8-s2]x",
])
def test_from_key_rejects_malformed_keys(key: str) -> None:
    with pytest.raises(ValueError, match="not a case key"):
        Case.from_key(key)


model_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,30}", fullmatch=True)
backend_names = st.from_regex(r"[a-z_]{1,20}", fullmatch=True)
cases_strategy = st.builds(
    Case,
    model=model_names,
    backend=backend_names,
    precision=st.sampled_from(PRECISIONS),
    batch=st.integers(1, 10**6),
    streams=st.integers(1, 1024),
)


@given(cases_strategy)
@example(Case("mlp.v2-b8-s1", "onnxruntime", "fp32", 1, 1))
@example(Case("a-fp16", "tensorrt_rtx", "fp8", 64, 16))
def test_key_round_trip(case: Case) -> None:
    assert Case.from_key(case.key) == case


@given(model_names)
def test_every_declarable_model_name_round_trips(name: str) -> None:
    spec = _spec(name=name, batches=(2,))
    for case in expand_cases(spec, ["onnxruntime"]):
        assert Case.from_key(case.key) == case


@pytest.mark.parametrize(("node_id", "is_case"), [
    ("suites/test_cnn.py::cnn[onnxruntime-fp32-b8-s2]", True),
    ("suites/test_bert.py::bert[tensorrt-fp16-b8-seq128-s1]", True),
    ("suites/test_bert.py::bert[tensorrt-fp16-b8-seq128-img_w64-s1]", True),
    ("tests/unit/test_cases.py::test_case_key[1-2]", False),
    ("tests/unit/test_x.py::test_y", False),
])
def test_the_xdist_controller_recognizes_case_node_ids(node_id: str, is_case: bool) -> None:
    from trtperf.plugin import _CASE_ID

    assert bool(_CASE_ID.search(node_id)) is is_case


def test_a_dim_axis_no_collected_model_declares_is_named_with_the_declared_axes_and_the_fix() -> None:
    declared = {"seq": {"bert", "gpt2"}, "width": {"seg"}}
    assert unknown_dim_axes({"seq": (128,)}, declared) == ""  # declared by some model: it narrows those
    message = unknown_dim_axes({"sq": (128,)}, declared)
    assert message == ("--trtperf-dim sq=128: no collected model declares the axis 'sq'; the collected models "
                       "declare: seq (models bert, gpt2); width (model seg). Fix: name a declared axis, e.g. "
                       "--trtperf-dim seq=128 (did you mean it?)")
    assert unknown_dim_axes({"sq": (128,), "wdth": (8,)}, declared).startswith(
        "--trtperf-dim sq=128;wdth=8: no collected model declares the axes 'sq', 'wdth'; ")
    assert unknown_dim_axes({"sq": (128,)}, declared, "TRTPERF_DIM").startswith("TRTPERF_DIM=sq=128: ")
    assert unknown_dim_axes({"seq": (64,)}, {}) == (
        "--trtperf-dim seq=64: no collected model declares the axis 'seq'; the collected models declare no named "
        "axes (only the batch axis, selected with --trtperf-batch). Fix: drop --trtperf-dim, or declare the axis "
        "on the model (InputSpec(..., ('batch', 'seq')) with dims={'seq': (...)})")
