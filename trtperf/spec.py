"""Model declarations: a torch.nn.Module factory plus what the cases need to know about it.

A suite module declares models with the :func:`model` decorator; the pytest plugin finds every
:class:`ModelSpec` at module level and expands it into cases.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import hashlib
import importlib.util
import inspect
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Union, overload

from trtperf.errors import TrtperfUsageError
from trtperf.precisions import PRECISIONS

if TYPE_CHECKING:
    import torch

BATCH = "batch"
"""The name of the variable batch axis in an :class:`InputSpec` shape."""

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_NUMPY_DTYPES = {"float32", "float16", "int64", "int32", "bool"}
_INT_RANGES = {"int64": (-(2**63), 2**63 - 1), "int32": (-(2**31), 2**31 - 1)}
_DIM_RE = re.compile(r"[A-Za-z_]+")


@dataclass(frozen=True)
class InputSpec:
    """One named model input.

    ``shape`` holds positive ints, exactly one ``"batch"`` marking the variable batch axis, and
    optionally further named axes (e.g. ``"seq"``) whose values the model declaration lists in
    ``dims=``. Values are drawn per dtype:

    - ``float32``/``float16``: uniform in ``[low, high)``, default ``[-1, 1)``.
    - ``int64``/``int32``: uniform integers in ``[low, high)``, i.e. ``ceil(low) .. ceil(high) - 1``
      (``low=0.5`` draws from 1). ``low`` and ``high`` are required: token ids, class labels and
      indices have no sensible default range.
    - ``bool``: ``True`` with probability ``p_true`` (default 0.5); ``low``/``high`` are rejected.

    Raises :class:`TrtperfUsageError` on a bad shape, dtype or range.
    """

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    low: float | None = None
    high: float | None = None
    p_true: float | None = None

    def __post_init__(self) -> None:
        where = f"input {self.name!r}"
        if isinstance(self.shape, list):  # a list works as well: kept as the tuple it is declared as (hashable)
            object.__setattr__(self, "shape", tuple(self.shape))
        if self.shape.count(BATCH) != 1:
            raise TrtperfUsageError(f"{where}: shape {self.shape} must contain exactly one {BATCH!r} axis")
        for dim in self.shape:
            if isinstance(dim, str):
                if dim != BATCH and not _DIM_RE.fullmatch(dim):
                    raise TrtperfUsageError(
                        f"{where}: axis name {dim!r} must be letters and underscores (e.g. 'seq'), so that "
                        f"case ids such as 'b8-seq128' stay readable"
                    )
            elif isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
                raise TrtperfUsageError(
                    f"{where}: dimension {dim!r} must be a positive int or an axis name declared in dims="
                )
        if self.dtype not in _NUMPY_DTYPES:
            raise TrtperfUsageError(f"{where}: dtype {self.dtype!r} not supported; use one of {sorted(_NUMPY_DTYPES)}")
        if self.dtype == "bool":
            if self.low is not None or self.high is not None:
                raise TrtperfUsageError(
                    f"{where}: a bool input has no low/high; give p_true= (the probability of True, default 0.5)"
                )
            if self.p_true is not None and not 0.0 <= self.p_true <= 1.0:
                raise TrtperfUsageError(f"{where}: p_true {self.p_true!r} must lie in [0, 1]")
            return
        if self.p_true is not None:
            raise TrtperfUsageError(f"{where}: p_true= is for bool inputs; a {self.dtype} input takes low= and high=")
        if self.dtype in _INT_RANGES:
            if self.low is None or self.high is None:
                raise TrtperfUsageError(
                    f"{where}: an integer ({self.dtype}) input needs low= and high= (values are drawn from "
                    f"[low, high)); e.g. InputSpec({self.name!r}, {self.shape!r}, dtype={self.dtype!r}, low=0, "
                    f"high=<vocabulary size>) for token ids"
                )
            first, last = math.ceil(self.low), math.ceil(self.high) - 1
            if first > last:
                raise TrtperfUsageError(
                    f"{where}: integer range [{self.low}, {self.high}) holds no integer; widen low/high"
                )
            lo, hi = _INT_RANGES[self.dtype]
            if first < lo or last > hi:
                raise TrtperfUsageError(f"{where}: range [{self.low}, {self.high}) does not fit {self.dtype}")
        low, high = self.value_range
        if not low < high:
            raise TrtperfUsageError(f"{where}: low {low} must be below high {high}")

    @property
    def value_range(self) -> tuple[float, float]:
        """``(low, high)`` with the float default ``(-1.0, 1.0)`` filled in; ``(0, 1)`` for bool."""
        if self.dtype == "bool":
            return 0.0, 1.0
        return (-1.0 if self.low is None else self.low), (1.0 if self.high is None else self.high)

    @property
    def batch_axis(self) -> int:
        return self.shape.index(BATCH)

    @property
    def named_axes(self) -> tuple[str, ...]:
        """Axis names other than ``"batch"``, in shape order."""
        return tuple(d for d in self.shape if isinstance(d, str) and d != BATCH)

    def concrete_shape(self, batch: int, dims: Mapping[str, int] | None = None) -> tuple[int, ...]:
        """The shape at ``batch`` and the named axes' values in ``dims``; KeyError names a missing axis."""
        out = []
        for dim in self.shape:
            if dim == BATCH:
                out.append(batch)
            elif isinstance(dim, str):
                if dims is None or dim not in dims:
                    raise KeyError(f"input {self.name!r}: no value for axis {dim!r}")
                out.append(int(dims[dim]))
            else:
                out.append(int(dim))
        return tuple(out)

    def describe(self) -> list[Any]:
        """Name, shape, dtype and value range: what changes the drawn inputs (for cache keys)."""
        return [self.name, list(self.shape), self.dtype, self.low, self.high, self.p_true]


