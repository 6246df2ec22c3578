"""The time limit of a run, as one deadline every stage reads.

A time limit bounds the wall time of the whole run — reading the instance,
building tables and bounds, solving, the baselines and writing the results
(docs/errors.md).  The CLI starts the clock when the process starts; the API
when ``solve`` is called.  Stages ask ``remaining()`` (for a solver's own time
limit) or call ``check()`` between units of work, which raises ``OutOfTime``
once the deadline has passed; the solver then reports what it has, with an
honest status.  The clock is injectable, so tests decide when time runs out
without waiting for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class OutOfTime(Exception):
    """The deadline passed during a unit of work."""


class Deadline:
    """``seconds`` after ``start`` (default: now) on ``clock``; None: no limit."""

    def __init__(self, seconds: float | None, *, start: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.seconds = seconds
        self.start = clock() if start is None else start
        self.end = None if seconds is None else self.start + seconds

    @classmethod
    def none(cls) -> Deadline:
        return cls(None)

    def remaining(self) -> float | None:
        """Seconds left, never below 0; None without a limit."""
        return None if self.end is None else max(0.0, self.end - self.clock())

    def expired(self) -> bool:
        return self.end is not None and self.clock() >= self.end

    def check(self) -> None:
        if self.expired():
            raise OutOfTime

    def reserve(self) -> float:
        """Time kept back for what comes after solving (scoring the answer,
        writing results): 5% of the limit plus 0.2 s, at most 2 s."""
        return 0.0 if self.seconds is None else min(2.0, 0.2 + 0.05 * self.seconds)

    def for_solver(self) -> float | None:
        """What a solver may still use, the reserve kept back; None without a limit."""
        left = self.remaining()
        return None if left is None else max(0.0, left - self.reserve())
