"""Wording of user-facing counts (one rule for every message: no "1 cases")."""

from __future__ import annotations

import pytest

from trtperf.text import plural, signed_percent


@pytest.mark.parametrize(("count", "noun", "expected"), [
    (0, "case", "0 cases"), (1, "case", "1 case"), (2, "case", "2 cases"),
    (1, "entry", "1 entry"), (3, "entry", "3 entries"), (2, "day", "2 days"),
    (1, "case result", "1 case result"), (2, "case result", "2 case results"),
    (1, "parity failure", "1 parity failure"), (2, "change point", "2 change points"),
    (2, "pass", "2 passes"), (2, "index", "2 indexes"), (2, "axis", "2 axes"),
])
def test_plural(count: int, noun: str, expected: str) -> None:
    assert plural(count, noun, "axes" if noun == "axis" else None) == expected



@pytest.mark.parametrize(("change", "shown"), [
    (0.253, "+25.3%"), (-0.0004, "+0.0%"), (0.0004, "+0.0%"), (0.0, "+0.0%"), (-0.0006, "-0.1%"), (-0.5, "-50.0%"),
])
def test_signed_percent_never_shows_minus_zero(change: float, shown: str) -> None:
    assert signed_percent(change) == shown