@dataclass(frozen=True)
class Tolerance:
    """How closely an engine output must match its reference (see :mod:`trtperf.parity.compare`).

    Floating-point outputs, elementwise: ``|got - ref| <= atol + rtol * |ref| + rms_atol * rms(ref)``,
    where ``rms(ref)`` is the root mean square of the reference's finite elements (so ``rms_atol``
    scales the absolute tolerance with the output's own magnitude). ``max_mismatch`` is the fraction
    of elements allowed outside that bound (default 0).
    ``max_rel_l2``, when set, requires the relative L2 error ``||got - ref|| / ||ref||``.
    ``precision_error_factor``, when set (faithful checks of reduced-precision variants), raises that
    bound to ``precision_error_factor * eps`` where ``eps`` is the relative L2 distance of the
    variant's ONNX Runtime reference from the fp32 reference: the precision's own error on this
    model and input, measured, so deep models that lose more to fp16 are allowed more.
    ``rel_l2_floor``, when set together with ``precision_error_factor`` and ``max_rel_l2``, turns that
    raising into an adaptive bound: relative L2 at most ``clamp(precision_error_factor * e,
    rel_l2_floor, max_rel_l2)`` where ``e`` is the precision's own error on this model and input
    (fp32: ONNX Runtime's optimized run vs the unoptimized reference), so a model whose own
    arithmetic error is small is held to a tighter bound; ``max_rel_l2`` applies when ``e`` is unknown.
    The elementwise bound is not scaled in that mode.
    ``min_cosine``, when set, also requires the cosine similarity of the flattened tensors.
    ``top_k``, when set, treats the last axis as class scores: the mean overlap of the engine's
    and the reference's top-k classes per row must reach ``min_top_k_agreement`` (default 1.0).

    Non-finite values: a NaN or Inf in the reference fails the output (the model computes garbage
    on its declared inputs) unless ``allow_nonfinite`` is set; then the same non-finite value on
    both sides agrees. NaN or Inf in the engine output where the reference is finite always fails.

    Integer and boolean outputs (the reference's dtype) are compared element by element: at least a
    ``min_agreement`` fraction of elements must be equal (1.0: all of them; None, the default: the
    precision's default, exact at fp32, see ``trtperf.parity.tolerance.DISCRETE_AGREEMENT``). With
    ``chance_corrected`` the fraction counts agreement beyond what a constant engine answering the
    reference's most common value would get (``(a - m) / (1 - m)``, m that value's share), so a mask
    that is mostly False cannot pass by being all False. The float fields do not apply to them.
    """

    atol: float = 1e-5
    rtol: float = 1e-4
    max_mismatch: float = 0.0
    min_cosine: float | None = None
    top_k: int | None = None
    min_top_k_agreement: float = 1.0
    rms_atol: float = 0.0
    max_rel_l2: float | None = None
    precision_error_factor: float | None = None
    allow_nonfinite: bool = False
    min_agreement: float | None = None
    rel_l2_floor: float | None = None
    chance_corrected: bool = False

    def __post_init__(self) -> None:
        if self.top_k is not None and (isinstance(self.top_k, bool) or self.top_k < 1):
            raise TrtperfUsageError(f"Tolerance top_k must be a positive int, got {self.top_k!r}")
        fractions = (self.min_top_k_agreement, self.max_mismatch,
                     1.0 if self.min_agreement is None else self.min_agreement)
        if not all(0.0 <= f <= 1.0 for f in fractions):
            raise TrtperfUsageError(
                f"Tolerance min_top_k_agreement, max_mismatch and min_agreement are fractions in [0, 1], got "
                f"{self.min_top_k_agreement!r}, {self.max_mismatch!r} and {self.min_agreement!r}"
            )
        bounds = {"atol": self.atol, "rtol": self.rtol, "rms_atol": self.rms_atol,
                  "max_rel_l2": 0.0 if self.max_rel_l2 is None else self.max_rel_l2,
                  "precision_error_factor": self.precision_error_factor or 0.0,
                  "rel_l2_floor": self.rel_l2_floor or 0.0}
        bad = {k: v for k, v in bounds.items() if not (isinstance(v, (int, float)) and v >= 0)}
        if bad:
            raise TrtperfUsageError(f"Tolerance bounds must be non-negative numbers, got {bad}")
        if self.rel_l2_floor is not None and (self.precision_error_factor is None or self.max_rel_l2 is None
                                              or self.rel_l2_floor > self.max_rel_l2):
            raise TrtperfUsageError(
                f"Tolerance rel_l2_floor={self.rel_l2_floor!r} needs precision_error_factor and a max_rel_l2 at "
                f"least as large (the adaptive bound is clamp(factor * own error, rel_l2_floor, max_rel_l2)), got "
                f"precision_error_factor={self.precision_error_factor!r}, max_rel_l2={self.max_rel_l2!r}")


