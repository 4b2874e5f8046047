"""kill -9 at random points of every write path (export, variant, build, reference, baseline): the next
run passes, with no warning, no stuck entry, and nothing lost (issue 12)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from trtperf.cache import ArtifactCache
from trtperf.fsutil import TMP_SUFFIX, TMP_TAG
from trtperf.record.baselines import SCHEMA_VERSION, BaselineStore

CHAIN = '''
import itertools
import sys
from pathlib import Path

from torch import nn

import trtperf
from trtperf import InputSpec
from trtperf.backends.base import BuildRequest
from trtperf.backends.onnxruntime import OnnxRuntimeBackend
from trtperf.record.baselines import BaselineStore
from trtperf.cache import ArtifactCache
from trtperf.cases import Case
from trtperf.config import Settings
from trtperf.export import export_cached
from trtperf.parity.reference import cached_outputs
from trtperf.precision import precision_variant


def linear():
    return nn.Linear(8, 4)


def step(root, i):
    """Every write path once for model m<i>; returns which artifacts were cache hits."""
    cache, store = ArtifactCache(root / "cache"), BaselineStore(root / "baselines")
    spec = trtperf.model(inputs=[InputSpec("x", ("batch", 8))], outputs=["y"], name=f"m{i}", seed=i)(linear)
    fp32 = export_cached(spec, cache)
    variant = precision_variant(spec, fp32, "fp16", cache)
    case = Case(spec.name, "onnxruntime", "fp16", 2, 1)
    built = OnnxRuntimeBackend().build(BuildRequest(spec=spec, case=case, onnx_path=variant.path,
                                                    onnx_sha256=variant.meta["sha256"], settings=Settings(),
                                                    cache=cache))
    cached_outputs(spec, fp32, 2, 0, cache)
    cached_outputs(spec, variant, 2, 0, cache)
    store.update("cpu-test", {"name": "test"}, {case.key: {"stats": {"run_medians_ms": [1.0 + i], "runs": 1}}})
    return {"export": fp32.hit, "variant": variant.hit, "build": built.cache_hit}


def driver(root, rounds, seed):
    """Imports once, then runs the chain in forked children killed with SIGKILL at random points.

    The first child runs one step to the end (the time scale); each later child starts at the model
    the previous kill interrupted and is killed after a random part of 1.5 steps."""
    import json
    import os
    import random
    import signal
    import time

    rng = random.Random(seed)
    committed, next_i, step_s = [], 0, None
    for round_ in range(rounds + 1):
        read_end, write_end = os.pipe()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                for j in itertools.count(next_i):
                    step(root, j)
                    os.write(write_end, f"{j}\\n".encode())
                    if step_s is None:
                        break  # the first round: one whole step
            finally:
                os._exit(0)
        os.close(write_end)
        if step_s is not None:
            time.sleep(rng.uniform(0.0, 1.5 * step_s))
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        with os.fdopen(read_end) as handle:
            done = [int(line) for line in handle.read().split()]
        if step_s is None:
            step_s = time.perf_counter() - started
        committed += done
        next_i = done[-1] + 1 if done else next_i
    print(json.dumps({"committed": committed, "next": next_i, "step_s": step_s}), flush=True)


if __name__ == "__main__":
    driver(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
'''


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("kill_chain", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_chain"] = module  # inspect finds the module's source: the same export key as the driver's
    spec.loader.exec_module(module)
    return module


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"*{TMP_SUFFIX}") if TMP_TAG in p.name]


@pytest.fixture
def _drop_chain_module() -> Iterator[None]:
    yield
    sys.modules.pop("kill_chain", None)


@pytest.mark.usefixtures("_drop_chain_module")
def test_kill_9_at_random_points_loses_nothing_and_the_next_run_passes(tmp_path: Path) -> None:
    script = tmp_path / "chain.py"
    script.write_text(CHAIN)
    run = subprocess.run([sys.executable, str(script), str(tmp_path), "4", "12"], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.splitlines()[-1])
    committed, next_i = report["committed"], report["next"]
    assert committed[:1] == [0]
    chain = _load(script)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no CacheCorruptionWarning: a kill never leaves an unreadable entry
        chain.step(tmp_path, next_i)  # the next run, over what the last kill interrupted
        for i in committed:  # nothing committed was lost: every artifact is still a hit
            assert chain.step(tmp_path, i) == {"export": True, "variant": True, "build": True}
    cache = ArtifactCache(tmp_path / "cache")
    entries = [p for p in cache.root.glob("*/*/*") if p.is_dir() and TMP_TAG not in p.name]
    assert entries and all(cache.find(p.name) is not None for p in entries)
    loaded = BaselineStore(tmp_path / "baselines").load("cpu-test")
    assert loaded is not None
    for i in [*committed, next_i]:
        assert loaded.entries[f"m{i}[onnxruntime-fp16-b2-s1]"]["stats"]["run_medians_ms"] == [1.0 + i]
    assert json.loads((tmp_path / "baselines" / "cpu-test.json").read_text())["schema_version"] == SCHEMA_VERSION
    # Every key was accessed again above, and each access removes its own key's orphans.
    assert _temporaries(tmp_path) == []
