"""The code a model runs, as one digest for cache keys (export, torch engines, Hypothesis database),
and the digest of its weights (:func:`weights_digest`).

An export is stale when any code that runs in ``forward()`` changed, not only the suite file.
The digest covers:

- user code: the source files of the declaring module, of the factory's module, and of every
  module defining a class in the built module's tree (``type(m).__mro__`` for each submodule),
  plus, transitively, every user module those modules reference: by a top-level name (``import helpers``,
  ``from helpers import act``) or by any import statement in their source, at any depth (``from consts
  import SCALE``; ``import ops`` inside ``forward()`` or the factory, found where the import would find it,
  before it ran). "User code" is a module whose file lies outside the standard library,
  site-packages and trtperf itself (an editable install of your own package counts as user code);
- third-party code: the name, version and installed ``.py`` files' hashes (from its RECORD) of the
  distribution of every other class in the tree (e.g. ``transformers 4.46.0 <digest>``): a package of your
  own reinstalled under the same version still counts as changed.

Only file contents are hashed, never paths or module names, so the same code gives the same digest
from pytest and from the ``trtperf`` CLI, and in a moved checkout. Which modules happen to be
imported elsewhere in the process does not count: the set is found from the model and its
modules' references alone.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import importlib.machinery
import importlib.metadata
import inspect
import sys
import sysconfig
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_TRTPERF_DIR = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def _library_dirs() -> tuple[Path, ...]:
    """The standard library and installed-package folders of this interpreter."""
    dirs = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            dirs.add(Path(sysconfig.get_paths()[key]).resolve())
        except (KeyError, OSError):
            continue
    return tuple(sorted(dirs))


def is_user_file(path: str | Path) -> bool:
    """True for a source file of the user's own code (not stdlib, site-packages or trtperf)."""
    resolved = Path(path).resolve()
    if any(part in ("site-packages", "dist-packages") for part in resolved.parts):
        return False
    if resolved.is_relative_to(_TRTPERF_DIR):
        return False
    return not any(resolved.is_relative_to(root) for root in _library_dirs())


def _source_file(module: ModuleType) -> Path | None:
    name = getattr(module, "__file__", None)
    if not isinstance(name, str) or not name.endswith(".py"):
        return None
    return Path(name)


def _find_source(name: str) -> Path | None:
    """The ``.py`` file of module ``name``: an imported module's own, else where an import would find it
    (``importlib.machinery.PathFinder`` on ``sys.path`` or the package's path: no code runs)."""
    module = sys.modules.get(name)
    if module is not None:
        return _source_file(module)
    spec = _find_spec(name)
    origin = spec.origin if spec is not None else None
    return Path(origin) if isinstance(origin, str) and origin.endswith(".py") else None


def _find_spec(name: str) -> importlib.machinery.ModuleSpec | None:
    parent = name.rpartition(".")[0]
    search = None
    if parent:
        package = sys.modules.get(parent)
        search = getattr(package, "__path__", None) if package is not None else None
        if search is None:
            outer = _find_spec(parent) if package is None else None
            search = outer.submodule_search_locations if outer is not None else None
        if search is None:  # the parent is no package: ``name`` is an attribute, not a module
            return None
    try:
        return importlib.machinery.PathFinder.find_spec(name, search)
    except Exception:  # e.g. KeyError for a namespace package not imported yet: not a file we can key
        return None


def _is_user_module(name: str) -> bool:
    path = _find_source(name) if name else None
    return path is not None and is_user_file(path)


def _referenced(module: ModuleType) -> Iterator[str]:
    """Names of the modules that an imported module's top-level names come from (a class or function
    imported under another name, or made by code, has no import statement naming its module)."""
    for value in list(vars(module).values()):
        try:
            if isinstance(value, ModuleType):
                yield value.__name__
            elif isinstance(value, functools.partial):
                yield getattr(value.func, "__module__", "") or ""
            elif inspect.isclass(value) or inspect.isfunction(value):
                yield value.__module__ or ""
        except Exception:  # a lazy module's attribute may raise on access; it is not user code
            continue