class ModelIdentity(NamedTuple):
    """A model's fp32 ONNX in a process, hashable: not the cases' settings (batches, precisions, streams,
    tolerances)."""

    name: str
    factory: int
    """``id()`` of the factory object (held by its spec for the session)."""
    onnx: str
    """The ONNX file's path, or ``id()`` of an ONNX factory; "None" for a torch model."""
    seed: int
    opset: int
    max_batch: int
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    dims: tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class ModelSpec:
    """A model and the cases to make of it. Build one with :func:`model`."""

    name: str
    factory: Callable[[], Any]
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    batches: tuple[int, ...] = (1, 8)
    precisions: tuple[str, ...] = ("fp32",)
    streams: tuple[int, ...] = (1,)
    backends: tuple[str, ...] | None = None
    max_batch: int = 64
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)
    seed: int = 0
    opset: int = 18
    settings: Mapping[str, Any] = field(default_factory=dict)
    dims: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    """Values of each named axis (beyond batch) to make cases of, e.g. ``{"seq": (128, 512)}``."""
    declared_in: str = ""
    """``__name__`` of the module whose code made this declaration (the suite that collects it)."""
    declared_file: str = ""
    """That module's file ("" when it has none): relative ONNX paths are relative to its folder."""
    onnx: Any = None
    """An ONNX model as it is (see :func:`model`): an absolute path, or a factory returning a path or
    an ``onnx.ModelProto``; None for a torch model, which trtperf exports."""
    keep_fp32: tuple[str, ...] = ()
    """ONNX op types or node names kept in float32 in the fp16/bf16 variants (besides trtperf's own list)."""
    allow_nonfinite: tuple[str, ...] = ()
    """Outputs whose reference may hold NaN/Inf by design (``Tolerance.allow_nonfinite`` for them)."""

    @property
    def is_onnx(self) -> bool:
        """True for a model declared from an ONNX file (no torch module to run)."""
        return self.onnx is not None

    def resolve_path(self, path: str | os.PathLike[str]) -> Path:
        """A path from an ONNX factory: relative ones are relative to the declaring suite file."""
        return _suite_relative(self.declared_file, path)

    def source_digest(self, module: torch.nn.Module | None = None) -> str:
        """Digest of the code the model runs, for cache keys (see :mod:`trtperf.code_digest`).

        With the built ``module``, the files of every class in its module tree count too.
        """
        from trtperf.code_digest import code_digest

        return code_digest(self.factory, self.declared_in, module)

    def identity(self) -> ModelIdentity:
        """What makes this model's fp32 ONNX (see :class:`ModelIdentity`). Two declarations with equal identities
        share one export in a process."""
        onnx = self.onnx if self.onnx is None or isinstance(self.onnx, (str, os.PathLike)) else id(self.onnx)
        return ModelIdentity(self.name, id(self.factory), str(onnx), self.seed, self.opset, self.max_batch,
                             self.inputs, self.outputs, tuple(sorted(self.dims.items())))

    def dim_range(self, axis: str) -> tuple[int, int]:
        """The smallest and largest declared value of a named axis: the export's and profile's bounds."""
        values = self.dims[axis]
        return min(values), max(values)

    def tolerance_for(self, precision: str, output: str, default: Tolerance) -> Tolerance:
        """Most specific tolerance: ``"fp16:out"``, ``"fp16:"``, ``"out"``, ``""``, then ``default``."""
        for key in (f"{precision}:{output}", f"{precision}:", output, ""):
            if key in self.tolerances:
                return self.tolerances[key]
        return default

    def build_module(self) -> torch.nn.Module:
        """Instantiate the module with seeded weights, in eval mode: a new module each call, the caller's
        to cast or move. The factory runs once per process for the last :data:`PRISTINE_MODULES` models
        (up to :data:`PRISTINE_MAX_BYTES` of parameters each); later calls copy a pristine instance."""
        import torch

        if self.is_onnx:
            raise TrtperfUsageError(f"model {self.name!r} is an ONNX model; it has no torch module to build")
        torch.manual_seed(self.seed)
        key = (id(self.factory), self.seed)
        factory, kept = _PRISTINE.get(key, (None, None))
        if kept is not None and factory is self.factory:
            try:
                module: torch.nn.Module = copy.deepcopy(kept)
            except Exception:  # not copyable after all: build it
                _PRISTINE.pop(key, None)
            else:
                _PRISTINE.move_to_end(key)
                return module
        module = self._run_factory()
        _keep_pristine(key, self.factory, module)
        return module

    def key_module(self) -> torch.nn.Module:
        """A module to compute cache keys from (the digests of its weights and code), read only: never cast,
        move, run or export it. The kept pristine instance when there is one (no copy, and its weights digest
        is remembered), else a new build. Raises like :meth:`build_module`."""
        module = self._kept()
        if module is not None:
            return module
        built = self.build_module()
        return self._kept() or built  # the first build keeps a pristine copy: read that one from now on

    def is_pristine(self, module: torch.nn.Module) -> bool:
        """True for the instance :meth:`key_module` reads (kept for this process), which must not be changed."""
        return module is self._kept()

    def _kept(self) -> torch.nn.Module | None:
        factory, kept = _PRISTINE.get((id(self.factory), self.seed), (None, None))
        return kept if kept is not None and factory is self.factory else None  # type: ignore[no-any-return]

    def _run_factory(self) -> torch.nn.Module:
        import torch

        try:
            module = self.factory()
        except Exception as exc:
            import traceback

            frames = traceback.extract_tb(exc.__traceback__)
            where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
            raise TrtperfUsageError(
                f"model {self.name!r}: its factory {getattr(self.factory, '__qualname__', self.factory)!r} raised "
                f"{type(exc).__name__}: {exc}{where}; fix the factory (it must return a torch.nn.Module)."
            ) from exc
        if not isinstance(module, torch.nn.Module):
            raise TrtperfUsageError(
                f"model {self.name!r}: factory returned {type(module).__name__}, expected a torch.nn.Module"
            )
        return module.eval()


