"""Wording of user-facing counts: ``1 case``, ``2 cases``, one rule for every message and report."""

from __future__ import annotations

IRREGULAR = {"entry": "entries", "was": "were", "is": "are", "has": "have"}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``plural(1, "case")`` -> ``"1 case"``; ``plural(2, "case")`` -> ``"2 cases"``; ``plural(0, "entry")`` ->
    ``"0 entries"``. ``many`` gives an irregular plural; a multi-word noun pluralizes its last word
    (``plural(2, "case result")`` -> ``"2 case results"``; ``plural(2, "change point")`` -> ``"2 change points"``)."""
    return f"{count} {noun if count == 1 else (many or plural_noun(noun))}"


def plural_noun(noun: str) -> str:
    """The plural of ``noun`` (its last word; "entry" -> "entries", "parity failure" -> "parity failures")."""
    head, _, last = noun.rpartition(" ")
    if last in IRREGULAR:
        word = IRREGULAR[last]
    elif last.endswith("y") and last[-2:-1] not in tuple("aeiou"):
        word = last[:-1] + "ies"
    elif last.endswith(("s", "x", "ch", "sh")):
        word = last + "es"
    else:
        word = last + "s"
    return f"{head} {word}" if head else word


def signed_percent(change: float) -> str:
    """A relative change as every table and report shows it: signed, one decimal of a percent
    (``0.253`` -> ``"+25.3%"``), and ``"+0.0%"`` for one that rounds to zero, never ``"-0.0%"``."""
    text = f"{change:+.1%}"
    return "+0.0%" if text in ("+0.0%", "-0.0%") else text
