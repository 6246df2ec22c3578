"""Exceptions that carry a user-facing message.

Every error a user can cause is one of these; the CLI maps each class to an
exit code and prints its text without a traceback.
"""

from __future__ import annotations


class SpecpimError(Exception):
    """Base class of every error specpim reports to its user."""

    exit_code = 1


class InstanceError(SpecpimError, ValueError):
    """The instance file (or a mapping given with it) is malformed.

    The message names the file, the field path, what was expected and what
    was found.
    """

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        self.path = path
        self.field = field
        where = ""
        if path:
            where = f"{path}: "
        if field:
            where += f"{field}: "
        super().__init__(where + message)


class SolverError(SpecpimError, RuntimeError):
    """The MILP solver is missing, crashed, or returned something unusable."""

    exit_code = 5