PRISTINE_MODULES = 2
"""Models whose built module each process keeps, most recent first: a case builds its model for the export's
key, the engine's key and the engine itself, and the cases of one model follow each other. Copying is cheap
next to building: the zoo at full size on a 2-core CPU, factory 0.22-1.59 s, copy 0.01-0.09 s (15-120x;
bench/module_memo.py, bench/results/module_memo-cpu.txt)."""
PRISTINE_MAX_BYTES = 2 << 30
"""A module with more parameter and buffer bytes than this is built every time (a copy kept would double a
large model's host memory)."""

_PRISTINE: collections.OrderedDict[tuple[Any, ...], Any] = collections.OrderedDict()


def name_conflict(spec: ModelSpec, declared: dict[str, ModelSpec]) -> str | None:
    """Why ``spec`` may not use its name, when ``declared`` (name -> the first declaration seen with it; updated
    here) holds another model under that name; None otherwise. Case keys and baseline entries are keyed by the
    name, so a second model under it would be judged by the first one's baseline."""
    first = declared.setdefault(spec.name, spec)
    first_id, spec_id = first.identity(), spec.identity()
    if first is spec or first_id == spec_id:
        return None
    files = list(dict.fromkeys(d.declared_file or d.declared_in or "?" for d in (first, spec)))
    where = f"both in {files[0]}" if len(files) == 1 else " and ".join(files)
    differ = ", ".join(f for f in ModelIdentity._fields if getattr(first_id, f) != getattr(spec_id, f))
    return (f"model name {spec.name!r} is declared for two different models ({where}; they differ in: {differ}): "
            f"case keys and baselines are keyed by the model's name, so one model's cases would be judged against "
            f"the other's baseline and export. Give one of them its own name: trtperf.model(..., name=...)")


