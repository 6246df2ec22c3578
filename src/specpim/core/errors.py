"""Exceptions that carry a user-facing message, and the helpers that keep
such messages to one safe line.

Every error a user can cause is one of these; the CLI maps each class to an
exit code (docs/errors.md) and prints its text as one line, without a
traceback.  The helpers below are what every layer uses to put user values
and operating-system errors into those lines:

* :func:`quote` formats a value a user gave (any size, any type) without
  failing: an integer of 5,000 digits becomes "an integer of 5000 digits";
* :func:`escape_controls` escapes control characters (newlines, terminal
  escape codes), so a message stays one line that changes nothing on the
  terminal;
* :func:`os_error_message` words an OSError met while writing in a folder,
  saying "no space left in DIR" for a full disk or quota;
* :func:`read_input_text` reads an input file (instance, mapping, host file,
  Hugging Face config) no larger than :data:`MAX_INPUT_BYTES`.
"""

from __future__ import annotations

import errno
import math
import re
from pathlib import Path
from typing import Any

# Input files (instances, mappings, host files, config.json) are a few kB;
# anything over this is refused before it is parsed, so that no input can take
# minutes and gigabytes to reject.
MAX_INPUT_BYTES = 1 << 20

# Characters that break a line or drive the terminal: C0 and C1 controls (ESC
# and CSI included), DEL, the Unicode line and paragraph separators and the
# bidirectional overrides that reorder what the terminal shows.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``,
    ``\\x1b``, ``\\u202e``): one line, and nothing a terminal would act on."""
    def escape(m: re.Match[str]) -> str:
        c = m.group()
        return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return _CONTROLS.sub(escape, text)


def _digits(n: int) -> int:
    """Decimal digits of |n|, without converting it to text (which Python
    refuses beyond 4,300 digits)."""
    n = abs(n)
    if n < 10:
        return 1
    d = int(math.log10(n)) + 1
    if 10 ** (d - 1) > n:
        d -= 1
    elif 10 ** d <= n:
        d += 1
    return d


def quote(value: Any, limit: int = 60) -> str:
    """``repr(value)`` for a message, never failing and never long: integers
    of more than 40 digits are described by their length, other texts are
    cut to ``limit`` characters, and an object whose repr fails is named by
    its type."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > 133:   # > 40 digits
        return f"{'a negative' if value < 0 else 'an'} integer of {_digits(value)} digits"
    try:
        text = repr(value)
    except KeyboardInterrupt:
        raise
    except BaseException:   # a user object whose __repr__ fails (or calls sys.exit)
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_int(text: str) -> int:
    """``int(text)`` for decimal text of any length: Python refuses to convert
    more than 4,300 digits at once, but a huge integer must reach the checks
    that reject it by name rather than crash the parser."""
    try:
        return int(text)
    except ValueError:
        digits = text.strip().replace("_", "")
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("+-")
        if not digits.isdigit():
            raise
        value = 0
        for i in range(0, len(digits), 4000):
            chunk = digits[i:i + 4000]
            value = value * 10 ** len(chunk) + int(chunk)
        return sign * value


def read_input_text(path: Path, *, file: str | None = None, field: str | None = None) -> str:
    """The text of an input file, at most MAX_INPUT_BYTES of UTF-8.

    Problems raise InstanceError naming ``file`` and ``field`` (default: the
    path itself, and no field): a missing file, a folder, a file that cannot
    be read, one that is not UTF-8, and one over the size limit, which is
    refused before it is read in full.
    """
    where = {"path": str(path) if file is None else file, "field": field}
    prefix = "" if file is None else f"{path}: "
    if "\0" in str(path):
        raise InstanceError(f"{prefix}a file name cannot hold a NUL character", **where)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise InstanceError(f"{prefix}file not found", **where) from None
    except IsADirectoryError:
        raise InstanceError(f"{prefix}is a folder, not a file", **where) from None
    except OSError as exc:
        raise InstanceError(f"{prefix}cannot read the file ({exc.strerror or exc})", **where) from None
    if len(data) > MAX_INPUT_BYTES:
        raise InstanceError(f"{prefix}the file is larger than {MAX_INPUT_BYTES // 2 ** 20} MiB, the most an "
                            "input file may hold; no instance, mapping or config needs that much", **where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InstanceError(f"{prefix}cannot read the file: not UTF-8 text (byte {exc.start})", **where) from None


def os_error_message(exc: OSError, where: str | Path) -> str:
    """One line for an OSError met while creating or writing files in the
    folder ``where`` (an output folder, or a temporary folder under TMPDIR).

    A full disk or quota reads "no space left in WHERE", a read-only file
    system "cannot write in WHERE: read-only file system"; anything else
    "cannot write in WHERE: <the system's reason>".  Callers raise it as an
    OutputError (exit code 6).
    """
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC:
        return f"no space left in {where} (the disk is full); free some space or write elsewhere"
    if code == errno.EDQUOT:
        return f"no space left in {where} (disk quota exceeded); free some space or write elsewhere"
    if code == errno.EROFS:
        return f"cannot write in {where}: read-only file system; write elsewhere"
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot write in {where}: permission denied"
    return f"cannot write in {where}: {exc.strerror or exc}"


class SpecpimError(Exception):
    """Base class of every error specpim reports to its user."""

    exit_code = 1


class InstanceError(SpecpimError, ValueError):
    """Bad input: a malformed instance file, a mapping that does not fit it,
    a bad option or argument, or an unusable output folder.

    The message names the file, the field path, what was expected (with its
    unit) and what was found.  ``path`` and ``field`` hold the first two.
    The text is one line: control characters in it (a key holding a newline
    or a terminal escape code) are escaped.
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
        self.message = escape_controls(message)
        super().__init__(escape_controls(where + message))


class SolverError(SpecpimError, RuntimeError):
    """The MILP solver is missing, crashed, or returned something unusable.
    The message names the solver and how to install or repair it."""

    exit_code = 5


class OutputError(SpecpimError, OSError):
    """Results could not be written: standard output is closed or full, or
    the disk under the output folder or a temporary folder is full,
    over quota or read-only (see :func:`os_error_message`).  The input was
    fine; nothing was left half-written."""

    exit_code = 6

    def __init__(self, message: str):
        super().__init__(escape_controls(message))

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
