"""The README documents every option (its table is the user's reference)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trtperf.config import OPTIONS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("option", [o.cli for o in OPTIONS])
def test_every_option_is_in_the_readme(option: str) -> None:
    short = f"-{option}`" if option in ("precision", "batch", "streams") else f"--trtperf-{option}`"
    assert short in README, f"README's options table lacks --trtperf-{option}"