def _keep_pristine(key: tuple[Any, ...], factory: Any, module: Any) -> None:
    """Keep an untouched copy of a freshly built ``module`` (the caller's own is cast or moved later), with its
    ``factory`` (the key holds its id: the factory object itself confirms a hit)."""
    size = sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))
    if size > PRISTINE_MAX_BYTES:
        return
    try:
        pristine = copy.deepcopy(module)
    except Exception:  # a module that cannot be copied is built every time
        return
    from trtperf.code_digest import remember_weights_digest

    remember_weights_digest(pristine)  # only ever read: its weights are hashed once per process
    _PRISTINE[key] = (factory, pristine)
    _PRISTINE.move_to_end(key)
    while len(_PRISTINE) > PRISTINE_MODULES:
        _PRISTINE.popitem(last=False)


def _tuple_of_ints(name: str, what: str, values: Iterable[int]) -> tuple[int, ...]:
    out = tuple(values)
    if not out or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in out):
        raise TrtperfUsageError(f"model {name!r}: {what} must be positive ints, got {out!r}")
    return tuple(dict.fromkeys(out))  # a value given twice (dims={"seq": (8, 8)}) is one case, not two


OnnxSource = Union[str, "os.PathLike[str]", Callable[[], Any]]
"""An ONNX model: a path (relative to the suite file) or a factory returning a path or an ``onnx.ModelProto``."""


@overload
def model(
    *,
    onnx: OnnxSource,
    inputs: Sequence[InputSpec] = (),
    outputs: Sequence[str] = (),
    batches: Iterable[int] = (1, 8),
    precisions: Iterable[str] | None = None,
    streams: Iterable[int] = (1,),
    backends: Iterable[str] | None = None,
    max_batch: int = 64,
    tolerances: Mapping[str, Tolerance] | None = None,
    seed: int = 0,
    opset: int = 18,
    name: str | None = None,
    dims: Mapping[str, Iterable[int]] | None = None,
    keep_fp32: Iterable[str] = (),
    allow_nonfinite: bool | Iterable[str] = False,
    **settings: Any,
) -> ModelSpec: ...


@overload
def model(
    *,
    inputs: Sequence[InputSpec],
    outputs: Sequence[str],
    batches: Iterable[int] = (1, 8),
    precisions: Iterable[str] | None = None,
    streams: Iterable[int] = (1,),
    backends: Iterable[str] | None = None,
    max_batch: int = 64,
    tolerances: Mapping[str, Tolerance] | None = None,
    seed: int = 0,
    opset: int = 18,
    name: str | None = None,
    dims: Mapping[str, Iterable[int]] | None = None,
    keep_fp32: Iterable[str] = (),
    allow_nonfinite: bool | Iterable[str] = False,
    onnx: None = None,
    **settings: Any,
) -> Callable[[Callable[[], Any]], ModelSpec]: ...