@functools.lru_cache(maxsize=4096)
def _import_statements(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, int, tuple[str, ...]], ...]:
    """``(module, level, names)`` of every import statement in a source file, at any depth: a constant
    imported by ``from consts import SCALE``, or a module imported inside ``forward()`` or the factory, is
    code the model runs without a top-level name leading to it."""
    try:
        tree = ast.parse(Path(path).read_bytes(), filename=path)
    except (SyntaxError, ValueError, OSError):
        return ()
    found: list[tuple[str, int, tuple[str, ...]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level, tuple(alias.name for alias in node.names)))
    return tuple(found)


def _imported(name: str, path: Path) -> Iterator[str]:
    """Names of the modules that the import statements of module ``name`` (file ``path``) may load: each
    statement's module and, for ``from m import x``, ``m.x`` (``x`` may be a submodule)."""
    try:
        stat = path.stat()
    except OSError:  # removed since it was found: nothing to follow
        return
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for module, level, names in _import_statements(str(path), stat.st_mtime_ns, stat.st_size):
        if level:
            base = package.split(".") if package else []
            if level - 1 > len(base):
                continue
            base = base[: len(base) - (level - 1)]
            module = ".".join([*base, module] if module else base)
        if not module:
            continue
        yield module
        yield from (f"{module}.{alias}" for alias in names if alias != "*")


def user_sources(roots: Iterable[str]) -> dict[str, Path]:
    """Module name -> source file of the user modules among ``roots`` and, transitively, of every user module
    they reference: by their top-level names and by their import statements (at any depth, so also modules
    not imported yet, found where an import would find them)."""
    found: dict[str, Path] = {}
    pending = [name for name in roots if name]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            path = _find_source(name)
        except Exception:  # a broken or unusual package (namespace, lazy): no file of it to key
            path = None
        if path is None or not is_user_file(path):
            continue
        found[name] = path
        module = sys.modules.get(name)
        if module is not None:
            pending.extend(_referenced(module))
        pending.extend(_imported(name, path))
    return dict(sorted(found.items()))


