"""Hypothesis parity mode (``--trtperf-hypothesis-examples N``): parity on drawn inputs, shrunk and saved.

The fixed-seed parity check sees one input per batch size. This mode lets Hypothesis draw N
more: a batch size within the engine's optimization profile and, per input, a sub-range of its
declared ``[low, high)`` that the values are drawn from (down to a constant). Each example is
checked both ways (faithful and cost, see :mod:`trtperf.parity.tolerance`). A failure is shrunk to the
smallest batch, narrowest ranges and smallest seed that still fail, kept in Hypothesis's example
database (the next run replays it first), and written as a JSON reproducer; then

    python -m trtperf.parity.hypothesis .trtperf/hypothesis/<case>.json

runs that one example again (exit status 1 while it still fails).

An example is a :class:`Recipe`, not the arrays: a few integers that shrink well and print
readably, expanded to arrays deterministically by :func:`recipe_inputs`.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.errors import TrtperfUsageError
from trtperf.fsutil import atomic_write_json
from trtperf.parity.compare import TwoWayParity
from trtperf.spec import ModelSpec, find_model
from trtperf.text import plural

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from trtperf.engine import Engine
    from trtperf.parity.reference import ReferenceRunner

STEPS = 16
"""Declared ranges are cut into this many steps; a drawn sub-range is [lo, lo + width] in steps."""
REPRO_SCHEMA = 2
"""2: the reproducer saves every resolved setting (1 saved four, so a replay could build another engine)."""

Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Recipe:
    """One drawn example: batch size, seed, and per input a sub-range (in 1/STEPS of its declared range)."""

    batch: int
    seed: int
    ranges: tuple[tuple[int, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {"batch": self.batch, "seed": self.seed, "ranges": [list(r) for r in self.ranges]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recipe:
        return cls(int(data["batch"]), int(data["seed"]), tuple((int(a), int(b)) for a, b in data["ranges"]))


def batch_range(spec: ModelSpec, case: Case, settings: Settings) -> tuple[int, int]:
    """The engine's profile: TensorRT's ``trt_batch_range`` where set, else 1..max_batch."""
    if case.backend == "tensorrt" and settings.trt_batch_range is not None:
        return settings.trt_batch_range
    return 1, spec.max_batch


def recipe_inputs(spec: ModelSpec, recipe: Recipe, dims: Mapping[str, int] | None = None) -> Arrays:
    """The arrays of ``recipe`` at the case's named-axis values ``dims``: uniform in each input's drawn
    sub-range of ``[low, high)``. Integers stay within ``ceil(low) .. ceil(high) - 1`` (the declared
    integers); bools are True with the declared ``p_true``."""
    arrays: Arrays = {}
    for index, (item, (lo, width)) in enumerate(zip(spec.inputs, recipe.ranges, strict=True)):
        rng = np.random.default_rng([recipe.seed, index, recipe.batch])
        shape = item.concrete_shape(recipe.batch, dims)
        declared_low, declared_high = item.value_range
        if item.dtype == "bool":
            arrays[item.name] = rng.random(size=shape) < (0.5 if item.p_true is None else item.p_true)
        elif item.dtype in ("float32", "float16"):
            step = (declared_high - declared_low) / STEPS
            low = declared_low + lo * step
            high = min(declared_high, low + width * step)
            values = rng.uniform(low, high, size=shape) if high > low else np.full(shape, low)
            arrays[item.name] = values.astype(item.dtype)
        else:
            first, count = math.ceil(declared_low), math.ceil(declared_high) - math.ceil(declared_low)
            start = first + (lo * count) // STEPS
            stop = min(first + count, max(start + 1, first + -(-(lo + width) * count // STEPS)))
            arrays[item.name] = rng.integers(start, stop, size=shape).astype(item.dtype)
    return arrays


def recipes(spec: ModelSpec, batches: tuple[int, int]) -> SearchStrategy[Recipe]:
    """The Hypothesis strategy of recipes; shrinks toward batch ``batches[0]``, seed 0, constant at ``low``."""
    from hypothesis import strategies as st

    sub_range = st.integers(0, STEPS - 1).flatmap(lambda lo: st.tuples(st.just(lo), st.integers(0, STEPS - lo)))
    return st.builds(
        Recipe,
        batch=st.integers(*batches),
        seed=st.integers(0, 2**16),
        ranges=st.tuples(*[sub_range for _ in spec.inputs]),
    )


@dataclass
class PropertyResult:
    examples: int
    passed: bool
    message: str = ""
    recipe: Recipe | None = None
    reproducer: str = ""
    failures: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["recipe"] = self.recipe.to_json() if self.recipe else None
        return data


class Comparer(Protocol):
    """Parity both ways of an engine's outputs on given inputs (:class:`ReferenceRunner` is the real one)."""

    def compare(self, got: Mapping[str, np.ndarray], inputs: Arrays) -> TwoWayParity: ...


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")


def hypothesis_dir(settings: Settings) -> Path:
    """Where the example database and reproducers live: beside the results file. The plugin resolves
    ``settings.results`` against the pytest root; a library caller without one gets ``./.trtperf/``."""
    base = settings.results.parent if settings.results is not None else Path(".trtperf")
    return base / "hypothesis"


