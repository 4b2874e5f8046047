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
from trtperf.code_digest import code_digest, distribution_of, is_user_file, user_sources

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
    assert "unrelated_mod_d" not in set(user_sources([suite.__name__]))
    assert set(user_sources([suite.__name__])) == {"digest_suite_d", "digest_helper_d"}


def test_third_party_classes_count_by_distribution_version() -> None:
    name, version, sources = str(distribution_of("torch.nn.modules.linear")).split(" ")
    assert (name, version) == ("torch", importlib.metadata.version("torch")) and len(sources) == 16
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



LAZY_SUITE = '''
import torch
import trtperf
from trtperf import InputSpec
from consts_{tag} import SCALE

class Scaled(torch.nn.Module):
    def forward(self, x):
        from lazyops_{tag} import act  # imported at the first forward(), after the cache key was made
        return act(x) * SCALE

def make():
    import nets_{tag}
    return torch.nn.Sequential(nets_{tag}.Block(), Scaled())

model = trtperf.model(inputs=[InputSpec("x", ("batch", 4))], outputs=["y"], name="lazy")(make)
'''


@pytest.mark.parametrize(("helper", "before", "after"), [
    ("consts", "SCALE = 2.0\n", "SCALE = 3.0\n"),
    ("lazyops", "def act(x):\n    return x.relu()\n", "def act(x):\n    return x.tanh()\n"),
    ("nets", HELPER, HELPER.replace("self.lin(x).tanh()", "self.lin(x).sigmoid()")),
], ids=["a-constant", "an-import-in-forward", "an-import-in-the-factory"])
def test_code_reached_only_by_import_statements_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helper: str,
                                                       before: str, after: str) -> None:
    # Found by review (2026-12-07): a constant, an import inside forward() and one inside the factory were
    # not in the digest, so editing them reused the old export (a false pass on onnxruntime).
    tag = f"lz_{helper}"
    sources = {"consts": "SCALE = 2.0\n", "lazyops": "def act(x):\n    return x.relu()\n", "nets": HELPER}
    for name, text in sources.items():
        _write(tmp_path / f"{name}_{tag}.py", before if name == helper else text)
    _write(tmp_path / f"test_lazy_{tag}.py", LAZY_SUITE.format(tag=tag))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [f"{n}_{tag}" for n in sources]:
        monkeypatch.delitem(sys.modules, name, raising=False)
    suite = _import(monkeypatch, tmp_path / f"test_lazy_{tag}.py", f"lazy_suite_{tag}")
    assert f"lazyops_{tag}" not in sys.modules  # not imported yet: found where the import would find it
    digest = _digest(suite.model)
    assert set(user_sources([suite.__name__])) == {f"lazy_suite_{tag}", *(f"{n}_{tag}" for n in sources)}
    _write(tmp_path / f"{helper}_{tag}.py", after)
    monkeypatch.delitem(sys.modules, f"{helper}_{tag}", raising=False)  # a new process imports the edit
    assert _digest(suite.model) != digest


def test_a_package_reinstalled_under_the_same_version_counts_as_changed(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # A new user's trial (2026-12-07): their own package, pip-installed (not editable), edited and reinstalled
    # as 0.1: the key held "mypkg 0.1" only, and the old export was reused (a false pass on onnxruntime).
    import trtperf.code_digest as cd

    site = tmp_path / "site-packages"
    (site / "mypkg_r").mkdir(parents=True)
    (site / "mypkg_r" / "__init__.py").write_text("import torch\nACT = torch.relu\n")
    info = site / "mypkg_r-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mypkg_r\nVersion: 0.1\n")
    (info / "top_level.txt").write_text("mypkg_r\n")
    monkeypatch.syspath_prepend(str(site))

    def installed(file_hash: str) -> str | None:
        (info / "RECORD").write_text(f"mypkg_r/__init__.py,sha256={file_hash},40\n"
                                     "mypkg_r/__pycache__/__init__.cpython-311.pyc,sha256=anything,99\n"
                                     "../../bin/mypkg,sha256=shebang-of-this-venv,50\n")
        cd._distributions.cache_clear()
        cd._installed.cache_clear()
        return distribution_of("mypkg_r")

    try:
        first = installed("AAAA")
        assert first is not None and first.startswith("mypkg_r 0.1 ")
        assert installed("AAAA") == first
        assert installed("BBBB") != first
    finally:
        cd._distributions.cache_clear()
        cd._installed.cache_clear()


def test_a_file_edited_after_its_import_is_keyed_as_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by review (2026-12-07): a helper edited while a session ran was keyed by its new text but exported
    # from its old, imported code, so every later run reused that stale export.
    suite = _suite(tmp_path, monkeypatch, "e")
    loaded = _digest(suite.block)
    _write(tmp_path / "digest_helper_e.py", HELPER.replace("self.lin(x).tanh()", "self.lin(x).sigmoid()"))
    assert _digest(suite.block) == loaded  # this process still runs the code it imported
    suite = _suite(tmp_path, monkeypatch, "e", HELPER.replace("self.lin(x).tanh()", "self.lin(x).sigmoid()"))
    assert _digest(suite.block) != loaded  # imported again (as a new process would): the edit counts


def test_comments_and_layout_do_not_count_code_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A review (2026-12-07): adding a comment to a suite re-exported every model in it.
    suite = _suite(tmp_path, monkeypatch, "f")
    before = _digest(suite.block)
    commented = "# a comment\n\n" + HELPER.replace("return x.tanh()", "return x.tanh()  # why: a note\n")
    assert _digest(_suite(tmp_path, monkeypatch, "f", commented).block) == before
    edited = HELPER.replace("return x.tanh()", "return x.sigmoid()")
    assert _digest(_suite(tmp_path, monkeypatch, "f", edited).block) != before


def test_a_helper_edited_after_its_import_stays_keyed_as_loaded_when_another_suite_imports_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A review (2026-12-07): a second suite importing the (cached) helper re-read the edited file at its
    # declaration, so the key followed the file while the process still ran the old code.
    suite = _suite(tmp_path, monkeypatch, "g")
    loaded = _digest(suite.block)
    _write(tmp_path / "digest_helper_g.py", HELPER.replace("self.lin(x).tanh()", "self.lin(x).sigmoid()"))
    _write(tmp_path / "test_other_g.py", SUITE.format(helper="digest_helper_g"))  # the helper module is cached
    _import(monkeypatch, tmp_path / "test_other_g.py", "digest_other_g")
    assert _digest(suite.block) == loaded


def test_a_namespace_package_import_does_not_break_the_declaration(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # A review (2026-12-07): an import of a namespace package (no __init__.py) not imported yet raised KeyError
    # in the import lookup at the declaration: the whole suite failed to collect.
    (tmp_path / "nsnets" / "layers").mkdir(parents=True)
    (tmp_path / "nsnets" / "layers" / "consts.py").write_text("SCALE = 2.0\n")
    _write(tmp_path / "test_ns.py", "from typing import TYPE_CHECKING\nimport torch\nimport trtperf\n"
           "if TYPE_CHECKING:\n    from nsnets.layers.consts import SCALE\n"
           "model = trtperf.model(inputs=[trtperf.InputSpec('x', ('batch', 4))], outputs=['y'], name='ns')("
           "lambda: torch.nn.Linear(4, 2))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = _import(monkeypatch, tmp_path / "test_ns.py", "digest_ns_suite")
    assert len(_digest(suite.model)) == 64
