"""Cases: model x backend x precision x batch x streams, with readable ids."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from trtperf.spec import ModelSpec

_KEY_RE = re.compile(
    r"(?P<model>[^\[]+)\[(?P<backend>[a-z_]+)-(?P<precision>[a-z0-9]+)-b(?P<batch>\d+)-s(?P<streams>\d+)\]"
)


@dataclass(frozen=True, order=True)
class Case:
    model: str
    backend: str
    precision: str
    batch: int
    streams: int

    @property
    def id(self) -> str:
        """The parametrization id, e.g. ``onnxruntime-fp32-b8-s2``."""
        return f"{self.backend}-{self.precision}-b{self.batch}-s{self.streams}"

    @property
    def key(self) -> str:
        """The baseline key and test name, e.g. ``cnn[onnxruntime-fp32-b8-s2]``."""
        return f"{self.model}[{self.id}]"

    @classmethod
    def from_key(cls, key: str) -> Case:
        match = _KEY_RE.fullmatch(key)
        if not match:
            raise ValueError(f"not a case key: {key!r} (expected e.g. 'cnn[onnxruntime-fp32-b8-s2]')")
        return cls(
            model=match["model"],
            backend=match["backend"],
            precision=match["precision"],
            batch=int(match["batch"]),
            streams=int(match["streams"]),
        )


def _narrow(declared: Iterable[object], wanted: Iterable[object] | None) -> list[object]:
    declared_list = list(declared)
    if wanted is None:
        return declared_list
    wanted_set = set(wanted)
    return [value for value in declared_list if value in wanted_set]


def expand_cases(
    spec: ModelSpec,
    known_backends: Iterable[str],
    backends: Iterable[str] | None = None,
    precisions: Iterable[str] | None = None,
    batches: Iterable[int] | None = None,
    streams: Iterable[int] | None = None,
) -> list[Case]:
    """Every case the model declares, narrowed by the selection (None keeps all declared values).

    A batch or stream count selected on the command line that the model does not declare is
    still run when it fits the model's ``max_batch``: users ask for "b32" on the command line.
    """
    declared_backends = list(spec.backends) if spec.backends is not None else list(known_backends)
    chosen_backends = _narrow(declared_backends, backends)
    chosen_precisions = _narrow(spec.precisions, precisions)
    chosen_batches: list[object] = (
        list(spec.batches) if batches is None else [b for b in batches if b <= spec.max_batch]
    )
    chosen_streams: list[object] = list(spec.streams) if streams is None else list(streams)
    return [
        Case(spec.name, str(backend), str(precision), int(str(batch)), int(str(stream)))
        for backend in chosen_backends
        for precision in chosen_precisions
        for batch in chosen_batches
        for stream in chosen_streams
    ]


def why_no_cases(
    spec: ModelSpec,
    known_backends: Iterable[str],
    backends: Iterable[str] | None = None,
    precisions: Iterable[str] | None = None,
    batches: Iterable[int] | None = None,
    streams: Iterable[int] | None = None,
) -> str:
    """Which selection option left ``spec`` without cases, and why ('' when it has some)."""
    if expand_cases(spec, known_backends, backends, precisions, batches, streams):
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
    return f"model {spec.name!r} declares no cases"
