"""Model declarations: validation at declaration time, tolerance lookup, seeded module builds."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import trtperf
from trtperf import InputSpec, ModelSpec, Tolerance, TrtperfUsageError


def _factory() -> nn.Module:
    return nn.Linear(4, 2)


def _declare(**kwargs: Any) -> ModelSpec:
    args: dict[str, Any] = {"inputs": [InputSpec("x", ("batch", 4))], "outputs": ["y"]}
    args.update(kwargs)
    spec: ModelSpec = trtperf.model(**args)(_factory)
    return spec


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((4,), "exactly one 'batch' axis"),
        (("batch", "batch", 4), "exactly one 'batch' axis"),
        (("batch", 0), "dimension 0 must be a positive int"),
        (("batch", -3), "dimension -3 must be a positive int"),
        (("batch", "seq2"), "axis name 'seq2' must be letters and underscores"),
        (("batch", 2.5), "dimension 2.5 must be a positive int"),
    ],
)
def test_input_shape_is_validated(shape: tuple[Any, ...], match: str) -> None:
    with pytest.raises(TrtperfUsageError, match=match):
        InputSpec("x", shape)


def test_input_dtype_must_be_supported() -> None:
    with pytest.raises(TrtperfUsageError, match=r"dtype 'float64' not supported; use one of \["):
        InputSpec("x", ("batch", 3), dtype="float64")


def test_input_range_must_be_nonempty() -> None:
    with pytest.raises(TrtperfUsageError, match=re.escape("low 1.0 must be below high 1.0")):
        InputSpec("x", ("batch", 3), low=1.0, high=1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "int64"}, r"an integer \(int64\) input needs low= and high="),
        ({"dtype": "int32", "low": 0}, r"an integer \(int32\) input needs low= and high="),
        ({"dtype": "int64", "low": 0.2, "high": 0.8}, "holds no integer"),
        ({"dtype": "int32", "low": 0, "high": 2**40}, "does not fit int32"),
        ({"dtype": "bool", "low": 0}, "a bool input has no low/high; give p_true="),
        ({"dtype": "bool", "high": 1}, "a bool input has no low/high"),
        ({"dtype": "bool", "p_true": 1.5}, r"p_true 1.5 must lie in \[0, 1\]"),
        ({"dtype": "float32", "p_true": 0.5}, "p_true= is for bool inputs"),
        ({"dtype": "float32", "low": 2.0}, "low 2.0 must be below high 1.0"),
    ],
)
def test_input_ranges_are_validated_per_dtype(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(TrtperfUsageError, match=match):
        InputSpec("ids", ("batch", 4), **kwargs)


def test_value_range_fills_the_float_default() -> None:
    assert InputSpec("x", ("batch", 4)).value_range == (-1.0, 1.0)
    assert InputSpec("x", ("batch", 4), low=0.0).value_range == (0.0, 1.0)
    assert InputSpec("ids", ("batch", 4), dtype="int64", low=0, high=30000).value_range == (0, 30000)


def test_named_axes_need_declared_values() -> None:
    ids = InputSpec("ids", ("batch", "seq"), dtype="int64", low=0, high=30000)
    assert ids.named_axes == ("seq",)
    assert ids.concrete_shape(8, {"seq": 128}) == (8, 128)
    with pytest.raises(KeyError, match="no value for axis 'seq'"):
        ids.concrete_shape(8)
    with pytest.raises(TrtperfUsageError, match=r"input axes \['seq'\] have no values; .*dims=\{'seq': "):
        _declare(inputs=[ids])
    with pytest.raises(TrtperfUsageError, match="dims= names axis 'width', but no input shape uses it"):
        _declare(inputs=[ids], dims={"seq": (128,), "width": (4,)})
    with pytest.raises(TrtperfUsageError, match=r"dims\['seq'\] must be positive ints"):
        _declare(inputs=[ids], dims={"seq": (0, 128)})
    spec = _declare(inputs=[ids], dims={"seq": [512, 128]})
    assert spec.dims == {"seq": (512, 128)}
    assert spec.dim_range("seq") == (128, 512)


class _Encoder(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_any_callable_is_a_factory_and_the_declaring_module_is_recorded() -> None:
    x = [InputSpec("x", ("batch", 4))]
    assert trtperf.model(inputs=x, outputs=["y"])(_Encoder).name == "_Encoder"
    assert trtperf.model(inputs=x, outputs=["y"])(nn.Tanh).name == "Tanh"
    partial = trtperf.model(inputs=x, outputs=["y"])(functools.partial(nn.Linear, 4, 2))
    assert partial.name == "Linear" and isinstance(partial.build_module(), nn.Linear)
    named = trtperf.model(inputs=x, outputs=["y"], name="lam")(lambda: nn.Tanh())
    assert named.name == "lam"
    for spec in (partial, named):
        assert spec.declared_in == __name__  # the module applying the declaration, not torch's


def test_a_nameless_or_non_callable_factory_is_rejected_with_the_fix() -> None:
    x = [InputSpec("x", ("batch", 4))]
    with pytest.raises(TrtperfUsageError, match=r"cannot name the model after <function .*<lambda>.*; pass name="):
        trtperf.model(inputs=x, outputs=["y"])(lambda: nn.Tanh())
    with pytest.raises(TrtperfUsageError, match=r"got a module instance \(Linear\); give a factory"):
        trtperf.model(inputs=x, outputs=["y"], name="lin")(nn.Linear(4, 2))
    with pytest.raises(TrtperfUsageError, match=r"decorates a zero-argument callable .* got int 3"):
        trtperf.model(inputs=x, outputs=["y"])(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("shape", "axis", "concrete"), [
    (("batch", 3, 4), 0, (8, 3, 4)),
    ((7, "batch"), 1, (7, 8)),
])
def test_batch_axis_and_concrete_shape(shape: tuple[Any, ...], axis: int, concrete: tuple[int, ...]) -> None:
    spec = InputSpec("x", shape)
    assert spec.batch_axis == axis
    assert spec.concrete_shape(8) == concrete


def test_declaration_defaults() -> None:
    spec = _declare()
    assert spec.name == "_factory"
    assert spec.batches == (1, 8)
    assert spec.precisions == ("fp32",)
    assert spec.streams == (1,)
    assert spec.backends is None
    assert spec.max_batch == 64
    assert spec.settings == {}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "9lives"}, "model name '9lives' must match"),
        ({"name": "has space"}, "model name 'has space' must match"),
        ({"name": "brackets[x]"}, "must match"),
        ({"inputs": []}, "declare at least one input"),
        ({"outputs": []}, "declare at least one output name"),
        ({"outputs": ["x"]}, "input and output names must be unique"),
        ({"inputs": [InputSpec("x", ("batch", 4)), InputSpec("x", ("batch", 2))]}, "must be unique"),
        ({"outputs": ["y", "y"]}, "must be unique"),
        ({"precisions": ["fp32", "fp64"]}, r"unknown precision \['fp64'\]"),
        ({"batches": []}, "batches must be positive ints"),
        ({"batches": [0, 4]}, "batches must be positive ints"),
        ({"batches": [True]}, "batches must be positive ints"),
        ({"streams": [0]}, "streams must be positive ints"),
        ({"batches": [1, 128]}, "batch 128 exceeds max_batch 64"),
        ({"batches": [8], "max_batch": 4}, "batch 8 exceeds max_batch 4"),
    ],
)
def test_declaration_is_validated(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(TrtperfUsageError, match=match):
        _declare(**kwargs)


def test_unknown_setting_is_rejected_by_name() -> None:
    with pytest.raises(TrtperfUsageError, match=r"unknown setting \['rnus'\]; allowed: \[.*'runs'"):
        _declare(rnus=3)


def test_known_setting_with_bad_value_names_the_model() -> None:
    with pytest.raises(TrtperfUsageError, match=r"Invalid runs '0' from model '_factory'"):
        _declare(runs=0)


def test_known_settings_are_kept() -> None:
    spec = _declare(runs=3, threshold="10%")
    assert spec.settings == {"runs": 3, "threshold": "10%"}


def test_name_override_and_max_batch_boundary() -> None:
    spec = _declare(name="mlp.v2-small", batches=[64])
    assert spec.name == "mlp.v2-small"
    assert spec.batches == (64,)


TOL = {
    "fp16:out": Tolerance(atol=1.0),
    "fp16:": Tolerance(atol=2.0),
    "out": Tolerance(atol=3.0),
    "": Tolerance(atol=4.0),
}
DEFAULT = Tolerance(atol=5.0)


@pytest.mark.parametrize(
    ("keys", "precision", "output", "atol"),
    [
        (["fp16:out", "fp16:", "out", ""], "fp16", "out", 1.0),
        (["fp16:", "out", ""], "fp16", "out", 2.0),
        (["out", ""], "fp16", "out", 3.0),
        ([""], "fp16", "out", 4.0),
        ([], "fp16", "out", 5.0),
        (["fp16:out", "fp16:", "out", ""], "fp16", "other", 2.0),
        (["fp16:out", "fp16:", "out", ""], "fp32", "out", 3.0),
        (["fp16:out", "fp16:", ""], "fp32", "out", 4.0),
    ],
)
def test_tolerance_lookup_order(keys: list[str], precision: str, output: str, atol: float) -> None:
    spec = _declare(outputs=["out", "other"], tolerances={k: TOL[k] for k in keys})
    assert spec.tolerance_for(precision, output, DEFAULT).atol == atol


def test_build_module_is_seeded_and_in_eval_mode() -> None:
    def factory() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))

    a = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], seed=3)(factory).build_module()
    b = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], seed=3)(factory).build_module()
    c = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], seed=4)(factory).build_module()
    assert not a.training
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not torch.equal(a.state_dict()["0.weight"], c.state_dict()["0.weight"])


def test_factory_must_return_a_module() -> None:
    not_a_module: Callable[[], Any] = lambda: "nope"  # noqa: E731
    spec = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="bad")(not_a_module)
    message = "model 'bad': factory returned str, expected a torch.nn.Module"
    with pytest.raises(TrtperfUsageError, match=re.escape(message)):
        spec.build_module()


def test_source_digest_is_stable_and_covers_the_module_source() -> None:
    spec = _declare()
    assert spec.source_digest() == _declare().source_digest()
    assert len(spec.source_digest()) == 64



@pytest.mark.parametrize("key", ["scroes", "fp61:", "fp16:scroes"])
def test_tolerance_keys_must_name_declared_outputs_and_known_precisions(key: str) -> None:
    with pytest.raises(TrtperfUsageError, match=re.escape(repr(key))):
        _declare(tolerances={key: Tolerance()})


def test_the_factory_runs_once_and_every_caller_gets_its_own_untouched_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import trtperf.spec

    calls: list[str] = []

    def factory() -> nn.Module:
        calls.append("small")
        return nn.Linear(4, 2)

    spec = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="memo")(factory)
    first = spec.build_module()
    assert isinstance(first, nn.Linear)
    with torch.no_grad():
        first.weight.mul_(0)  # a caller casts, moves or changes its module
    second = spec.build_module()
    assert isinstance(second, nn.Linear)
    assert calls == ["small"] and second is not first and not second.training
    torch.manual_seed(spec.seed)
    assert torch.equal(second.weight, nn.Linear(4, 2).weight)  # as the seeded factory built it

    def big_factory() -> nn.Module:
        calls.append("big")
        return nn.Linear(4, 2)

    monkeypatch.setattr(trtperf.spec, "PRISTINE_MAX_BYTES", 8)  # too large to keep a copy of
    big = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="big")(big_factory)
    big.build_module()
    big.build_module()
    assert calls == ["small", "big", "big"]
    big.key_module()  # nothing kept: key_module builds too
    assert calls == ["small", "big", "big", "big"]


def test_key_module_is_the_pristine_module_without_a_copy() -> None:
    calls: list[int] = []

    def factory() -> nn.Module:
        calls.append(1)
        return nn.Linear(4, 2)

    spec = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="keyed_memo")(factory)
    built = spec.build_module()
    keyed = spec.key_module()
    assert isinstance(built, nn.Linear) and isinstance(keyed, nn.Linear)
    assert keyed is spec.key_module() and keyed is not built and calls == [1]
    with torch.no_grad():
        built.weight.mul_(0)  # what a case does to its own module never reaches the pristine one
    assert not torch.equal(keyed.weight, built.weight)
    from trtperf.code_digest import weights_digest

    assert weights_digest(keyed) == weights_digest(spec.build_module())


def test_a_shape_given_as_a_list_is_kept_as_a_tuple_and_the_model_is_hashable() -> None:
    # A review (2026-12-07): InputSpec("x", ["batch", 4]) kept the list, and the export memo's key (the model's
    # identity) could not be hashed: every case failed at export.
    spec = trtperf.model(inputs=[InputSpec("x", ["batch", 4])], outputs=["y"], name="listed")(  # type: ignore[arg-type]
        lambda: torch.nn.Linear(4, 2))
    assert spec.inputs[0].shape == ("batch", 4)
    assert hash(spec.identity()) == hash(spec.identity())
