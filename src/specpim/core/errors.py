"""Exceptions that carry a user-facing message.

Every error a user can cause is one of these; the CLI maps each class to an
exit code (docs/errors.md) and prints its text as one line, without a
traceback.
"""

from __future__ import annotations


class SpecpimError(Exception):
    """Base class of every error specpim reports to its user."""

    exit_code = 1


class InstanceError(SpecpimError, ValueError):
    """Bad input: a malformed instance file, a mapping that does not fit it,
    a bad option or argument, or an unusable output folder.

    The message names the file, the field path, what was expected (with its
    unit) and what was found.  ``path`` and ``field`` hold the first two.
    """

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        self.path = path
        self.field = field
        self.message = message
        where = ""
        if path:
            where = f"{path}: "
        if field:
            where += f"{field}: "
        super().__init__(where + message)


class SolverError(SpecpimError, RuntimeError):
    """The MILP solver is missing, crashed, or returned something unusable.
    The message names the solver and how to install or repair it."""

    exit_code = 5
