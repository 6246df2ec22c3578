"""Running the CLI as a user does, and stand-in CBC binaries for the
solver's failure modes."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent


def cli_command() -> list[str]:
    """The installed ``specpim`` script, or ``python -m specpim.cli`` without one."""
    script = shutil.which("specpim", path=str(BIN))
    return [script] if script else [sys.executable, "-m", "specpim.cli"]


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> Run:
    full_env = {**os.environ, **(env or {})}
    p = subprocess.run([*cli_command(), *map(str, args)], cwd=cwd, env=full_env, capture_output=True,
                       text=True, timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)


# A stand-in for CBC.  Modes: "stopped" runs the real CBC, then reports its
# answer as CBC does when the time limit stops it with an incumbent;
# "nosolution" reports a time-limit stop before any integer solution;
# "crash" exits with an error; "segfault" dies on a signal; "garbage" writes
# an unreadable solution file; "hang" writes its pid to $SPECPIM_FAKE_MARKER
# and sleeps (a solve that a signal must interrupt).
_FAKE = r'''#!{python}
import os, signal, subprocess, sys
mode, real = {mode!r}, {real!r}
args = sys.argv[1:]
sol = args[args.index("-solution") + 1]
if mode == "stopped":
    subprocess.run([real, *args], stdout=subprocess.DEVNULL, check=True)
    lines = open(sol).read().splitlines(True)
    value = float(lines[0].rsplit(" ", 1)[1])
    lines[0] = "Stopped on time - objective value %.8f\n" % value
    open(sol, "w").writelines(lines)
    print("Result - Stopped on time limit")
    print("Objective value: %.8f" % value)
    print("Lower bound: %.6g" % (0.5 * value))
elif mode == "nosolution":
    open(sol, "w").write("Stopped on time (no integer solution - continuous used) - objective value 0\n")
    print("Result - Stopped on time limit")
    print("Lower bound: 1.0")
elif mode == "crash":
    print("cbc: internal error, giving up")
    sys.exit(3)
elif mode == "segfault":
    os.kill(os.getpid(), signal.SIGSEGV)
elif mode == "garbage":
    open(sol, "w").write("Optimal - objective value 1\ngarbage\n")
elif mode == "hang":   # a long solve: say where it is, then wait to be killed
    with open(os.environ["SPECPIM_FAKE_MARKER"], "a") as fh:
        fh.write("%d\n" % os.getpid())
    import time
    time.sleep(120)
'''


def fake_cbc(folder: Path, mode: str) -> Path:
    """Write an executable stand-in for CBC; use it with SPECPIM_CBC."""
    from specpim.solvers.cbc import cbc_path

    real = os.environ.get("SPECPIM_CBC") or cbc_path()
    path = folder / f"fake-cbc-{mode}"
    path.write_text(_FAKE.format(python=sys.executable, mode=mode, real=real))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path
