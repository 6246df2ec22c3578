"""Solver processes that never outlive specpim.

Every solver process is started here: in a session of its own (so that a
terminal's Ctrl-C reaches specpim, which then ends the solver itself), with
the kernel told to kill it when its parent dies (Linux: PR_SET_PDEATHSIG),
and listed while it runs.  ``terminate_all`` ends every listed process; the
CLI calls it when a signal stops the run, so no solver keeps computing for a
run nobody waits for.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

_live: set[subprocess.Popen[Any]] = set()
_lock = threading.Lock()


_prctl: Any = None


def _find_prctl() -> Any:
    """libc's prctl, looked up once in the parent (find_library runs ldconfig: milliseconds)."""
    global _prctl
    if _prctl is None:
        try:
            _prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
        except (OSError, AttributeError):
            _prctl = False
    return _prctl


def _die_with_parent() -> None:   # runs in the child between fork and exec
    if _prctl:
        _prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG


def start(args: Sequence[str], *, stdout: IO[Any] | int | None, stderr: IO[Any] | int | None) -> subprocess.Popen[Any]:
    """Start a solver process and list it."""
    # preexec_fn runs Python between fork and exec, which is safe only while
    # the process has one thread; with more, the explicit kills must do.
    alone = threading.active_count() == 1
    if alone and sys.platform.startswith("linux"):
        _find_prctl()
    proc = subprocess.Popen(list(args), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                            start_new_session=True,
                            preexec_fn=_die_with_parent if alone and sys.platform.startswith("linux") else None)
    with _lock:
        _live.add(proc)
    return proc


def wait(proc: subprocess.Popen[Any], timeout: float | None) -> int | None:
    """Wait for the process (up to ``timeout`` seconds); its exit code, or None
    if it was still running and has been killed."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        return None
    finally:
        if proc.returncode is not None:
            with _lock:
                _live.discard(proc)


def kill(proc: subprocess.Popen[Any]) -> None:
    """End the process (and its process group) and reap it."""
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:   # pragma: no cover - a process SIGKILL cannot end
        pass
    with _lock:
        _live.discard(proc)


def terminate_all() -> int:
    """Kill every listed solver process; how many there were."""
    with _lock:
        procs = list(_live)
    for proc in procs:
        kill(proc)
    return len(procs)


def forget(proc: subprocess.Popen[Any]) -> None:
    """Take an ended process off the list."""
    with _lock:
        _live.discard(proc)


def running() -> int:
    with _lock:
        return len(_live)