def search(
    spec: ModelSpec,
    case: Case,
    infer: Callable[[Arrays], Mapping[str, np.ndarray]],
    references: Comparer,
    batches: tuple[int, int],
    examples: int,
    database_dir: Path | None,
) -> tuple[int, Recipe | None, str]:
    """Run Hypothesis: (examples run, the shrunk failing recipe or None, its failure description)."""
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import settings as hsettings
    from hypothesis.database import DirectoryBasedExampleDatabase

    failing: list[tuple[Recipe, str]] = []
    ran = [0]

    def check(recipe: Recipe) -> None:
        ran[0] += 1
        inputs = recipe_inputs(spec, recipe, case.dim_values)
        report = references.compare(infer(inputs), inputs)
        if not report.passed:
            failing.append((recipe, report.describe_failures()))
            raise AssertionError(report.describe_failures())

    database = DirectoryBasedExampleDatabase(str(database_dir)) if database_dir is not None else None
    test: Any = hsettings(
        max_examples=examples, deadline=None, database=database, print_blob=False, derandomize=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )(given(recipes(spec, batches))(check))
    # One database key per case and model source, not one for every use of `check`.
    digest = hashlib.sha256(f"{case.key}|{spec.source_digest()}".encode()).digest()
    test.hypothesis.inner_test._hypothesis_internal_add_digest = digest
    run: Callable[[], None] = test
    try:
        run()
    except AssertionError:
        if not failing:
            raise
        recipe, message = failing[-1]  # Hypothesis replays the shrunk example last
        return ran[0], recipe, message
    return ran[0], None, ""


def write_reproducer(path: Path, spec: ModelSpec, case: Case, settings: Settings, recipe: Recipe,
                     message: str) -> None:
    declaring = sys.modules.get(spec.declared_in)
    suite = getattr(declaring, "__file__", None) or inspect.getsourcefile(spec.factory) or ""
    atomic_write_json(path, {
        "schema_version": REPRO_SCHEMA,
        "suite": str(Path(suite).resolve()) if suite else "",
        "model": spec.name,
        "case": case.key,
        "recipe": recipe.to_json(),
        # Every resolved setting: the replay must build the very engine that failed (same cache key).
        "settings": settings.to_json(),
        "failure": message,
    })


def check_property(
    engine: Engine,
    spec: ModelSpec,
    case: Case,
    settings: Settings,
    references: ReferenceRunner,
) -> PropertyResult:
    """The pipeline's entry: ``settings.hypothesis_examples`` drawn examples through ``engine``."""
    directory = hypothesis_dir(settings)
    batches = batch_range(spec, case, settings)
    ran, recipe, message = search(spec, case, engine.infer, references, batches, settings.hypothesis_examples,
                                  directory / "examples")
    if recipe is None:
        return PropertyResult(examples=ran, passed=True)
    repro = directory / f"{_slug(case.key)}.json"
    write_reproducer(repro, spec, case, settings, recipe, message)
    text = (
        f"{case.key}: Hypothesis found inputs that fail parity after {plural(ran, 'example')}; smallest: batch "
        f"{recipe.batch}, seed {recipe.seed}, per-input ranges (in 1/{STEPS} of the declared range) "
        f"{[list(r) for r in recipe.ranges]}:\n{message}\n"
        f"Reproduce with: python -m trtperf.parity.hypothesis {repro}\n"
        f"If the difference is expected for this precision, set tolerances= in the model declaration of "
        f"{spec.name!r}."
    )
    return PropertyResult(examples=ran, passed=False, message=text, recipe=recipe, reproducer=str(repro),
                          failures=[message])


# ---- one-command reproduction ---------------------------------------------------------------


def _load_spec(suite: str, model: str) -> ModelSpec:
    try:
        return find_model([Path(suite)], model)
    except TrtperfUsageError as exc:
        raise SystemExit(str(exc)) from None


def replay(path: Path) -> tuple[bool, str]:
    """Rebuild (from the cache) the reproducer's case and run its one example: (passed, report)."""
    from trtperf.cache import ArtifactCache
    from trtperf.config import default_cache_dir
    from trtperf.parity.reference import ReferenceRunner
    from trtperf.prepare import prepare

    data = json.loads(path.read_text())
    if data.get("schema_version") != REPRO_SCHEMA:
        raise SystemExit(f"{path}: not a trtperf Hypothesis reproducer of schema {REPRO_SCHEMA}; rerun pytest with "
                         f"--trtperf-hypothesis-examples to write a new one")
    spec = _load_spec(data["suite"], data["model"])
    case = Case.from_key(data["case"])
    settings = Settings.from_json(data["settings"])
    cache = ArtifactCache(settings.cache_dir or default_cache_dir())
    prepared = prepare(spec, case, settings, cache)
    spec = prepared.spec  # an ONNX-file model's inputs come from its graph
    recipe = Recipe.from_json(data["recipe"])
    inputs = recipe_inputs(spec, recipe, case.dim_values)
    references = ReferenceRunner(spec, prepared.fp32, prepared.variant, case.precision, cache, case.backend)
    with prepared.load() as engine:
        report = references.compare(engine.infer(inputs), inputs)
    return report.passed, report.describe_failures()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trtperf.parity.hypothesis",
                                     description="Re-run the failing example saved by --trtperf-hypothesis-examples.")
    parser.add_argument("reproducer", type=Path, help="the .json file named in the failure message")
    args = parser.parse_args(argv)
    passed, text = replay(args.reproducer)
    print(f"{args.reproducer}: {'passes now' if passed else 'still fails'}")
    if text:
        print(text)
    return 0 if passed else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
