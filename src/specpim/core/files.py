"""Files written so that a reader never sees half of one: the rules every
result file of specpim follows (solve, pareto, plot and sweep outputs).

* A file is written to a temporary file beside its final name and renamed
  into place: an interrupted or failed write leaves the old file or none.
* A new file gets the permissions any new file gets (0666 less the umask);
  a replaced one keeps its permission bits (mkstemp would make 0600).
* The files of one result are all staged first and renamed together with
  signals held back, after every file to be replaced or removed has been
  checked: the folder holds the old results or the new ones, never a mix.

A folder that cannot be used raises InstanceError naming it (exit 2); a
write that fails on the way (disk full, read-only) raises OutputError
(exit 6).
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import InstanceError, OutputError, os_error_message
from .interrupts import deferred


def check_folder(out: Path) -> None:
    """Refuse an output folder that is a file, cannot be created or cannot be written."""
    if out.exists() and not out.is_dir():
        raise InstanceError("exists and is not a folder", path=str(out))
    existing = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise InstanceError(f"cannot create this folder: {existing} is a file", path=str(out))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InstanceError(f"cannot write in {existing} (permission denied)", path=str(out))


def unusable(out: Path, names: Iterable[str]) -> str | None:
    """Why a result file in ``out`` cannot be replaced or removed, or None when all can."""
    for name in names:
        target = out / name
        if target.is_symlink() or not target.exists():
            continue   # a link is replaced itself, whatever it points to
        if target.is_dir():
            return f"{name} is a folder; remove or rename it"
        if not target.is_file():
            return f"{name} is not a regular file; remove or rename it"
        if not os.access(target, os.W_OK):
            return f"{name} is read-only; make it writable or remove it"
    return None


def umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)   # elsewhere: set and restore
    os.umask(mask)
    return mask


def mode_for(path: Path) -> int:
    """Permission bits for ``path``'s new content: those of the file it replaces, or 0666 less the umask."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~umask()


def temp_beside(path: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return tmp


def staged(path: Path, write: Callable[[str], None]) -> str:
    """Write ``path``'s content to a temporary file beside it, with the
    permission bits ``path`` will have; return that file."""
    tmp = temp_beside(path)
    try:
        write(tmp)
        os.chmod(tmp, mode_for(path))   # mkstemp makes 0600 files
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return tmp


def text_writer(content: str | Callable[[io.TextIOBase], None]) -> Callable[[str], None]:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            if isinstance(content, str):
                fh.write(content)
            else:
                content(fh)
    return write


def atomic_write(path: Path, write: Callable[[io.TextIOBase], None] | str) -> None:
    """Write one text file atomically: complete or not at all.  A write that
    fails (no space left, a read-only file system) raises OutputError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = staged(path, text_writer(write))
        try:
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise OutputError(f"{path}: {os_error_message(exc, path.parent)}") from None


def replace_files(out: Path, writers: dict[str, Callable[[str], None]], owned: Iterable[str] = (),
                  what: str = "the results") -> list[Path]:
    """Write every file of ``writers`` (names relative to ``out``) to a
    temporary file beside it, then rename them all into place, signals held;
    files of ``owned`` (earlier results of the same kind) that this run does
    not write are removed, so the folder never mixes two runs."""
    owned = list(owned)
    pending: dict[Path, str] = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, write in writers.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            pending[out / name] = staged(out / name, write)
        # Every file to replace or remove must allow it before the first is touched.
        problem = unusable(out, [*writers, *owned])
        if problem:
            raise InstanceError(f"cannot replace {what} there: {problem}; nothing was replaced",
                                path=str(out))
        with deferred():   # a signal now would leave old and new files side by side
            for final, tmp in pending.items():
                os.replace(tmp, final)
            for name in owned:
                if name not in writers and (out / name).exists():
                    (out / name).unlink()
                    parent = (out / name).parent
                    if parent != out and not any(parent.iterdir()):
                        parent.rmdir()
    except OSError as exc:
        raise OutputError(f"cannot write {what}: {os_error_message(exc, out)}") from None
    finally:
        for tmp in pending.values():
            if os.path.exists(tmp):
                os.unlink(tmp)
    return list(pending)
