"""JUnit XML properties of one case (issue 15, item 6): each number its own ``<property>``.

pytest's ``--junitxml`` writes an item's ``user_properties``; CI systems show them per test case.
"""

from __future__ import annotations

from trtperf.record import facts
from trtperf.record.results import CaseResult

JUNIT_PROPERTIES = ("median_ms", "p99_ms", "baseline_ms", "change", "verdict", "parity_max_abs_err")


def _number(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def junit_properties(result: CaseResult) -> list[tuple[str, str]]:
    """``(name, value)`` per :data:`JUNIT_PROPERTIES`; an absent number is the empty string.

    ``median_ms``/``p99_ms``/``baseline_ms`` in milliseconds (6 significant digits), ``change`` the
    fraction of the median vs the baseline (``0.05``: 5 % slower), ``parity_max_abs_err`` the largest
    absolute error against the fp32 reference.
    """
    return [
        ("median_ms", _number(facts.stat(result, "median_ms"), ".6g")),
        ("p99_ms", _number(facts.stat(result, "p99_ms"), ".6g")),
        ("baseline_ms", _number(facts.baseline_median_ms(result), ".6g")),
        ("change", _number(facts.change(result), ".4f")),
        ("verdict", facts.verdict_status(result)),
        ("parity_max_abs_err", _number(facts.parity_max_abs_err(result), ".3g")),
    ]
