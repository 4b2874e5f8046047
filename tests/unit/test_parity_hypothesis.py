"""Hypothesis parity mode: recipes stay within the profile and ranges, failures shrink, and are saved."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trtperf import InputSpec, ModelSpec
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.parity.compare import TwoWayParity, two_way_parity
from trtperf.parity.hypothesis import (
    STEPS,
    Recipe,
    batch_range,
    hypothesis_dir,
    recipe_inputs,
    recipes,
    search,
    write_reproducer,
)
from trtperf.parity.tolerance import COST_TOLERANCES

Arrays = dict[str, np.ndarray]


def _spec(tiny_spec: ModelSpec) -> ModelSpec:
    return dataclasses.replace(tiny_spec, inputs=(InputSpec("x", ("batch", 4), low=-2.0, high=6.0),
                                                  InputSpec("n", ("batch", 2), dtype="int64", low=0, high=5)),
                               max_batch=16)


@given(st.data())
def test_recipes_stay_in_the_profile_and_the_declared_ranges(tiny_spec: ModelSpec, data: st.DataObject) -> None:
    spec = _spec(tiny_spec)
    recipe = data.draw(recipes(spec, (2, 9)))
    assert 2 <= recipe.batch <= 9
    arrays = recipe_inputs(spec, recipe)
    assert arrays["x"].shape == (recipe.batch, 4) and arrays["x"].dtype == np.float32
    assert arrays["x"].min() >= -2.0 and arrays["x"].max() <= 6.0
    assert arrays["n"].dtype == np.int64 and arrays["n"].min() >= 0 and arrays["n"].max() < 5
    assert Recipe.from_json(json.loads(json.dumps(recipe.to_json()))) == recipe
    assert np.array_equal(recipe_inputs(spec, recipe)["x"], arrays["x"]), "a recipe must expand deterministically"


@given(st.integers(0, STEPS - 1).flatmap(lambda lo: st.tuples(st.just(lo), st.integers(0, STEPS - lo))),
       st.integers(0, 2**16))
def test_integer_recipes_draw_only_declared_integers(tiny_spec: ModelSpec, sub: tuple[int, int], seed: int) -> None:
    # [0.5, 3.5) declares the integers 1, 2, 3 exactly; bools follow p_true.
    spec = dataclasses.replace(tiny_spec, inputs=(InputSpec("ids", ("batch", "seq"), dtype="int64", low=0.5, high=3.5),
                                                  InputSpec("mask", ("batch", "seq"), dtype="bool", p_true=1.0)),
                               dims={"seq": (5, 9)})
    arrays = recipe_inputs(spec, Recipe(batch=2, seed=seed, ranges=(sub, (0, STEPS))), {"seq": 9})
    assert arrays["ids"].shape == (2, 9) and arrays["mask"].shape == (2, 9)
    assert set(np.unique(arrays["ids"]).tolist()) <= {1, 2, 3}
    assert arrays["mask"].all()


def test_a_zero_width_range_is_a_constant(tiny_spec: ModelSpec) -> None:
    spec = _spec(tiny_spec)
    arrays = recipe_inputs(spec, Recipe(batch=3, seed=0, ranges=((STEPS // 2, 0), (0, STEPS))))
    assert np.all(arrays["x"] == 2.0)


def test_profile_comes_from_the_trt_batch_range_only_for_tensorrt(tiny_spec: ModelSpec) -> None:
    settings = dataclasses.replace(Settings(), trt_batch_range=(2, 8))
    assert batch_range(tiny_spec, Case("m", "tensorrt", "fp16", 4, 1), settings) == (2, 8)
    assert batch_range(tiny_spec, Case("m", "onnxruntime", "fp16", 4, 1), settings) == (1, tiny_spec.max_batch)
    assert hypothesis_dir(dataclasses.replace(Settings(), results=Path("/r/x.json"))) == Path("/r/hypothesis")


class _Fake:
    """A comparer whose 'engine' is wrong (by 1.0) whenever batch >= 3 and some value exceeds 4."""

    def compare(self, got: Mapping[str, np.ndarray], inputs: Arrays) -> TwoWayParity:
        expected = {"y": np.asarray(inputs["x"], np.float64)}
        return two_way_parity(got, expected, lambda n: COST_TOLERANCES["fp32"], expected,
                              lambda n: COST_TOLERANCES["fp32"], "fp32")


def _buggy_engine(inputs: Arrays) -> dict[str, np.ndarray]:
    x = np.asarray(inputs["x"], np.float64)
    wrong = x.shape[0] >= 3 and bool((x > 4.0).any())
    return {"y": x + (1.0 if wrong else 0.0)}


def test_failure_shrinks_to_the_smallest_batch_and_is_replayed_from_the_database(tiny_spec: ModelSpec,
                                                                                 tmp_path: Path) -> None:
    spec = _spec(tiny_spec)
    case = Case(spec.name, "onnxruntime", "fp32", 1, 1)
    ran, recipe, message = search(spec, case, _buggy_engine, _Fake(), (1, 16), 200, tmp_path / "db")
    assert recipe is not None, "Hypothesis missed an input-dependent fault"
    assert recipe.batch == 3, "not shrunk to the smallest failing batch"
    assert recipe.seed == 0 and recipe.ranges[1] == (0, 0), "the irrelevant input was not shrunk away"
    assert "output 'y'" in message
    # The database holds the shrunk example: the next search fails on its very first example.
    ran_again, again, _ = search(spec, case, _buggy_engine, _Fake(), (1, 16), 200, tmp_path / "db")
    assert again == recipe and ran_again < ran
    # Another case has its own database key: nothing is replayed for it.
    other = dataclasses.replace(case, precision="fp16")
    ran_other, _, _ = search(spec, other, lambda i: {"y": np.asarray(i["x"], np.float64)}, _Fake(), (1, 16), 5,
                             tmp_path / "db")
    assert ran_other == 5


def test_a_correct_engine_passes_every_example(tiny_spec: ModelSpec) -> None:
    spec = _spec(tiny_spec)
    case = Case(spec.name, "onnxruntime", "fp32", 1, 1)
    ran, recipe, _ = search(spec, case, lambda i: {"y": np.asarray(i["x"], np.float64)}, _Fake(), (1, 4), 7, None)
    assert (ran, recipe) == (7, None)


def test_reproducer_names_suite_case_and_recipe(tiny_spec: ModelSpec, tmp_path: Path) -> None:
    path = tmp_path / "repro.json"
    recipe = Recipe(batch=3, seed=0, ranges=((15, 1),))
    write_reproducer(path, tiny_spec, Case(tiny_spec.name, "onnxruntime", "int8", 1, 1), Settings(), recipe, "boom")
    data = json.loads(path.read_text())
    assert data["case"] == "tiny_mlp[onnxruntime-int8-b1-s1]" and data["model"] == "tiny_mlp"
    assert data["suite"].endswith("conftest.py") and Recipe.from_json(data["recipe"]) == recipe
    assert data["failure"] == "boom" and data["schema_version"] == 2
    assert Settings.from_json(data["settings"]) == Settings()  # every resolved setting is saved


@pytest.mark.parametrize("bad", [{"schema_version": 99}])
def test_replay_rejects_foreign_files(tmp_path: Path, bad: dict[str, int]) -> None:
    from trtperf.parity.hypothesis import replay

    path = tmp_path / "r.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(SystemExit, match="not a trtperf Hypothesis reproducer"):
        replay(path)


def test_a_replay_rebuilds_the_engine_that_failed(tiny_spec: ModelSpec, tmp_path: Path) -> None:
    """Reproducers save every resolved setting, so a replay with non-default settings builds the same engine
    (same cache key); one that kept only a few settings built another engine and could report 'passes now'."""
    pytest.importorskip("tensorrt_rtx_bindings")
    from trtperf.cache import ArtifactCache
    from trtperf.prepare import prepare

    cache = ArtifactCache(tmp_path / "cache")
    settings = dataclasses.replace(Settings(), cache_dir=tmp_path / "cache", trt_opt_level=0, trt_batch_range=(1, 8),
                                   trt_flavour="tensorrt_rtx", seed=3, build_only=True)
    case = Case(tiny_spec.name, "tensorrt", "fp32", 4, 1)
    failed = prepare(tiny_spec, case, settings, cache).built.cache_key
    path = tmp_path / "repro.json"
    write_reproducer(path, tiny_spec, case, settings, Recipe(batch=2, seed=0, ranges=((0, 16),)), "boom")
    saved = Settings.from_json(json.loads(path.read_text())["settings"])
    assert saved == dataclasses.replace(settings, sources={})
    assert prepare(tiny_spec, case, saved, cache).built.cache_key == failed
    defaults = dataclasses.replace(Settings(), cache_dir=tmp_path / "cache", trt_flavour="tensorrt_rtx")
    assert prepare(tiny_spec, case, defaults, cache).built.cache_key != failed  # the test can fail
