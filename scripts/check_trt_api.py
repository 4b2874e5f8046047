#!/usr/bin/env python3
"""Static check of every TensorRT name the tensorrt backend uses, against three real APIs.

- TensorRT-RTX: stubs generated from ``tensorrt_rtx_bindings`` (``typings/``) type ``trt`` in
  ``trtperf/trt/api.py``, so mypy checks each call and attribute (run ``mypy``).
- TensorRT 10.x and 11.x: their binding wheels install but cannot import without their CUDA
  libraries, so the names bound in their extension modules (NUL-terminated identifier strings
  in ``tensorrt.so``) are extracted once into ``tests/data/trt_api/*.names``; this script checks
  that every TensorRT name the backend uses is among them.

A name read only through ``hasattr``/``getattr(obj, "name", default)`` is a feature test: it may
be missing from a flavour (that is what the test is for). ``tensorrt-stubs`` from the registry is
not usable with mypy (reference/tensorrt-api.md section 7), hence the generated stubs.

Usage:
  python scripts/check_trt_api.py                  # check (exit 1 on a missing name)
  python scripts/check_trt_api.py stubs            # regenerate typings/ (needs pybind11-stubgen)
  python scripts/check_trt_api.py names WHEEL...   # refresh tests/data/trt_api from binding wheels
     (pip download --no-deps --only-binary=:all: --python-version 3.11 \\
        --platform manylinux_2_28_x86_64 tensorrt-cu13-bindings 'tensorrt-cu12-bindings<11')
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "trtperf" / "trt", ROOT / "trtperf" / "backends" / "tensorrt.py"]
STUBS = ROOT / "typings" / "tensorrt_rtx_bindings"
NAMES_DIR = ROOT / "tests" / "data" / "trt_api"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENT_BYTES = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
# Attribute names in our code that are Python's or torch's own, never TensorRT's, even when a
# stub happens to define the same word (e.g. ``name``, ``shape``): they are not checked.
NOT_TENSORRT = frozenset({
    "append", "clear", "copy_", "cpu", "cuda", "cuda_stream", "data_ptr", "debug", "detach", "device", "dtype",
    "encode", "errors", "extend", "float", "get", "info", "items", "keys", "numpy", "pin_memory", "read_bytes",
    "read_text", "replay", "stream", "synchronize", "to", "update", "values", "warning", "write_bytes",
})


@dataclass
class Usage:
    direct: set[str] = field(default_factory=set)
    """Names used as attributes: must exist in every flavour."""
    feature_tests: set[str] = field(default_factory=set)
    """Names only probed with hasattr/getattr-with-default: may be missing."""


def stub_names(stubs: Path = STUBS) -> set[str]:
    """Every identifier the TensorRT-RTX stubs define or mention."""
    names: set[str] = set()
    for path in stubs.glob("*.pyi"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.Assign):
                names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def used_names(paths: Iterable[Path] = SOURCES) -> Usage:
    """Attribute names and feature-tested names in the backend's source."""
    usage = Usage()
    files = [p for path in paths for p in (sorted(path.rglob("*.py")) if path.is_dir() else [path])]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                usage.direct.add(node.attr)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("hasattr", "getattr") and len(node.args) >= 2
                  and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
                # getattr(x, "n") without a default is a plain use; with one, or hasattr, a test.
                probe = node.func.id == "hasattr" or len(node.args) == 3
                (usage.feature_tests if probe else usage.direct).add(node.args[1].value)
    return usage


def tensorrt_names(usage: Usage, stubs: set[str]) -> tuple[set[str], set[str]]:
    """(direct, feature-tested) names that are TensorRT's: defined by the RTX stubs, or feature tests."""
    direct = {n for n in usage.direct if n in stubs and n not in NOT_TENSORRT}
    probes = {n for n in usage.feature_tests if n in stubs or n[:1].isupper()}  # not e.g. getattr(settings, ...)
    return direct, probes - direct


