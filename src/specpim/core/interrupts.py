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


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back in this thread until the block
    ends (a signal that arrives meanwhile is delivered then)."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
