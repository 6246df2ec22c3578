"""Signals that stop a run, and the short stretches they must not cut.

``handle_termination`` turns SIGTERM and SIGHUP (sent by ``timeout``, Slurm,
systemd, ``docker stop``, a closed terminal) into ``Terminated``, an
exception like KeyboardInterrupt, so every ``finally`` runs: solver processes
are killed and temporary files removed.  The first signal of any of the three
makes the process ignore the others, so a second Ctrl-C cannot cut that
cleanup short.  ``deferred`` holds signals back during a few renames, so a
result folder never mixes two runs.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """The run was stopped by SIGTERM or SIGHUP."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def _ignore_further() -> None:
    for s in STOPPING:
        signal.signal(s, signal.SIG_IGN)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    _ignore_further()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


@contextmanager
def handle_termination() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise (KeyboardInterrupt or Terminated)
    while the block runs; the previous handlers come back afterwards.  Only
    the main thread can install handlers: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOPPING}
    for s in STOPPING:
        signal.signal(s, _on_signal)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


_held: list[int] | None = None   # signals that arrived during deferred(), in the main thread


def _hold(signum: int, _frame: FrameType | None) -> None:
    assert _held is not None
    _held.append(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back until the block ends; a signal
    that arrives meanwhile is acted on then, by the handler that was in place.

    Python runs signal handlers in the main thread whichever thread the kernel
    delivers a signal to, so a signal mask alone is not enough once other
    threads exist (a process pool's, Ray's): in the main thread the handlers
    are swapped for one that only notes the signal.  Elsewhere the thread's
    signal mask holds them."""
    global _held
    if threading.current_thread() is not threading.main_thread():
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return
    if _held is not None:   # nested: the outer block holds them
        yield
        return
    previous = {s: signal.getsignal(s) for s in STOPPING}
    _held = []
    for s, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(s, _hold)
    try:
        yield
    finally:
        held, _held = _held, None
        for s, handler in previous.items():
            signal.signal(s, handler)
        if held:
            signum = held[0]
            handler = previous[signal.Signals(signum)]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)   # the default action, now
