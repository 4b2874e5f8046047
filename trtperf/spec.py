"""Model declarations: a torch.nn.Module factory plus what the cases need to know about it.

A suite module declares models with the :func:`model` decorator; the pytest plugin finds every
:class:`ModelSpec` at module level and expands it into cases.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trtperf.errors import TrtperfUsageError

if TYPE_CHECKING:
    import torch

BATCH = "batch"
"""The name of the variable batch axis in an :class:`InputSpec` shape."""

PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "int8", "fp8")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_NUMPY_DTYPES = {"float32", "float16", "int64", "int32", "bool"}


@dataclass(frozen=True)
class InputSpec:
    """One named model input.

    ``shape`` holds ints and exactly one ``"batch"`` marking the variable batch axis.
    Values are drawn uniformly from ``[low, high)`` (integers: ``[low, high)`` too).
    """

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    low: float = -1.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if self.shape.count(BATCH) != 1:
            raise TrtperfUsageError(
                f"input {self.name!r}: shape {self.shape} must contain exactly one {BATCH!r} axis"
            )
        for dim in self.shape:
            if dim != BATCH and not (isinstance(dim, int) and dim > 0):
                raise TrtperfUsageError(f"input {self.name!r}: dimension {dim!r} must be a positive int")
        if self.dtype not in _NUMPY_DTYPES:
            raise TrtperfUsageError(
                f"input {self.name!r}: dtype {self.dtype!r} not supported; use one of {sorted(_NUMPY_DTYPES)}"
            )
        if not self.low < self.high:
            raise TrtperfUsageError(f"input {self.name!r}: low {self.low} must be below high {self.high}")
        if self.dtype in ("int64", "int32") and math.ceil(self.low) >= math.ceil(self.high):
            raise TrtperfUsageError(
                f"input {self.name!r}: integer range [{self.low}, {self.high}) holds no integer; widen low/high"
            )

    @property
    def batch_axis(self) -> int:
        return self.shape.index(BATCH)

    def concrete_shape(self, batch: int) -> tuple[int, ...]:
        return tuple(batch if dim == BATCH else int(dim) for dim in self.shape)


@dataclass(frozen=True)
class Tolerance:
    """How closely an engine output must match its reference (see :mod:`trtperf.parity`).

    Floating-point outputs, elementwise: ``|got - ref| <= atol + rtol * |ref| + rms_atol * rms(ref)``,
    where ``rms(ref)`` is the root mean square of the reference's finite elements (so ``rms_atol``
    scales the absolute tolerance with the output's own magnitude). ``max_mismatch`` is the fraction
    of elements allowed outside that bound (default 0).
    ``max_rel_l2``, when set, requires the relative L2 error ``||got - ref|| / ||ref||``.
    ``precision_error_factor``, when set (faithful checks of reduced-precision variants), raises that
    bound to ``precision_error_factor * eps`` where ``eps`` is the relative L2 distance of the
    variant's ONNX Runtime reference from the fp32 reference: the precision's own error on this
    model and input, measured, so deep models that lose more to fp16 are allowed more.
    ``min_cosine``, when set, also requires the cosine similarity of the flattened tensors.
    ``top_k``, when set, treats the last axis as class scores: the mean overlap of the engine's
    and the reference's top-k classes per row must reach ``min_top_k_agreement`` (default 1.0).

    Non-finite values: a NaN or Inf in the reference fails the output (the model computes garbage
    on its declared inputs) unless ``allow_nonfinite`` is set; then the same non-finite value on
    both sides agrees. NaN or Inf in the engine output where the reference is finite always fails.

    Integer and boolean outputs (the reference's dtype) are compared exactly: at least a
    ``min_agreement`` fraction of elements must be equal (default 1.0: all of them); the float
    fields do not apply to them.
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
    min_agreement: float = 1.0

    def __post_init__(self) -> None:
        if self.top_k is not None and (isinstance(self.top_k, bool) or self.top_k < 1):
            raise TrtperfUsageError(f"Tolerance top_k must be a positive int, got {self.top_k!r}")
        fractions = (self.min_top_k_agreement, self.max_mismatch, self.min_agreement)
        if not all(0.0 <= f <= 1.0 for f in fractions):
            raise TrtperfUsageError(
                f"Tolerance min_top_k_agreement, max_mismatch and min_agreement are fractions in [0, 1], got "
                f"{self.min_top_k_agreement!r}, {self.max_mismatch!r} and {self.min_agreement!r}"
            )
        bounds = {"atol": self.atol, "rtol": self.rtol, "rms_atol": self.rms_atol,
                  "max_rel_l2": 0.0 if self.max_rel_l2 is None else self.max_rel_l2,
                  "precision_error_factor": self.precision_error_factor or 0.0}
        bad = {k: v for k, v in bounds.items() if not (isinstance(v, (int, float)) and v >= 0)}
        if bad:
            raise TrtperfUsageError(f"Tolerance bounds must be non-negative numbers, got {bad}")


@dataclass(frozen=True)
class ModelSpec:
    """A model and the cases to make of it. Build one with :func:`model`."""

    name: str
    factory: Callable[[], torch.nn.Module]
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
    allow_nonfinite: tuple[str, ...] = ()
    """Outputs whose reference may hold NaN/Inf by design (``Tolerance.allow_nonfinite`` for them)."""

    def source_digest(self) -> str:
        """Digest of the code that defines the model (its whole module), for cache keys."""
        module = inspect.getmodule(self.factory)
        try:
            source = inspect.getsource(module) if module is not None else inspect.getsource(self.factory)
        except (OSError, TypeError):
            source = getattr(self.factory, "__qualname__", repr(self.factory))
        return hashlib.sha256(source.encode()).hexdigest()

    def tolerance_for(self, precision: str, output: str, default: Tolerance) -> Tolerance:
        """Most specific tolerance: ``"fp16:out"``, ``"fp16:"``, ``"out"``, ``""``, then ``default``."""
        for key in (f"{precision}:{output}", f"{precision}:", output, ""):
            if key in self.tolerances:
                return self.tolerances[key]
        return default

    def build_module(self) -> torch.nn.Module:
        """Instantiate the module with seeded weights, in eval mode."""
        import torch

        torch.manual_seed(self.seed)
        module = self.factory()
        if not isinstance(module, torch.nn.Module):
            raise TrtperfUsageError(
                f"model {self.name!r}: factory returned {type(module).__name__}, expected a torch.nn.Module"
            )
        return module.eval()


def _tuple_of_ints(name: str, what: str, values: Iterable[int]) -> tuple[int, ...]:
    out = tuple(values)
    if not out or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in out):
        raise TrtperfUsageError(f"model {name!r}: {what} must be positive ints, got {out!r}")
    return out


