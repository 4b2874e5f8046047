"""Seeded inputs: reproducible, in range, of the declared dtype and shape."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import trtperf
from trtperf import InputSpec, ModelSpec
from trtperf.cache import ArtifactCache, CacheEntry
from trtperf.errors import TrtperfUsageError
from trtperf.inputs import BOOL_CHUNK, make_inputs


def _no_factory() -> None:
    """Inputs never build the module."""


def _spec(*inputs: InputSpec) -> ModelSpec:
    return trtperf.model(inputs=list(inputs), outputs=["out"], name="m")(_no_factory)  # type: ignore[arg-type]


def test_same_seed_and_batch_give_identical_inputs() -> None:
    spec = _spec(InputSpec("x", ("batch", 3, 5)), InputSpec("ids", (7, "batch"), dtype="int64", low=0, high=100))
    a, b = make_inputs(spec, 4, seed=11), make_inputs(spec, 4, seed=11)
    assert list(a) == ["x", "ids"]
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(make_inputs(spec, 4, seed=12)["x"], a["x"])
    assert a["x"].shape == (4, 3, 5) and a["ids"].shape == (7, 4)


def test_inputs_with_the_same_declaration_are_not_copies_of_each_other() -> None:
    spec = _spec(InputSpec("a", ("batch", 16)), InputSpec("b", ("batch", 16)))
    arrays = make_inputs(spec, 2)
    assert not np.array_equal(arrays["a"], arrays["b"])


def test_bool_inputs_hold_both_values() -> None:
    arrays = make_inputs(_spec(InputSpec("mask", ("batch", 64), dtype="bool")), 4)
    assert arrays["mask"].dtype == np.bool_
    assert set(np.unique(arrays["mask"]).tolist()) == {False, True}


dims = st.lists(st.integers(1, 5), min_size=0, max_size=3)
float_ranges = st.tuples(st.floats(-1e3, 1e3), st.floats(1e-3, 1e3)).map(lambda t: (t[0], t[0] + t[1]))
int_ranges = st.tuples(st.integers(-1000, 1000), st.integers(1, 1000)).map(lambda t: (t[0], t[0] + t[1]))


@given(dims, st.integers(0, 3), st.integers(1, 8), float_ranges, st.integers(0, 2**32 - 1))
def test_float32_inputs(shape: list[int], axis: int, batch: int, bounds: tuple[float, float], seed: int) -> None:
    declared: tuple[int | str, ...] = (*shape[:axis], "batch", *shape[axis:])
    low, high = bounds
    spec = _spec(InputSpec("x", declared, dtype="float32", low=low, high=high))
    x = make_inputs(spec, batch, seed)["x"]
    assert x.dtype == np.float32
    assert x.shape == spec.inputs[0].concrete_shape(batch)
    # float32 rounding may land on either bound, never beyond
    assert np.all(x >= np.float32(low)) and np.all(x <= np.float32(high))
    np.testing.assert_array_equal(x, make_inputs(spec, batch, seed)["x"])


@given(dims, st.integers(1, 8), int_ranges, st.sampled_from(["int32", "int64"]), st.integers(0, 2**32 - 1))
def test_integer_inputs(shape: list[int], batch: int, bounds: tuple[int, int], dtype: str, seed: int) -> None:
    low, high = bounds
    spec = _spec(InputSpec("ids", ("batch", *shape), dtype=dtype, low=low, high=high))
    ids = make_inputs(spec, batch, seed)["ids"]
    assert ids.dtype == np.dtype(dtype)
    assert ids.shape == (batch, *shape)
    assert np.all(ids >= low) and np.all(ids < high)


def test_integer_range_of_one_value() -> None:
    ids = make_inputs(_spec(InputSpec("ids", ("batch", 8), dtype="int64", low=3, high=4)), 2)["ids"]
    assert ids.tolist() == [[3] * 8] * 2


def test_integer_ranges_are_honoured_exactly() -> None:
    # [0.5, 3.5) holds the integers 1, 2, 3: low=0.5 never draws 0, high=3.5 draws 3.
    ids = make_inputs(_spec(InputSpec("ids", ("batch", 4096), dtype="int64", low=0.5, high=3.5)), 1)["ids"]
    assert set(np.unique(ids).tolist()) == {1, 2, 3}
    ids = make_inputs(_spec(InputSpec("ids", ("batch", 4096), dtype="int32", low=-2.5, high=0)), 1)["ids"]
    assert set(np.unique(ids).tolist()) == {-2, -1}


@pytest.mark.parametrize(("p_true", "fraction"), [(0.0, 0.0), (1.0, 1.0), (0.9, 0.9)])
def test_bool_inputs_follow_p_true(p_true: float, fraction: float) -> None:
    mask = make_inputs(_spec(InputSpec("mask", ("batch", 10000), dtype="bool", p_true=p_true)), 1)["mask"]
    assert mask.dtype == np.bool_
    assert abs(mask.mean() - fraction) < 0.02  # binomial sd at p=0.9, n=1e4: 0.003


def test_named_axes_take_the_case_values_and_batch_only_models_keep_their_inputs() -> None:
    spec = trtperf.model(inputs=[InputSpec("ids", ("batch", "seq"), dtype="int64", low=0, high=100)],
                         outputs=["out"], name="m", dims={"seq": (8, 32)})(_no_factory)  # type: ignore[arg-type]
    a, b = make_inputs(spec, 2, 0, {"seq": 8})["ids"], make_inputs(spec, 2, 0, {"seq": 32})["ids"]
    assert a.shape == (2, 8) and b.shape == (2, 32)
    np.testing.assert_array_equal(a, make_inputs(spec, 2, 0, {"seq": 8})["ids"])
    # A model without named axes draws exactly what it always drew (seed list [seed, index, batch]).
    plain = make_inputs(_spec(InputSpec("x", ("batch", 3))), 2, 5)["x"]
    expected = np.random.default_rng([5, 0, 2]).random((2, 3), dtype=np.float32) * np.float32(2.0) - np.float32(1.0)
    np.testing.assert_array_equal(plain, expected)


def test_float16_inputs_stay_below_high() -> None:
    x = make_inputs(_spec(InputSpec("x", ("batch", 64), dtype="float16", low=0.0, high=1.0)), 64, seed=0)["x"]
    assert x.dtype == np.float16
    assert np.all(x < 1.0)


def test_integer_range_without_an_integer_is_rejected_at_declaration() -> None:
    with pytest.raises(TrtperfUsageError, match="ids"):
        InputSpec("ids", ("batch", 4), dtype="int64", low=0.2, high=0.8)


def test_integer_input_without_a_range_is_rejected() -> None:
    # The float default [-1, 1) gave token ids {-1, 0}: ONNX Runtime wrapped -1, torch raised IndexError.
    with pytest.raises(TrtperfUsageError, match=r"needs low= and high="):
        InputSpec("ids", ("batch", 4), dtype="int64")


def test_reference_outputs_follow_the_declared_input_range(tiny_onnx: tuple[ArtifactCache, CacheEntry]) -> None:
    from trtperf.backends.onnxruntime import reference_session, run_session
    from trtperf.parity.reference import cached_outputs as reference_outputs

    cache, entry = tiny_onnx
    narrow, wide = (
        trtperf.model(inputs=[InputSpec("x", ("batch", 4), low=low, high=high)], outputs=["y"], name="tiny_mlp")(
            _no_factory)  # type: ignore[arg-type]
        for low, high in ((-1.0, 1.0), (10.0, 20.0))
    )
    reference_outputs(narrow, entry, 4, 0, cache)  # caches the narrow-range reference
    got = reference_outputs(wide, entry, 4, 0, cache)["y"]
    expected = run_session(reference_session(entry.path), make_inputs(wide, 4, 0))["y"]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "int64", "bool"])
def test_inputs_are_drawn_in_their_own_dtype_without_a_float64_copy(dtype: str) -> None:
    """Issue 12: inputs were drawn as float64 (int64) and then cast, so a large batch needed 2-3x the
    memory of its inputs; the peak is now about the input itself."""
    import tracemalloc

    ranged = {"p_true": 0.3} if dtype == "bool" else {"low": 0, "high": 10}  # a bool input takes p_true
    spec = _spec(InputSpec("x", ("batch", 1 << 16), dtype=dtype, **ranged))  # type: ignore[arg-type]
    tracemalloc.start()
    try:
        x = make_inputs(spec, 64)["x"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert x.dtype == np.dtype(dtype) and x.shape == (64, 1 << 16)
    # float16 goes through float32 (numpy draws no float16): its float32 draw plus the result, 3x (was 5x).
    factor = 3.25 if dtype == "float16" else 1.25
    extra = 4 * BOOL_CHUNK if dtype == "bool" else 0  # a bool with p_true draws float32 one chunk at a time
    assert peak < factor * x.nbytes + extra + (1 << 16), (peak, x.nbytes)
