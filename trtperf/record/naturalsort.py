"""Natural order of case keys: ``mlp[...-b2-s1]`` before ``mlp[...-b16-s1]`` (every report sorts with it)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from trtperf.cases import Case

_DIGITS = re.compile(r"(\d+)")


class HasCase(Protocol):
    @property
    def case(self) -> Case: ...


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key splitting ``text`` into text and integer runs: ``"b16"`` -> ``(("b",), 16)``-like parts.

    Each part is ``(0, int)`` for a digit run or ``(1, str)`` for text, so parts of different kinds
    always compare (digits first) and the key is total for any two strings.
    """
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in _DIGITS.split(text) if part != "")


def natural_sorted(keys: Iterable[str]) -> list[str]:
    """``keys`` in natural order."""
    return sorted(keys, key=natural_key)


def case_order(result: HasCase) -> tuple[tuple[int, int | str], ...]:
    """Sort key of anything with ``.case`` (a CaseResult) in natural order of its case key."""
    return natural_key(result.case.key)