def wheel_names(wheel: Path) -> set[str]:
    """Identifier strings in the wheel's extension modules (pybind11 keeps each bound name as one)."""
    names: set[str] = set()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.endswith(".so") or ".so." in member:
                data = archive.read(member)
                names.update(s.decode() for s in data.split(b"\0") if _IDENT_BYTES.fullmatch(s))
    return names


def load_names_files(directory: Path = NAMES_DIR) -> dict[str, set[str]]:
    return {p.stem: set(p.read_text().split()) for p in sorted(directory.glob("*.names"))}


def _suffixes(text: str) -> Iterable[str]:
    return (text[i:] for i in range(len(text)))


def bound(name: str, strings: set[str]) -> bool:
    """Whether ``name`` is among a module's strings. The linker merges a string literal into a
    longer one that ends with it ("Builder" lives inside "IBuilder", "ERROR" inside
    "INTERNAL_ERROR"), so a suffix of a stored string counts too."""
    return name in strings or any(s.endswith(name) for s in strings)


def missing_names(direct: set[str], apis: dict[str, set[str]]) -> dict[str, list[str]]:
    """Per API (wheel), the directly used names it lacks; empty when all are bound everywhere."""
    out = {}
    for api, strings in apis.items():
        lacking = sorted(n for n in direct if not bound(n, strings))
        if lacking:
            out[api] = lacking
    return out


def check() -> int:
    stubs = stub_names()
    if not stubs:
        print(f"no stubs in {STUBS}; run: python {sys.argv[0]} stubs", file=sys.stderr)
        return 2
    apis = load_names_files()
    if not apis:
        print(f"no names files in {NAMES_DIR}; run: python {sys.argv[0]} names WHEEL...", file=sys.stderr)
        return 2
    direct, probes = tensorrt_names(used_names(), stubs)
    missing = missing_names(direct, apis)
    print(f"{len(direct)} TensorRT names used directly, {len(probes)} feature tests "
          f"({', '.join(sorted(probes))}); checked against TensorRT-RTX stubs and {', '.join(apis)}")
    for api, names in missing.items():
        print(f"MISSING in {api}: {', '.join(names)}  (use a feature test, or change the call)")
    return 1 if missing else 0


def fix_stub_text(text: str) -> str:
    """Make pybind11-stubgen's output valid Python: a parameter named ``in``, and a non-default
    parameter after defaults in ``add_scale_nd`` (reference/tensorrt-api.md section 7)."""
    text = re.sub(r"\bin: ", "in_: ", text)
    return text.replace("power: Weights = None, channel_axis: typing.SupportsInt)",
                        "power: Weights = None, channel_axis: typing.SupportsInt = ...)")


def make_stubs() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pybind11_stubgen", "tensorrt_rtx_bindings", "-o", tmp], check=True)
        STUBS.mkdir(parents=True, exist_ok=True)
        for path in sorted((Path(tmp) / "tensorrt_rtx_bindings").glob("*.pyi")):
            (STUBS / path.name).write_text(fix_stub_text(path.read_text()))
            print(f"wrote {STUBS / path.name}")
    return 0


def extract(wheels: list[Path]) -> int:
    stubs = stub_names()
    NAMES_DIR.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        # tensorrt_cu13_bindings-11.4.0.106-cp311-... -> tensorrt-cu13-bindings-11.4.0.106
        dist, version = wheel.name.split("-")[:2]
        target = NAMES_DIR / f"{dist.replace('_', '-')}-{version}.names"
        # Keep the strings that are, or end with, a TensorRT-RTX name (see ``bound``).
        names = sorted(n for n in wheel_names(wheel) if any(n.endswith(s) for s in _suffixes(n) if s in stubs))
        target.write_text("\n".join(names) + "\n")
        print(f"wrote {target} ({len(names)} names)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("check")
    sub.add_parser("stubs")
    names = sub.add_parser("names")
    names.add_argument("wheels", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "stubs":
        return make_stubs()
    if args.command == "names":
        return extract(args.wheels)
    return check()


if __name__ == "__main__":
    sys.exit(main())
