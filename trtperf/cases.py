"""Cases: model x backend x precision x batch x named axes x streams, with readable ids."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trtperf.spec import ModelSpec

_KEY_RE = re.compile(
    r"(?P<model>[^\[]+)\[(?P<backend>[a-z_]+)-(?P<precision>[a-z0-9]+)-b(?P<batch>\d+)"
    r"(?P<dims>(?:-[A-Za-z_]+\d+)*)-s(?P<streams>\d+)\]"
)
_DIM_RE = re.compile(r"-(?P<axis>[A-Za-z_]+)(?P<value>\d+)")

Dims = tuple[tuple[str, int], ...]
"""A case's named axes and their values, sorted by axis name: ``(("seq", 128),)``."""


@dataclass(frozen=True, order=True)
class Case:
    model: str
    backend: str
    precision: str
    batch: int
    streams: int
    dims: Dims = ()

    @property
    def id(self) -> str:
        """The parametrization id, e.g. ``onnxruntime-fp32-b8-s2`` or ``tensorrt-fp16-b8-seq128-s1``."""
        axes = "".join(f"-{axis}{value}" for axis, value in self.dims)
        return f"{self.backend}-{self.precision}-b{self.batch}{axes}-s{self.streams}"

    @property
    def key(self) -> str:
        """The baseline key and test name, e.g. ``cnn[onnxruntime-fp32-b8-s2]``: the full input shape."""
        return f"{self.model}[{self.id}]"

    @property
    def dim_values(self) -> dict[str, int]:
        """The named axes as a mapping, e.g. ``{"seq": 128}`` (empty for a batch-only model)."""
        return dict(self.dims)

    @classmethod
    def from_key(cls, key: str) -> Case:
        match = _KEY_RE.fullmatch(key)
        if not match:
            raise ValueError(f"not a case key: {key!r} (expected e.g. 'cnn[onnxruntime-fp32-b8-s2]' or "
                             f"'bert[tensorrt-fp16-b8-seq128-s1]')")
        dims = tuple(sorted((m["axis"], int(m["value"])) for m in _DIM_RE.finditer(match["dims"])))
        return cls(
            model=match["model"],
            backend=match["backend"],
            precision=match["precision"],
            batch=int(match["batch"]),
            streams=int(match["streams"]),
            dims=dims,
        )


def _narrow(declared: Iterable[object], wanted: Iterable[object] | None) -> list[object]:
    declared_list = list(declared)
    if wanted is None:
        return declared_list
    wanted_set = set(wanted)
    return [value for value in declared_list if value in wanted_set]


def dim_combinations(spec: ModelSpec, wanted: Mapping[str, Iterable[int]] | None = None) -> list[Dims]:
    """Every combination of the named axes' values (``[()]`` for a batch-only model).

    ``wanted`` (from ``--trtperf-dim``) replaces an axis's declared values; a wanted value outside the
    declared ``min..max`` is dropped, since the export and the engine profile cover only that range.
    """
    axes = sorted(spec.dims)
    choices = []
    for axis in axes:
        low, high = spec.dim_range(axis)
        if wanted is not None and axis in wanted:
            choices.append([v for v in dict.fromkeys(wanted[axis]) if low <= v <= high])
        else:
            choices.append(list(spec.dims[axis]))
    return [tuple(zip(axes, values, strict=True)) for values in itertools.product(*choices)]


def dims_out_of_range(spec: ModelSpec, wanted: Mapping[str, Iterable[int]] | None) -> str | None:
    """The ``--trtperf-dim`` values that :func:`dim_combinations` drops for ``spec`` (outside the declared
    ``min..max`` of its axes), as one line naming the model, each value and the range; None when all fit.
    An axis the model does not declare is not its concern (another model's, or a usage error)."""
    parts = []
    for axis, values in sorted((wanted or {}).items()):
        if axis not in spec.dims:
            continue
        low, high = spec.dim_range(axis)
        outside = [v for v in dict.fromkeys(values) if not low <= v <= high]
        if outside:
            parts.append(f"{axis}={','.join(map(str, outside))} (declared range {low}..{high})")
    if not parts:
        return None
    return (f"model {spec.name!r}: {'; '.join(parts)} not run: the export and the engine profile cover only the "
            f"declared range (widen the axis's range in the declaration to run it)")


