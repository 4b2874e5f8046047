"""The code digest: every user file a model runs counts, import order and paths do not."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest
import torch

import trtperf
from trtperf import InputSpec, ModelSpec
from trtperf.code_digest import code_digest, distribution_of, is_user_file, user_modules

HELPER = '''
from torch import nn

def act(x):
    return x.tanh()

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x).tanh()
'''

SUITE = '''
import trtperf
from trtperf import InputSpec
from torch import nn
import {helper}
from {helper} import act

class UsesAct(nn.Module):
    def forward(self, x):
        return act(x)

block = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="block")({helper}.Block)
uses_act = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="uses_act")(UsesAct)
'''


def _import(monkeypatch: pytest.MonkeyPatch, path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    # A later edit within the same clock tick must still be seen as an edit.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def _suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str, helper_source: str = HELPER) -> ModuleType:
    helper = f"digest_helper_{tag}"
    _write(tmp_path / f"{helper}.py", helper_source)
    _import(monkeypatch, tmp_path / f"{helper}.py", helper)
    _write(tmp_path / f"test_suite_{tag}.py", SUITE.format(helper=helper))
    return _import(monkeypatch, tmp_path / f"test_suite_{tag}.py", f"digest_suite_{tag}")


def _digest(spec: ModelSpec) -> str:
    return spec.source_digest(spec.build_module())


def test_editing_forward_in_an_imported_helper_changes_the_digest(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    suite = _suite(tmp_path, monkeypatch, "a")
    before = _digest(suite.block)
    assert _digest(suite.block) == before
    suite = _suite(tmp_path, monkeypatch, "a", HELPER.replace("self.lin(x).tanh()", "self.lin(x).sigmoid()"))
    assert _digest(suite.block) != before


def test_editing_a_helper_function_called_from_forward_changes_the_digest(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    suite = _suite(tmp_path, monkeypatch, "b")
    before = _digest(suite.uses_act)
    suite = _suite(tmp_path, monkeypatch, "b", HELPER.replace("return x.tanh()", "return x.sigmoid()"))
    assert _digest(suite.uses_act) != before


def test_the_digest_holds_content_only_not_paths_or_module_names(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = _suite(tmp_path / "one", monkeypatch, "c")
    second = _suite(tmp_path / "two", monkeypatch, "c")  # same files elsewhere, imported afresh
    assert _digest(first.block) == _digest(second.block)


def test_unrelated_user_modules_in_the_process_do_not_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = _suite(tmp_path, monkeypatch, "d")
    before = _digest(suite.block)
    _write(tmp_path / "unrelated_mod_d.py", "X = 1\n")
    _import(monkeypatch, tmp_path / "unrelated_mod_d.py", "unrelated_mod_d")
    assert _digest(suite.block) == before
    assert "unrelated_mod_d" not in {m.__name__ for m in user_modules([suite.__name__])}
    assert {m.__name__ for m in user_modules([suite.__name__])} == {"digest_suite_d", "digest_helper_d"}


def test_third_party_classes_count_by_distribution_version() -> None:
    assert distribution_of("torch.nn.modules.linear") == f"torch {importlib.metadata.version('torch')}"
    assert distribution_of("collections") is None
    assert distribution_of("builtins") is None


def test_a_different_third_party_module_tree_changes_the_digest() -> None:
    # Same factory and declaring module: only the classes the built module holds differ.
    digest_linear = code_digest(torch.nn.Linear, __name__, torch.nn.Linear(2, 2))
    assert digest_linear == code_digest(torch.nn.Linear, __name__, torch.nn.Linear(2, 2))
    assert code_digest(torch.nn.Linear, __name__, None) == code_digest(torch.nn.Linear, __name__, None)
    # torch classes come from one distribution: their version counts, their files do not
    assert digest_linear == code_digest(torch.nn.Linear, __name__, torch.nn.Sequential(torch.nn.Tanh()))
    assert digest_linear != code_digest(torch.nn.Linear, __name__, None)


def test_user_files_are_those_outside_the_stdlib_site_packages_and_trtperf(tmp_path: Path) -> None:
    assert is_user_file(tmp_path / "helper.py")
    assert is_user_file(__file__)
    assert not is_user_file(Path(sysconfig.get_paths()["stdlib"]) / "json" / "__init__.py")
    assert not is_user_file(torch.__file__)
    assert not is_user_file(trtperf.__file__)


def test_declarations_in_a_function_digest_their_module() -> None:
    spec = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"])(torch.nn.Tanh)
    assert spec.declared_in == __name__
    assert spec.source_digest() == code_digest(torch.nn.Tanh, __name__)

