"""Run a native-crash-prone step in a child process, so that a crash fails one case, not the session.

ONNX Runtime's graph optimizer, TensorRT's parser and builder, and the reference run are native
code that can die with a signal (a segmentation fault in an optimizer pass, an abort in a plugin);
in the pytest process that would end the whole session without a summary. :func:`run_isolated`
runs such a step in a child of a ``forkserver`` (started once per process, with numpy, onnx and
onnxruntime imported ahead, so a step costs a fork, not an interpreter start) and returns its
result; a crash becomes an :class:`IsolatedCrash` naming the step and the signal (``SIGSEGV``).

The step must be a module-level function (passed by name) with picklable arguments and result (paths, numbers,
small dicts: artifacts travel through files, not the pipe). An exception in the child comes back
as the same :class:`~trtperf.errors.TrtperfError` when it is one, else as :class:`IsolatedError`
carrying the original type name and message.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from trtperf.errors import TrtperfError

T = TypeVar("T")

PRELOAD = ["trtperf.isolate", "numpy", "onnx", "onnxruntime"]
"""Imported once by the fork server (a module that is not installed is skipped by multiprocessing)."""

_context: Any = None


class IsolatedError(TrtperfError):
    """A step raised an exception that is not trtperf's own in its child process."""

    def __init__(self, message: str, type_name: str = "") -> None:
        super().__init__(message)
        self.type_name = type_name


class IsolatedCrash(TrtperfError):
    """A step's child process died (a signal, or an exit without a result)."""


def enabled() -> bool:
    """Off with ``TRTPERF_ISOLATE=0`` (debugging a step in-process, e.g. under pdb)."""
    return os.environ.get("TRTPERF_ISOLATE", "1").strip().lower() not in ("0", "false", "no", "off")


def _get_context() -> Any:
    global _context
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _context = context
    return _context


def _launch_without_main(self: Any, process_obj: Any) -> None:
    """``multiprocessing.popen_forkserver.Popen._launch`` (CPython 3.9-3.13) minus the parent's
    ``__main__``: a child would otherwise import the parent's main script again (running a script
    without a ``__main__`` guard twice, and paying its imports, seconds with torch, on every step).
    The steps run here live in trtperf's own modules, so the child never needs it."""
    import io
    from multiprocessing import forkserver, reduction, spawn, util
    from multiprocessing.context import set_spawning_popen  # type: ignore[attr-defined]

    prep_data = spawn.get_preparation_data(process_obj._name)
    prep_data.pop("init_main_from_path", None)
    prep_data.pop("init_main_from_name", None)
    buf = io.BytesIO()
    set_spawning_popen(self)
    try:
        reduction.dump(prep_data, buf)
        reduction.dump(process_obj, buf)
    finally:
        set_spawning_popen(None)
    self.sentinel, w = forkserver.connect_to_new_process(self._fds)
    _parent_w = os.dup(w)
    self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))  # type: ignore[attr-defined]
    with open(w, "wb", closefd=True) as handle:
        handle.write(buf.getbuffer())
    self.pid = forkserver.read_signed(self.sentinel)


def _process_class() -> Any:
    """The fork server's Process class, launching children without the parent's ``__main__`` where
    this Python's multiprocessing has the expected internals (else the standard class)."""
    _get_context()  # the preload list is set before the fork server starts
    return _IsolatedProcess if _IsolatedProcess is not None else _get_context().Process


_IsolatedProcess: Any = None
try:  # POSIX only; the names are CPython internals, checked here rather than assumed
    from multiprocessing import popen_forkserver as _popen_forkserver
    from multiprocessing.context import ForkServerProcess as _ForkServerProcess

    if hasattr(_popen_forkserver.Popen, "_launch"):
        class _NoMainPopen(_popen_forkserver.Popen):  # type: ignore[misc]
            _launch = _launch_without_main

        class _NoMainProcess(_ForkServerProcess):  # type: ignore[misc]
            @staticmethod
            def _Popen(process_obj: Any) -> Any:  # multiprocessing's name
                return _NoMainPopen(process_obj)

        _IsolatedProcess = _NoMainProcess
except ImportError:  # pragma: no cover - Windows
    pass


def signal_name(exitcode: int) -> str:
    """'SIGSEGV (signal 11)' for a child's negative exit code."""
    try:
        return f"{signal.Signals(-exitcode).name} (signal {-exitcode})"
    except ValueError:
        return f"signal {-exitcode}"


def _resolve(name: tuple[str, str]) -> Callable[..., Any]:
    import importlib

    target: Any = importlib.import_module(name[0])
    for part in name[1].split("."):
        target = getattr(target, part)
    return target  # type: ignore[no-any-return]


def _child(conn: multiprocessing.connection.Connection, name: tuple[str, str], args: tuple[Any, ...]) -> None:
    try:
        result = _resolve(name)(*args)
    except BaseException as exc:  # everything goes back to the parent
        if isinstance(exc, TrtperfError):
            try:
                conn.send(("trtperf-error", exc))
                return
            except Exception:  # an unpicklable TrtperfError subclass: send its text
                pass
        text = str(exc).strip() or type(exc).__name__
        where = traceback.extract_tb(exc.__traceback__)
        location = f" (at {where[-1].filename}:{where[-1].lineno})" if where else ""
        conn.send(("error", type(exc).__name__, text, location, isinstance(exc, TrtperfError)))
        return
    conn.send(("ok", result))


def run_isolated(fn: Callable[..., T], *args: Any, what: str) -> T:
    """``fn(*args)`` in a child process; IsolatedCrash naming ``what`` and the signal when the child dies.

    With isolation turned off (:func:`enabled`), calls ``fn`` in this process.
    """
    if not enabled():
        return fn(*args)
    context = _get_context()
    receiver, sender = context.Pipe(duplex=False)
    # The step goes by name, not as a pickled function object: pickle refuses a function whose module
    # was imported again since (pytest's pytester does that), though the child imports it afresh anyway.
    name = (fn.__module__, fn.__qualname__)
    process = _process_class()(target=_child, args=(sender, name, args), daemon=True)
    process.start()
    sender.close()
    message: Any = None
    try:
        while True:
            if receiver.poll(0.05):
                try:
                    message = receiver.recv()
                except EOFError:
                    message = None
                break
            if not process.is_alive():
                if receiver.poll(0):
                    continue  # it sent its result just before exiting
                break
        process.join()
    finally:
        receiver.close()
        if process.is_alive():  # KeyboardInterrupt while waiting: do not leave it running
            process.kill()
            process.join()
    if message is None:
        code = process.exitcode
        how = signal_name(code) if code is not None and code < 0 else f"exit status {code}"
        raise IsolatedCrash(
            f"{what} crashed: its child process died with {how}, in native code (no Python traceback). "
            f"This is a bug in the library below trtperf for this model; trtperf failed this case and went on."
        )
    if message[0] == "ok":
        return message[1]  # type: ignore[no-any-return]
    if message[0] == "trtperf-error":
        raise message[1]
    _, type_name, text, location, _is_trtperf = message
    raise IsolatedError(f"{what} failed: {type_name}: {text}{location}", type_name)