@functools.lru_cache(maxsize=4096)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    source = Path(path).read_bytes()
    try:  # the code, not its comments or layout: a comment edit re-exports nothing (a review, 2026-12-07)
        return hashlib.sha256(ast.dump(ast.parse(source), include_attributes=False).encode()).hexdigest()
    except (SyntaxError, ValueError):  # not parseable by this Python: its bytes
        return hashlib.sha256(source).hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a Python source file's syntax tree (its code with comments, blank lines, layout and line
    numbers left out; the bytes of a file this Python cannot parse), memoized while the file's size and
    modification time stay the same."""
    stat = path.stat()
    return _file_digest(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def distribution_of(module_name: str) -> str | None:
    """``"name version sources"`` of the installed distribution providing a module (``sources``: a digest of
    its ``.py`` files' hashes in its RECORD, "-" without one), None for the stdlib/unknown."""
    top = module_name.partition(".")[0]
    if not top or top in sys.stdlib_module_names or top == "builtins":
        return None
    names = _distributions().get(top)
    if not names:
        return None
    return _installed(names[0])


@functools.lru_cache(maxsize=256)
def _installed(name: str) -> str | None:
    """A package reinstalled with its version unchanged (your own, edited) must still change the key: its
    RECORD lists each installed file's hash. Only ``.py`` lines count: scripts (their shebang names the
    interpreter) and compiled ``.pyc`` files differ between two installs of the same wheel."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    record = dist.read_text("RECORD") or ""
    sources = sorted(line for line in record.splitlines() if line.partition(",")[0].endswith(".py"))
    digest = hashlib.sha256("\n".join(sources).encode()).hexdigest()[:16] if sources else "-"
    return f"{name} {dist.version} {digest}"


def factory_modules(factory: Callable[..., Any]) -> list[str]:
    """Names of the modules defining ``factory`` (and, for a ``functools.partial``, what it wraps)."""
    targets: list[Any] = [factory]
    while isinstance(targets[-1], functools.partial):
        targets.append(targets[-1].func)
    return [str(getattr(t, "__module__", "") or "") for t in targets]


def model_classes(module: torch.nn.Module) -> set[type]:
    """Every class in the module tree's MROs (the code ``forward()`` dispatches to)."""
    return {cls for sub in module.modules() for cls in type(sub).__mro__}


def code_digest(factory: Callable[..., Any], declared_in: str, module: torch.nn.Module | None = None) -> str:
    """SHA-256 over the user code and third-party versions the model runs (see the module docstring)."""
    roots = [declared_in, *factory_modules(factory)]
    third_party: set[str] = set()
    if module is not None:
        for cls in model_classes(module):
            roots.append(cls.__module__)
            if not _is_user_module(cls.__module__):
                dist = distribution_of(cls.__module__)
                if dist is not None:
                    third_party.add(dist)
    digests = sorted({_loaded_digest(name, path) for name, path in user_sources(roots).items()})
    if not digests:  # a factory defined outside any file (e.g. in a REPL): its name is all there is
        digests = [hashlib.sha256(repr(getattr(factory, "__qualname__", factory)).encode()).hexdigest()]
    payload = "\n".join([*digests, "--", *sorted(third_party)])
    return hashlib.sha256(payload.encode()).hexdigest()


def snapshot_loaded_sources(roots: Iterable[str]) -> None:
    """Remember the digest of each user file of ``roots`` (as :func:`user_sources` finds them) that is imported
    now, as it is now, unless its module object was seen before: the code this process runs. :func:`code_digest`
    then keys that code, not a file edited on disk later in the session, which would store the old code's export
    under the new code's key for every later run (found by review, 2026-12-07). Called by each model declaration,
    as its suite is imported; a module imported later (inside ``forward()``) is remembered at the first key made
    after its import."""
    for name, path in user_sources(roots).items():
        _loaded_digest(name, path)


_AS_LOADED: dict[str, tuple[weakref.ref[ModuleType], str]] = {}
"""Source path -> (its module as imported, weakly; the file's digest then)."""


def _loaded_digest(name: str, path: Path) -> str:
    """The digest of module ``name``'s file as this process first read it after importing it (see
    :func:`snapshot_loaded_sources`), while that module object is still the one imported; else the file's
    digest now (a module not imported, or imported anew)."""
    module = sys.modules.get(name)
    entry = _AS_LOADED.get(str(path))
    if module is not None and entry is not None and entry[0]() is module:
        return entry[1]
    digest = file_digest(path)
    if module is not None:  # the first sight of this import (a lazy one: at the first key after it ran)
        with contextlib.suppress(TypeError):  # a module type without weak references: read the file each time
            _AS_LOADED[str(path)] = (weakref.ref(module), digest)
    return digest


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 over the module's state, as a hex string: every parameter and buffer, persistent or not, and
    every tensor attribute (names, dtypes, shapes, bytes); and every other attribute of every submodule
    (:func:`attributes_digest`: ``eps``, a slope, a head count, a Hugging Face config, the function an
    attribute names), since ``forward()`` may read them all.

    The tensors are hashed on every call, except for a module given to :func:`remember_weights_digest`
    (trtperf's pristine instance of each model, which is only ever read): their digest is kept while they are
    the same objects at the same addresses and versions (torch bumps a tensor's version at every in-place
    change), so the keys of every case of a model hash its weights once per process, not at each key
    (BERT-base's 440 MB took 0.3 s a hash on the 2-core CI CPU, three times a torch case:
    bench/module_memo.py). The other attributes are read at every call."""
    return hashlib.sha256(f"{_tensors_digest(module)}|{attributes_digest(module)}".encode()).hexdigest()


def _tensors_digest(module: torch.nn.Module) -> str:
    entry = _REMEMBERED.get(id(module))
    if entry is None or entry[0]() is not module:
        return _hash_weights(module)
    fingerprint = _fingerprint(module)
    if fingerprint is not None and entry[1] == fingerprint:
        return entry[2]
    digest = _hash_weights(module)
    if fingerprint is not None:
        _REMEMBERED[id(module)] = (entry[0], fingerprint, digest)
    return digest


def remember_weights_digest(module: torch.nn.Module) -> None:
    """Let :func:`weights_digest` keep ``module``'s digest: for a module nothing writes to (a write through
    ``tensor.data`` or a NumPy view would not bump the version that tells a change)."""
    key = id(module)
    _REMEMBERED[key] = (weakref.ref(module, lambda _: _REMEMBERED.pop(key, None)), None, "")


_REMEMBERED: dict[int, tuple[weakref.ref[Any], tuple[Any, ...] | None, str]] = {}
"""id -> (the module, weakly; the fingerprint its digest was taken at, or None; the digest). Keyed by id, since
a module class may define ``__eq__`` without ``__hash__``."""


@functools.lru_cache(maxsize=1)
def _module_internals() -> frozenset[str]:
    """``nn.Module``'s own attributes (parameter, buffer and submodule tables, hooks): not the model's state."""
    import torch

    return frozenset(vars(torch.nn.Module())) - {"training"}


def _state_tensors(module: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Every tensor the module holds, by name: the state dict, non-persistent buffers, tensor attributes."""
    import torch

    named: dict[str, torch.Tensor] = {}
    for name, value in module.state_dict(keep_vars=True).items():
        # A dynamically quantized Linear keeps a (weight, bias) tuple and a dtype in its state dict.
        parts = value if isinstance(value, (tuple, list)) else [value]
        for index, part in enumerate(parts):
            if isinstance(part, torch.Tensor):
                named[f"{name}.{index}" if len(parts) > 1 else name] = part
    internals = _module_internals()
    for prefix, sub in _submodules(module):
        tensors = [*sub._buffers.items(), *((k, v) for k, v in vars(sub).items() if k not in internals)]
        for key, value in tensors:
            if isinstance(value, torch.Tensor):
                named.setdefault(f"{prefix}{key}", value)
    return sorted(named.items())


def _submodules(module: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """``(prefix, module)`` for the module and each registered submodule once, prefixes ending in a dot
    (``named_modules`` without its set: a module class may define ``__eq__`` without ``__hash__``)."""
    found: list[tuple[str, torch.nn.Module]] = []
    seen: set[int] = set()
    pending = [("", module)]
    while pending:
        prefix, sub = pending.pop()
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        found.append((prefix, sub))
        pending.extend((f"{prefix}{name}.", child) for name, child in reversed(sub._modules.items())
                       if child is not None)
    return found


def _fingerprint(module: torch.nn.Module) -> tuple[Any, ...] | None:
    """The identity, place and version of every tensor; None when a tensor has no version counter (made under
    ``torch.inference_mode()``), so nothing is remembered for it."""
    try:
        return tuple((name, id(t), t.data_ptr(), t.dtype, tuple(t.shape), t.stride(), str(t.device), t._version)
                     for name, t in _state_tensors(module))
    except RuntimeError:
        return None


def _hash_weights(module: torch.nn.Module) -> str:
    import torch

    digest = hashlib.sha256()
    for name, tensor in _state_tensors(module):
        if tensor.is_quantized:  # its integers and how they map to reals
            scheme = (f"{tensor.q_scale()},{tensor.q_zero_point()}" if tensor.qscheme() == torch.per_tensor_affine
                      else f"{tensor.q_per_channel_scales().tolist()},{tensor.q_per_channel_zero_points().tolist()}")
            digest.update(f"{name}|{tensor.dtype}|{scheme}|".encode())
            tensor = tensor.int_repr()
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def attributes_digest(module: torch.nn.Module) -> str:
    """SHA-256 over the class and the non-tensor attributes of every submodule (``vars(sub)`` less
    ``nn.Module``'s own tables), by values that are the same in every process (:class:`_StableRepr`).
    Tensors are left to :func:`weights_digest`."""
    internals = _module_internals()
    submodules = _submodules(module)
    stable = _StableRepr({id(sub) for _, sub in submodules})
    digest = hashlib.sha256()
    for prefix, sub in submodules:
        # Which class each submodule is: an activation chosen from a config (ReLU or Tanh) holds no tensor.
        digest.update(f"{prefix}:{type(sub).__module__}.{type(sub).__qualname__};".encode())
        for key, value in sorted(vars(sub).items()):
            if key not in internals and key not in PLACE_KEYS:
                digest.update(f"{prefix}{key}={stable(value)};".encode())
    return digest.hexdigest()


PLACE_KEYS = frozenset({"name_or_path", "_name_or_path", "_commit_hash"})
"""Attributes and config keys that say where a model was loaded from, not what it computes: a Hugging Face
model loaded by ``from_pretrained(path)`` holds the path, and a moved checkout must not re-export (review)."""

_SCALARS = (type(None), bool, int, float, complex, str, bytes)


class _StableRepr:
    """A repr of an attribute's value that is the same in every process for the same value: no addresses, no
    hash-seeded order. Numbers, strings, dtypes, enums (by name), NumPy values, containers, dataclasses and plain
    objects (by their attributes) by value; an object with ``to_dict()`` (a Hugging Face config) by that dict; a
    function or class by its qualified name; a module outside the ``tree`` (ids of the model's registered modules,
    e.g. one kept in a plain list) by its tensors; anything else by its type. At most :data:`ITEMS` values are
    read per model and :data:`DEPTH` levels deep (a vocabulary of a million entries: its type and size)."""

    ITEMS = 20_000
    DEPTH = 5

    def __init__(self, tree: set[int]) -> None:
        self.tree = tree
        self.budget = self.ITEMS

    def __call__(self, value: Any, depth: int = 0) -> str:
        try:
            return self._repr(value, depth)
        except Exception:  # a property or __getattr__ that raises: the type is all we can tell
            return f"<{type(value).__qualname__}>"

    def _repr(self, value: Any, depth: int) -> str:
        import dataclasses
        import enum
        import re
        import weakref

        import numpy as np
        import torch

        self.budget -= 1
        if isinstance(value, weakref.ProxyTypes):  # before any isinstance: a proxy passes for its referent
            return "<weakref proxy>"
        kind = type(value).__qualname__
        if isinstance(value, enum.Enum):
            return f"{kind}.{value.name}"
        if isinstance(value, (*_SCALARS, torch.dtype, torch.device, torch.Size)):
            return repr(value)
        if isinstance(value, np.generic):
            return f"{value.dtype}({value.item()!r})"
        if isinstance(value, torch.Tensor):
            return "<tensor>"  # in weights_digest
        if isinstance(value, torch.nn.Module):
            return f"<{kind}>" if id(value) in self.tree else f"<module {_hash_weights(value)}>"
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                return f"ndarray{value.shape}{self(value.tolist(), depth)}"
            return f"ndarray{value.dtype}{value.shape}:{hashlib.sha256(value.tobytes()).hexdigest()}"
        if inspect.isroutine(value) or inspect.isclass(value):
            return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', kind)}"
        if isinstance(value, re.Pattern):
            return f"re({value.pattern!r}, {value.flags})"
        size = len(value) if isinstance(value, (list, tuple, set, frozenset, dict)) else 0
        if depth >= self.DEPTH or self.budget - size < 0:
            return f"<{kind} of {size}>" if size else f"<{kind}>"
        if isinstance(value, (list, tuple, set, frozenset)) or type(value).__name__ == "deque":
            items = [self(v, depth + 1) for v in value]
            ordered = sorted(items) if isinstance(value, (set, frozenset)) else items
            return f"{kind}[{', '.join(ordered)}]"
        if isinstance(value, dict):
            pairs = sorted(f"{self(k, depth + 1)}: {self(v, depth + 1)}" for k, v in value.items()
                           if k not in PLACE_KEYS)
            return f"{{{', '.join(pairs)}}}"
        if isinstance(value, functools.partial):
            return f"partial({self(value.func, depth + 1)}, {self(value.args, depth + 1)}, " \
                   f"{self(value.keywords, depth + 1)})"
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict):
            return f"{kind}{self(to_dict(), depth + 1)}"
        if dataclasses.is_dataclass(value):
            return f"{kind}{self({f.name: getattr(value, f.name) for f in dataclasses.fields(value)}, depth + 1)}"
        attributes = getattr(value, "__dict__", None)
        plain = all("__repr__" not in vars(cls) for cls in type(value).__mro__[:-1])  # object's own repr
        if isinstance(attributes, dict) and (plain or type(value).__name__ == "Namespace"):
            return f"{kind}{self(attributes, depth + 1)}"  # a plain object, or argparse's: by its attributes
        return f"<{kind}>"
