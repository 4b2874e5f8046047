"""KeptBindings: the per-worker GPU state both GPU engines keep across the runs of a case (issue 14 item 5)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from trtperf.engine import KeptBindings


@dataclass
class _Stream:
    syncs: int = 0

    def synchronize(self) -> None:
        self.syncs += 1


@dataclass
class _Binding:
    shape: int
    stream: _Stream = field(default_factory=_Stream)


@pytest.mark.parametrize("fresh", [False, True])
def test_bindings_are_reused_when_they_accept_the_inputs_and_released_otherwise(fresh: bool) -> None:
    released: list[_Binding] = []
    made: list[_Binding] = []
    kept = KeptBindings(fresh, released.append)

    def take(shape: int) -> _Binding:
        def make() -> _Binding:
            made.append(_Binding(shape))
            return made[-1]

        return kept.take(lambda b: b.shape == shape, make)

    first = take(8)
    kept.closer(first)()  # a worker closes
    again = take(8)
    assert (again is first) is not fresh
    assert first.stream.syncs == (0 if fresh else 1)  # kept only once its stream is idle
    kept.give_back(again)
    other = take(4)  # refused: released, a new one made
    assert other is not first and first in released
    kept.give_back(other)
    kept.close()
    assert set(map(id, released)) == set(map(id, made))  # nothing outlives the engine
    assert len(made) == (3 if fresh else 2)