def expand_cases(
    spec: ModelSpec,
    known_backends: Iterable[str],
    backends: Iterable[str] | None = None,
    precisions: Iterable[str] | None = None,
    batches: Iterable[int] | None = None,
    streams: Iterable[int] | None = None,
    dims: Mapping[str, Iterable[int]] | None = None,
) -> list[Case]:
    """Every case the model declares, narrowed by the selection (None keeps all declared values).

    A batch or stream count selected on the command line that the model does not declare is
    still run when it fits the model's ``max_batch``: users ask for "b32" on the command line.
    Likewise a named-axis value within the declared range (see :func:`dim_combinations`).
    """
    declared_backends = list(spec.backends) if spec.backends is not None else list(known_backends)
    chosen_backends = _narrow(declared_backends, backends)
    chosen_precisions = _narrow(spec.precisions, precisions)
    chosen_batches: list[object] = (
        list(spec.batches) if batches is None else [b for b in batches if b <= spec.max_batch]
    )
    chosen_streams: list[object] = list(spec.streams) if streams is None else list(streams)
    combos = dim_combinations(spec, dims)
    return [
        Case(spec.name, str(backend), str(precision), int(str(batch)), int(str(stream)), combo)
        for backend in chosen_backends
        for precision in chosen_precisions
        for batch in chosen_batches
        for combo in combos
        for stream in chosen_streams
    ]


def why_no_cases(
    spec: ModelSpec,
    known_backends: Iterable[str],
    backends: Iterable[str] | None = None,
    precisions: Iterable[str] | None = None,
    batches: Iterable[int] | None = None,
    streams: Iterable[int] | None = None,
    dims: Mapping[str, Iterable[int]] | None = None,
) -> str:
    """Which selection option left ``spec`` without cases, and why ('' when it has some)."""
    if expand_cases(spec, known_backends, backends, precisions, batches, streams, dims):
        return ""
    declared_backends = list(spec.backends) if spec.backends is not None else list(known_backends)
    if backends is not None and not _narrow(declared_backends, backends):
        return (f"--trtperf-backend {','.join(backends)} matches none of the backends model {spec.name!r} runs on "
                f"({', '.join(declared_backends)})")
    if precisions is not None and not _narrow(spec.precisions, precisions):
        return (f"--trtperf-precision {','.join(precisions)} matches none of the precisions model {spec.name!r} "
                f"declares ({', '.join(spec.precisions)})")
    if batches is not None:
        return (f"--trtperf-batch {','.join(str(b) for b in batches)} is above max_batch {spec.max_batch} of model "
                f"{spec.name!r} (its ONNX export's batch axis goes up to max_batch; declare a larger max_batch= "
                f"to run it)")
    if dims and not dim_combinations(spec, dims):
        wanted = " ".join(f"{axis}={','.join(map(str, values))}" for axis, values in sorted(dims.items()))
        declared = ", ".join(f"{axis} {list(values)}" for axis, values in sorted(spec.dims.items())) or "none"
        return (f"--trtperf-dim {wanted} matches none of the named-axis values model {spec.name!r} declares "
                f"(declared: {declared}); a value must lie within the declared range")
    return f"model {spec.name!r} declares no cases"


def unknown_dim_axes(wanted: Mapping[str, Iterable[int]], declared: Mapping[str, Iterable[str]],
                     source: str = "--trtperf-dim") -> str:
    """The usage error for ``--trtperf-dim`` axes no collected model declares ('' when there is none).

    ``declared`` maps each named axis the collected models declare to those models' names. An axis
    that one model declares and another does not is fine: it narrows the models that have it.
    """
    unknown = sorted(axis for axis in wanted if axis not in declared)
    if not unknown:
        return ""

    def spelled(value: str) -> str:  # as the user gave it: --trtperf-dim V, TRTPERF_DIM=V, trtperf_dim = V
        return f"{source}={value}" if source.isupper() else f"{source} {value}"

    given = spelled(";".join(f"{axis}={','.join(map(str, values))}" for axis, values in sorted(wanted.items())))
    names = ", ".join(repr(axis) for axis in unknown)
    head = f"{given}: no collected model declares the {'axes' if len(unknown) > 1 else 'axis'} {names}"
    if not declared:
        return (f"{head}; the collected models declare no named axes (only the batch axis, selected with "
                f"--trtperf-batch). Fix: drop {source}, or declare the axis on the model "
                f"(InputSpec(..., ('batch', '{unknown[0]}')) with dims={{'{unknown[0]}': (...)}})")
    axes = "; ".join(f"{axis} ({'model' if len(set(models)) == 1 else 'models'} {', '.join(sorted(set(models)))})"
                     for axis, models in sorted(declared.items()))
    close = difflib.get_close_matches(unknown[0], list(declared), n=1)
    example = close[0] if close else sorted(declared)[0]
    values = ",".join(map(str, wanted[unknown[0]]))
    return (f"{head}; the collected models declare: {axes}. Fix: name a declared axis, e.g. "
            + spelled(f"{example}={values}") + (" (did you mean it?)" if close else ""))
