"""Live progress of a case's stages (issue 15, item 5).

The pipeline calls one callback, :data:`ProgressCallback`, at each stage boundary (export, precision,
build, parity, each timing run, done); it knows nothing about terminals. Two reporters:

* :class:`LogProgress`: one plain line per event (``trtperf cnn[...]: build done in 12.3 s``), for
  CI logs and any output that is not a terminal;
* :class:`RichProgress`: a live line per case on the terminal (the stage's elapsed time, redrawn
  twice a second; the stage; timing run i of N with the median so far) that is erased when the case
  ends, leaving pytest's own output as it was.

Elapsed times are wall-clock seconds (``time.monotonic``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

EXPORT, PRECISION, BUILD, PARITY, TIMING, DONE = "export", "precision", "build", "parity", "timing", "done"


@dataclass(frozen=True)
class ProgressEvent:
    case: str
    """The case key, ``cnn[onnxruntime-fp32-b8-s1]``."""
    stage: str
    """One of export, precision, build, parity, timing, done; an event marks the stage's start, except
    ``timing`` (after each run) and ``done`` (the case ended)."""
    detail: str = ""
    run: int = 0
    """timing: runs finished so far (1-based)."""
    runs: int = 0
    """timing: runs planned."""
    median_ms: float | None = None
    """timing: median of the run medians so far, ms."""


ProgressCallback = Callable[[ProgressEvent], None]

SAVE_CURSOR = "\x1b7"
RESTORE_AND_CLEAR = "\x1b8\x1b[K"
"""Back to the saved cursor, erase to the end of the line (VT100)."""
PYTEST_PREFIX = 40
"""Columns left to pytest's ``path/test_file.py ..`` at the start of the line the rich display shares."""


def describe(event: ProgressEvent, short: bool = False) -> str:
    """What an event says: ``timing run 2 of 10, median so far 1.235 ms`` (``short``: ``run 2/10 median
    1.235 ms``, for a terminal line shared with pytest)."""
    if event.stage == TIMING:
        if short:
            median = "" if event.median_ms is None else f" median {event.median_ms:.4g} ms"
            return f"run {event.run}/{event.runs}{median}"
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
        self.write(f"trtperf {event.case}: {describe(event)}")


class RichProgress:
    """A live line per case on a terminal ``console``: the stage's elapsed time (redrawn twice a second),
    the stage, the case. It is drawn after what pytest has written on the current line (the cursor
    is saved and restored, ``ESC 7``/``ESC 8``) and erased when the case ends, so pytest's own output
    stays exactly as it would be without it."""

    def __init__(self, console: Console, refresh_s: float = 0.5) -> None:
        self.console = console
        self.clock = _StageClock()
        self.line = ""
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def _render(self) -> Text:
        from rich.text import Text

        elapsed = self.clock.now() - self.clock.started
        text = Text(f"[{elapsed:.0f} s] {self.line} · {self.clock.case}", no_wrap=True, overflow="ellipsis")
        # pytest has written "suites/test_x.py " on this line already: stay within the rest, never wrap.
        text.truncate(max(20, self.console.width - PYTEST_PREFIX), overflow="ellipsis")
        return text

    def _write(self, data: str) -> None:
        self.console.file.write(data)
        self.console.file.flush()

    def _draw(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._write(RESTORE_AND_CLEAR + self._render().plain)

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.refresh_s):
            self._draw()

    def __call__(self, event: ProgressEvent) -> None:
        self.clock.advance(event)
        if event.stage == DONE:
            self.close()
            return
        self.line = describe(event, short=True)
        if self._thread is None:
            with self._lock:
                self._write(SAVE_CURSOR)
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._tick, args=(self._stop,), daemon=True)
                self._thread.start()
        self._draw()

    @property
    def active(self) -> bool:
        return self._thread is not None

    def close(self) -> None:
        """Stop redrawing and erase the line (back to where pytest left the cursor)."""
        thread, stop = self._thread, self._stop
        if thread is None or stop is None:
            return
        stop.set()
        thread.join()
        with self._lock:
            self._thread = None
            self._write(RESTORE_AND_CLEAR)


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