def model(
    *,
    inputs: Sequence[InputSpec] = (),
    outputs: Sequence[str] = (),
    batches: Iterable[int] = (1, 8),
    precisions: Iterable[str] | None = None,
    streams: Iterable[int] = (1,),
    backends: Iterable[str] | None = None,
    max_batch: int = 64,
    tolerances: Mapping[str, Tolerance] | None = None,
    seed: int = 0,
    opset: int = 18,
    name: str | None = None,
    dims: Mapping[str, Iterable[int]] | None = None,
    keep_fp32: Iterable[str] = (),
    allow_nonfinite: bool | Iterable[str] = False,
    onnx: OnnxSource | None = None,
    **settings: Any,
) -> ModelSpec | Callable[[Callable[[], Any]], ModelSpec]:
    """Declare a model for trtperf.

    Two forms:

    - ``@trtperf.model(inputs=..., outputs=...)`` decorates a zero-argument factory returning a
      ``torch.nn.Module``, exported to ONNX by trtperf. The factory may be any callable: a function, a
      class, a ``functools.partial`` or a lambda (a lambda needs ``name=``).
    - ``trtperf.model(onnx="models/detector.onnx", ...)`` returns the declaration of an ONNX model
      as it is: a path relative to the suite file, or a factory returning a path or an
      ``onnx.ModelProto``. Inputs and outputs come from the graph; declared ``inputs`` override it
      by name (integer inputs need one, for their range); declared ``outputs`` select outputs. Its
      name defaults to the file's stem; its precisions to the file's own (``("int8",)`` for an
      int8 Q/DQ model, else ``("fp32",)``). See :mod:`trtperf.onnx_model`.

    Defaults: batches (1, 8), precision fp32, 1 stream, every backend, dynamic batch up to 64,
    opset 18. ``tolerances`` maps ``"output"``, ``"precision:output"``, ``"precision:"`` or
    ``""`` to a :class:`Tolerance`. ``dims`` maps each named axis of the inputs' shapes (beyond
    ``"batch"``) to the values to make cases of, e.g. ``{"seq": (128, 512)}``: one export and engine
    profile cover ``min..max``. ``keep_fp32`` lists ONNX op types (``"ReduceMean"``) or node
    names of the exported ONNX that the fp16/bf16 variants keep in float32 (the fix the precision
    stage suggests for an overflow or an invalid conversion). ``allow_nonfinite`` (True: every output,
    or output names) declares that the model's reference may hold NaN/Inf there (otherwise a
    non-finite reference fails the case: see :class:`Tolerance`). Extra keyword arguments are
    per-model settings that override options and ini values (for example ``runs=3`` or ``threshold=0.1``).

    The declaration belongs to the module that applies it (the suite that collects it), wherever
    the factory is defined. Raises :class:`TrtperfUsageError` naming the model and the fix.
    """
    frame = inspect.currentframe()
    caller = frame.f_back if frame is not None else None
    declared_in = str(caller.f_globals.get("__name__", "")) if caller is not None else ""
    declared_file = str(caller.f_globals.get("__file__", "") or "") if caller is not None else ""
    # The declaring module keeps a list of its declarations, so one not bound to a module-level
    # name (e.g. built in a loop into a list) is still collected (see unbound_declarations).
    registry = caller.f_globals.setdefault(DECLARATIONS, []) if caller is not None else []
    del frame, caller

    def declare(factory: Callable[[], Any] | None, source: OnnxSource | None) -> ModelSpec:
        onnx_path = None
        if source is not None and not callable(source):
            onnx_path = _suite_relative(declared_file, source)
        if factory is not None:
            loaded_torch = sys.modules.get("torch")
            if loaded_torch is not None and isinstance(factory, loaded_torch.nn.Module):
                raise TrtperfUsageError(
                    f"trtperf.model(...) got a module instance ({type(factory).__name__}); give a factory that "
                    f"makes one (seeded per case): the class, a function, or "
                    f"functools.partial({type(factory).__name__}, ...)"
                )
            spec_name = name or _factory_name(factory)
            from trtperf.code_digest import factory_modules, snapshot_loaded_sources

            with contextlib.suppress(Exception):  # best effort: a declaration never fails on it (keys re-read)
                snapshot_loaded_sources([declared_in, *factory_modules(factory)])
        elif onnx_path is not None:
            spec_name = name or onnx_path.stem
        else:
            spec_name = name or _factory_name(source)  # type: ignore[arg-type]
        if not _NAME_RE.fullmatch(spec_name):
            raise TrtperfUsageError(f"model name {spec_name!r} must match {_NAME_RE.pattern}; pass name=...")
        if source is None and not inputs:
            raise TrtperfUsageError(f"model {spec_name!r}: declare at least one input")
        if source is None and not outputs:
            raise TrtperfUsageError(f"model {spec_name!r}: declare at least one output name")
        names = [i.name for i in inputs] + list(outputs)
        if len(set(names)) != len(names):
            raise TrtperfUsageError(f"model {spec_name!r}: input and output names must be unique: {names}")
        chosen = tuple(precisions) if precisions is not None else _default_precisions(onnx_path)
        bad = [p for p in chosen if p not in PRECISIONS]
        if bad:
            raise TrtperfUsageError(f"model {spec_name!r}: unknown precision {bad}; known: {PRECISIONS}")
        for key in tolerances or {}:
            # "faithful:<precision>:[output]" keys tune the faithful parity check (trtperf.parity.tolerance).
            bare = key.removeprefix("faithful:")
            precision, _, output = bare.rpartition(":")
            unknown_output = bool(output) and output not in outputs and not (source is not None and not outputs)
            if ((":" in bare and precision not in PRECISIONS) or unknown_output
                    or (bare != key and ":" not in bare)):
                raise TrtperfUsageError(
                    f"model {spec_name!r}: tolerance key {key!r} names no declared output and precision; use "
                    f"'output', 'precision:output', 'precision:', '', or 'faithful:precision:[output]' with "
                    f"outputs {list(outputs)} and precisions {list(PRECISIONS)}"
                )
        nonfinite = tuple(outputs) if allow_nonfinite is True else tuple(allow_nonfinite or ())
        unknown = [o for o in nonfinite if o not in outputs]
        if unknown or isinstance(allow_nonfinite, str):
            raise TrtperfUsageError(
                f"model {spec_name!r}: allow_nonfinite must be True or a list of declared outputs "
                f"{list(outputs)}, got {allow_nonfinite!r}"
            )
        batch_values = _tuple_of_ints(spec_name, "batches", batches)
        if max(batch_values) > max_batch:
            raise TrtperfUsageError(
                f"model {spec_name!r}: batch {max(batch_values)} exceeds max_batch {max_batch}"
            )
        kept = tuple(keep_fp32)
        if isinstance(keep_fp32, str) or any(not isinstance(k, str) or not k for k in kept):
            raise TrtperfUsageError(
                f"model {spec_name!r}: keep_fp32 must be a list of ONNX op types or node names, got {keep_fp32!r}"
            )
        from trtperf.config import validate_model_settings

        validate_model_settings(spec_name, settings)
        # An ONNX model's axes come from its graph: checked against dims= when the graph is read.
        dim_values = (check_dims(spec_name, inputs, dims or {}) if source is None
                      else {axis: _tuple_of_ints(spec_name, f"dims[{axis!r}]", v) for axis, v in (dims or {}).items()})
        return ModelSpec(
            name=spec_name,
            factory=factory if factory is not None else _no_torch_module,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            batches=batch_values,
            precisions=chosen,
            streams=_tuple_of_ints(spec_name, "streams", streams),
            backends=tuple(backends) if backends is not None else None,
            max_batch=max_batch,
            tolerances=dict(tolerances or {}),
            seed=seed,
            opset=opset,
            settings=dict(settings),
            dims=dim_values,
            declared_in=declared_in,
            declared_file=declared_file,
            onnx=onnx_path if onnx_path is not None else source,
            keep_fp32=kept,
            allow_nonfinite=nonfinite,
        )

    if onnx is not None:
        declared = declare(None, onnx)
        registry.append(declared)
        return declared

    def decorate(factory: Callable[[], Any]) -> ModelSpec:
        declared = declare(factory, None)
        registry.append(declared)
        return declared

    return decorate


