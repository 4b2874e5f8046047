"""Child-process isolation: a native crash fails one step with the signal's name, not the session."""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

import pytest

from trtperf.errors import BuildError
from trtperf.isolate import IsolatedCrash, IsolatedError, run_isolated, signal_name


def crash_with_a_segfault() -> None:
    """A real invalid memory access (NULL read) in native code."""
    ctypes.string_at(0)


def kill_self(signum: int) -> None:
    os.kill(os.getpid(), signum)


def raise_build_error(text: str) -> None:
    raise BuildError(text)


def raise_value_error() -> None:
    raise ValueError("bad value from a library")


def exit_quietly() -> None:
    os._exit(3)


def write_and_return(path: Path, data: bytes) -> dict[str, int]:
    path.write_bytes(data)
    return {"written": len(data), "pid": os.getpid()}


def test_a_result_and_files_come_back(tmp_path: Path) -> None:
    out = run_isolated(write_and_return, tmp_path / "a.bin", b"abc", what="a write")
    assert out["written"] == 3 and out["pid"] != os.getpid()
    assert (tmp_path / "a.bin").read_bytes() == b"abc"


def test_a_segfault_fails_the_step_with_the_signal_name() -> None:
    with pytest.raises(IsolatedCrash,
                       match=r"ONNX Runtime graph optimization of m\[x\] crashed: .*SIGSEGV \(signal 11\)"):
        run_isolated(crash_with_a_segfault, what="ONNX Runtime graph optimization of m[x]")
    # and this process goes on
    assert run_isolated(write_and_return, Path(os.devnull), b"", what="next")["written"] == 0


@pytest.mark.parametrize(("signum", "name"), [(signal.SIGABRT, "SIGABRT"), (signal.SIGKILL, "SIGKILL")])
def test_other_signals_are_named(signum: int, name: str) -> None:
    with pytest.raises(IsolatedCrash, match=name):
        run_isolated(kill_self, int(signum), what="step")


def test_an_exit_without_a_result_is_a_crash() -> None:
    with pytest.raises(IsolatedCrash, match="exit status 3"):
        run_isolated(exit_quietly, what="step")


def test_trtperf_errors_come_back_as_themselves() -> None:
    with pytest.raises(BuildError, match=r"^parser said no$"):
        run_isolated(raise_build_error, "parser said no", what="step")


def test_other_exceptions_keep_their_type_name_and_text() -> None:
    with pytest.raises(IsolatedError,
                       match=r"step failed: ValueError: bad value from a library \(at .*test_isolate.py:\d+\)"):
        run_isolated(raise_value_error, what="step")


def test_signal_name() -> None:
    assert signal_name(-11) == "SIGSEGV (signal 11)"
    assert signal_name(-200) == "signal 200"


def test_isolation_can_be_turned_off_for_debugging(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRTPERF_ISOLATE", "0")
    assert run_isolated(write_and_return, tmp_path / "a", b"ab", what="step")["pid"] == os.getpid()
