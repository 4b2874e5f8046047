"""Live progress of a case's stages (issue 15, item 5).

The pipeline calls one callback, :data:`ProgressCallback`, at each stage boundary (export, variant,
build, parity, each timing run, done); it knows nothing about terminals. Two reporters:

* :class:`LogProgress`: one plain line per event (``trtperf cnn[...]: build done in 12.3 s``), for
  CI logs and any output that is not a terminal;
* :class:`RichProgress`: a transient one-line rich display per case (stage, elapsed time of the
  stage, timing run i of N with the median so far) that disappears when the case ends, leaving
  pytest's own output as it was.

Elapsed times are wall-clock seconds (``time.monotonic``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live

EXPORT, VARIANT, BUILD, PARITY, TIMING, DONE = "export", "variant", "build", "parity", "timing", "done"


@dataclass(frozen=True)
class ProgressEvent:
    case: str
    """The case key, ``cnn[onnxruntime-fp32-b8-s1]``."""
    stage: str
    """One of export, variant, build, parity, timing, done; an event marks the stage's start, except
    ``timing`` (after each run) and ``done`` (the case ended)."""
    detail: str = ""
    run: int = 0
    """timing: runs finished so far (1-based)."""
    runs: int = 0
    """timing: runs planned."""
    median_ms: float | None = None
    """timing: median of the run medians so far, ms."""


ProgressCallback = Callable[[ProgressEvent], None]


def describe(event: ProgressEvent, stage_elapsed_s: float | None) -> str:
    """One line for an event; ``stage_elapsed_s`` is how long the previous stage took, when it ended here."""
    if event.stage == TIMING:
        median = "" if event.median_ms is None else f", median so far {event.median_ms:.4g} ms"
        return f"timing run {event.run} of {event.runs}{median}"
    text = event.stage if event.stage != DONE else "done"
    return text + (f" ({event.detail})" if event.detail else "")


class _StageClock:
    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now
        self.case = ""
        self.stage = ""
        self.started = now()

    def advance(self, event: ProgressEvent) -> tuple[str, float] | None:
        """Start ``event``'s stage; returns (previous stage, its seconds) when a stage ended."""
        now = self.now()
        ended = None
        if event.case == self.case and self.stage and event.stage != self.stage:
            ended = (self.stage, now - self.started)
        if event.case != self.case or event.stage != self.stage:
            self.case, self.stage, self.started = event.case, event.stage, now
        return ended


class LogProgress:
    """Plain lines through ``write`` (one per event; a stage that took over a second says how long)."""

    def __init__(self, write: Callable[[str], None], now: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.clock = _StageClock(now)

    def __call__(self, event: ProgressEvent) -> None:
        ended = self.clock.advance(event)
        if ended and ended[1] >= 1.0:
            self.write(f"trtperf {event.case}: {ended[0]} done in {ended[1]:.1f} s")
        self.write(f"trtperf {event.case}: {describe(event, None)}")


class RichProgress:
    """A transient rich line per case on ``console``: spinner, case, stage, the stage's elapsed time."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.clock = _StageClock()
        self.live: Live | None = None
        self.line = ""

    def _render(self) -> Any:
        from rich.text import Text

        elapsed = self.clock.now() - self.clock.started
        return Text(f"⏳ {self.clock.case}: {self.line}  [{elapsed:.0f} s]")

    def __call__(self, event: ProgressEvent) -> None:
        from rich.live import Live

        self.clock.advance(event)
        if event.stage == DONE:
            if self.live is not None:
                self.live.stop()
                self.live = None
            return
        self.line = describe(event, None)
        if self.live is None:
            self.live = Live(get_renderable=self._render, console=self.console, transient=True,
                             refresh_per_second=2, redirect_stdout=False, redirect_stderr=False)
            self.live.start()
        self.live.refresh()

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def open_terminal() -> Console | None:
    """A rich console on the controlling terminal (``/dev/tty``), which pytest's output capture does not
    redirect; None when there is none (CI, a service, a detached process)."""
    import os

    try:
        handle = open("/dev/tty", "w", encoding="utf-8")  # noqa: SIM115 - kept open for the session
    except OSError:
        return None
    if not os.isatty(handle.fileno()):
        handle.close()
        return None
    from rich.console import Console

    return Console(file=handle, stderr=False)
