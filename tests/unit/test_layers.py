"""The package's layout shows the pipeline: stages import only from stages before them, and no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "trtperf"

# Lower layers first; a module may import from its own layer or lower ones only.
LAYERS: list[set[str]] = [
    {"errors", "fsutil", "precisions", "device", "isolate", "progress", "text"},  # progress: stage events (issue 15)
    {"timing.mode", "config"},
    {"onnx_io", "code_digest"},  # reading an ONNX graph; the digest of the code a model runs
    {"spec", "cases", "inputs", "cache", "cachectl", "engine"},  # cachectl: `trtperf cache ls/verify/prune`
    {"timing"},  # the timing loop, CUDA events, GPU facts, run statistics
    {"export", "onnx_model", "precision"},  # stages 1-2 (an ONNX-file model's file is its stage 1)
    {"trt", "backends"},  # stage 3
    {"prepare"},  # stages 1-3 as one call
    {"parity"},  # stage 4
    {"record"},  # stage 7's files (the verdict stage writes into them)
    {"verdict"},  # stage 6
    {"pipeline"},
    {"fixtures"},  # trtperf for a user's own tests (the library under the pytest fixtures)
    {"plugin", "pytest_fixtures", "cli", "__init__"},
]


def _group(module: str) -> str:
    """'trtperf.timing.mode' -> 'timing.mode' (its own layer), 'trtperf.timing.loop' -> 'timing'."""
    parts = module.split(".")[1:] or ["__init__"]
    if parts[:2] == ["timing", "mode"]:
        return "timing.mode"
    return parts[0]


def _rank(group: str) -> int:
    for index, layer in enumerate(LAYERS):
        if group in layer:
            return index
    raise AssertionError(f"trtperf/{group}: not placed in a layer of {__file__}; add it where its stage is")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        targets = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("trtperf"):
                targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("trtperf"))
    return graph


def test_no_upward_imports() -> None:
    upward = []
    for module, targets in _imports().items():
        for target in targets:
            if target == "trtperf" or module == "trtperf":
                continue
            if _rank(_group(target)) > _rank(_group(module)):
                upward.append(f"{module} imports {target}")
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycles_between_modules() -> None:
    graph = {m: {t for t in ts if t != "trtperf"} for m, ts in _imports().items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