def _suite_relative(declared_file: str, path: str | os.PathLike[str]) -> Path:
    """``path`` as given when absolute, else relative to the declaring suite file's folder."""
    given = Path(path).expanduser()
    if given.is_absolute() or not declared_file:
        return given.resolve() if given.is_absolute() else given
    return (Path(declared_file).resolve().parent / given).resolve()


def _default_precisions(onnx_path: Path | None) -> tuple[str, ...]:
    if onnx_path is None or not onnx_path.is_file():
        return ("fp32",)
    from trtperf.onnx_io import carried_precisions

    try:
        return carried_precisions(onnx_path)
    except Exception:  # an unreadable file fails its cases with the reason, not the collection
        return ("fp32",)


def _no_torch_module() -> Any:
    raise TrtperfUsageError("an ONNX-file model has no torch module; the torch backends cannot run it")


def _factory_name(factory: Callable[[], Any]) -> str:
    """A declaration's default name: the factory's ``__name__`` (a partial's function's)."""
    if not callable(factory):
        raise TrtperfUsageError(
            f"trtperf.model(...) decorates a zero-argument callable returning a torch.nn.Module (a function, class "
            f"or functools.partial), got {type(factory).__name__} {factory!r}"
        )
    target = factory.func if isinstance(factory, functools.partial) else factory
    found = getattr(target, "__name__", None)
    if not isinstance(found, str) or not _NAME_RE.fullmatch(found):
        raise TrtperfUsageError(
            f"trtperf.model(...) cannot name the model after {factory!r} (its name is {found!r}); pass name=..."
        )
    return found


