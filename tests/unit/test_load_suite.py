"""Loading suite files outside pytest (benchmarks, the Hypothesis reproducer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trtperf.errors import TrtperfUsageError
from trtperf.spec import find_model, load_suite

SUITE = '''
from torch import nn
import trtperf
from trtperf import InputSpec
from helper_mod import WIDTH  # a helper beside the suite

@trtperf.model(inputs=[InputSpec("x", ("batch", WIDTH))], outputs=["y"])
def local():
    return nn.Linear(WIDTH, 2)
'''

IMPORTER = '''
from test_local import local as imported  # declared elsewhere: not this file's model
'''


def test_load_suite_returns_the_models_defined_there_once(tmp_path: Path) -> None:
    (tmp_path / "helper_mod.py").write_text("WIDTH = 3\n")
    (tmp_path / "test_local.py").write_text(SUITE)
    (tmp_path / "test_importer.py").write_text(IMPORTER)
    (first,) = load_suite(tmp_path / "test_local.py")
    assert first.name == "local" and first.inputs[0].shape == ("batch", 3)
    assert load_suite(tmp_path / "test_local.py")[0] is first  # imported once per process
    assert load_suite(tmp_path / "test_importer.py") == []
    assert find_model([tmp_path / "test_importer.py", tmp_path / "test_local.py"], "local") is first


def test_find_model_names_what_exists(tmp_path: Path) -> None:
    (tmp_path / "helper_mod.py").write_text("WIDTH = 3\n")
    (tmp_path / "test_local.py").write_text(SUITE)
    with pytest.raises(TrtperfUsageError, match=r"no model 'missing' in .*models there: \['local'\]"):
        find_model([tmp_path / "test_local.py"], "missing")


def test_load_suite_collects_every_declaration_made_there(tmp_path: Path) -> None:
    (tmp_path / "helper_models.py").write_text('''
import trtperf
from torch import nn
from trtperf import InputSpec

shared = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="shared")(nn.Tanh)
''')
    (tmp_path / "test_many.py").write_text('''
import functools
import trtperf
from torch import nn
from trtperf import InputSpec
from helper_models import shared  # declared in a helper that is no suite: collected here

X = [InputSpec("x", ("batch", 4))]
relu = trtperf.model(inputs=X, outputs=["y"])(nn.ReLU)  # a class from another module
MORE = {n: trtperf.model(inputs=X, outputs=["y"], name=n)(functools.partial(nn.Linear, 4, 2)) for n in ("a", "b")}
''')
    assert sorted(spec.name for spec in load_suite(tmp_path / "test_many.py")) == ["ReLU", "a", "b", "shared"]