def model(
    *,
    inputs: Sequence[InputSpec],
    outputs: Sequence[str],
    batches: Iterable[int] = (1, 8),
    precisions: Iterable[str] = ("fp32",),
    streams: Iterable[int] = (1,),
    backends: Iterable[str] | None = None,
    max_batch: int = 64,
    tolerances: Mapping[str, Tolerance] | None = None,
    seed: int = 0,
    opset: int = 18,
    name: str | None = None,
    allow_nonfinite: bool | Iterable[str] = False,
    **settings: Any,
) -> Callable[[Callable[[], torch.nn.Module]], ModelSpec]:
    """Declare a model for trtperf; decorate a zero-argument factory returning a ``torch.nn.Module``.

    Defaults: batches (1, 8), precision fp32, 1 stream, every backend, dynamic batch up to 64,
    opset 18. ``tolerances`` maps ``"output"``, ``"precision:output"``, ``"precision:"`` or
    ``""`` to a :class:`Tolerance`. ``allow_nonfinite`` (True: every output, or output names)
    declares that the model's reference may hold NaN/Inf there (otherwise a non-finite reference
    fails the case: see :class:`Tolerance`). Extra keyword arguments are per-model settings that override
    options and ini values (for example ``runs=3`` or ``threshold=0.1``).
    """

    def decorate(factory: Callable[[], torch.nn.Module]) -> ModelSpec:
        spec_name = name or factory.__name__
        if not _NAME_RE.fullmatch(spec_name):
            raise TrtperfUsageError(f"model name {spec_name!r} must match {_NAME_RE.pattern}")
        if not inputs:
            raise TrtperfUsageError(f"model {spec_name!r}: declare at least one input")
        if not outputs:
            raise TrtperfUsageError(f"model {spec_name!r}: declare at least one output name")
        names = [i.name for i in inputs] + list(outputs)
        if len(set(names)) != len(names):
            raise TrtperfUsageError(f"model {spec_name!r}: input and output names must be unique: {names}")
        bad = [p for p in precisions if p not in PRECISIONS]
        if bad:
            raise TrtperfUsageError(f"model {spec_name!r}: unknown precision {bad}; known: {PRECISIONS}")
        for key in tolerances or {}:
            # "faithful:<precision>:[output]" keys tune the faithful parity check (trtperf.tolerance).
            bare = key.removeprefix("faithful:")
            precision, _, output = bare.rpartition(":")
            if ((":" in bare and precision not in PRECISIONS) or (output and output not in outputs)
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
        from trtperf.config import validate_model_settings

        validate_model_settings(spec_name, settings)
        return ModelSpec(
            name=spec_name,
            factory=factory,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            batches=batch_values,
            precisions=tuple(precisions),
            streams=_tuple_of_ints(spec_name, "streams", streams),
            backends=tuple(backends) if backends is not None else None,
            max_batch=max_batch,
            tolerances=dict(tolerances or {}),
            seed=seed,
            opset=opset,
            settings=dict(settings),
            allow_nonfinite=nonfinite,
        )

    return decorate


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
    return [v for v in vars(module).values() if isinstance(v, ModelSpec) and v.factory.__module__ == name]


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