def check_dims(spec_name: str, inputs: Sequence[InputSpec],
                dims: Mapping[str, Iterable[int]]) -> dict[str, tuple[int, ...]]:
    """Every named axis of the inputs has declared values, and every declared axis is used."""
    used = {axis for item in inputs for axis in item.named_axes}
    out = {}
    for axis, values in dims.items():
        if axis not in used:
            raise TrtperfUsageError(
                f"model {spec_name!r}: dims= names axis {axis!r}, but no input shape uses it; "
                f"input axes: {sorted(used)}"
            )
        out[axis] = _tuple_of_ints(spec_name, f"dims[{axis!r}]", values)
    missing = sorted(used - set(out))
    if missing:
        raise TrtperfUsageError(
            f"model {spec_name!r}: input axes {missing} have no values; declare them in the model, e.g. "
            f"dims={{{missing[0]!r}: (128, 512)}}"
        )
    return out


def load_suite(path: Path) -> list[ModelSpec]:
    """The models a suite file declares (defined there, not imported), as pytest collects them.

    The module is imported once per process under a name derived from its path, and its folder is
    put on ``sys.path`` so a suite may import helpers beside it.
    """
    path = Path(path).resolve()
    name = "trtperf_suite_" + hashlib.sha256(str(path).encode()).hexdigest()[:12] + "_" + re.sub(r"\W", "_", path.stem)
    module = sys.modules.get(name)
    if module is None:
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise TrtperfUsageError(f"{path}: cannot import this suite file")
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    bound = [v for v in vars(module).values() if isinstance(v, ModelSpec) and collected_by(v, name)]
    return bound + unbound_declarations(vars(module))


DECLARATIONS = "__trtperf_declarations__"
"""Name, in a declaring module's namespace, of the list of the declarations it made."""


def unbound_declarations(namespace: Mapping[str, Any]) -> list[ModelSpec]:
    """Declarations a module made that no module-level name holds (in a list, a dict, a loop...):
    collected all the same, in declaration order, instead of silently left out."""
    bound = {id(v) for v in namespace.values() if isinstance(v, ModelSpec)}
    made = namespace.get(DECLARATIONS, [])
    return [spec for spec in made if isinstance(spec, ModelSpec) and id(spec) not in bound]


SUITE_FILES = ("test_*.py", "*_test.py")
"""pytest's default ``python_files``: the files collected as suites."""


def collected_by(spec: ModelSpec, module_name: str, suite_files: Iterable[str] = SUITE_FILES) -> bool:
    """Whether the suite module ``module_name`` collects ``spec``: it made the declaration, or the
    declaring module is a helper that is no suite itself (its file matches none of ``suite_files``),
    so a declaration imported from a helper is collected, and one imported from another suite is
    collected there only."""
    if spec.declared_in == module_name:
        return True
    import fnmatch

    path = getattr(sys.modules.get(spec.declared_in), "__file__", None)
    if not isinstance(path, str):
        return True
    return not any(fnmatch.fnmatch(Path(path).name, pattern) for pattern in suite_files)


def find_model(suite_files: Iterable[Path], name: str) -> ModelSpec:
    """The model called ``name`` among the suite files; a usage error listing the models otherwise."""
    files = list(suite_files)
    seen: list[str] = []
    for path in files:
        for spec in load_suite(path):
            if spec.name == name:
                return spec
            seen.append(spec.name)
    raise TrtperfUsageError(f"no model {name!r} in {[str(f) for f in files]}; models there: {seen}")
