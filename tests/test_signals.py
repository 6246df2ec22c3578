"""Unattended runs clean up after themselves: SIGTERM, SIGHUP and SIGINT at
any stage leave no temporary file or folder, no CBC process, and a result
folder with the old complete results or the new complete ones — and the exit
code and one line say what happened.

Solver stages use a stand-in CBC that says where it is and waits; the
writing stage sends the signal from inside the run, at a chosen moment.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import INSTANCES
from helpers.cli import cli_command, fake_cbc
from specpim.core.interrupts import Terminated, deferred, handle_termination

TINY = INSTANCES / "tiny.yaml"
CODES = {signal.SIGTERM: 143, signal.SIGHUP: 129, signal.SIGINT: 130}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path, Path]:
    tmp, marker = tmp_path / "tmp", tmp_path / "marker"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "SPECPIM_CBC": str(fake_cbc(tmp_path, "hang")),
           "SPECPIM_FAKE_MARKER": str(marker)}
    proc = subprocess.Popen([*cli_command(), "solve", str(TINY), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, tmp, marker


def _wait_for(marker: Path, proc: subprocess.Popen[str], timeout: float = 60) -> list[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if marker.exists() and marker.read_text().strip():
            time.sleep(0.05)   # let the runner list the process before the signal arrives
            return [int(x) for x in marker.read_text().split()]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the stand-in CBC never started")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_signal_while_cbc_runs_kills_it_and_leaves_nothing(tmp_path, sig):
    out = tmp_path / "out"
    proc, tmp, marker = _start(tmp_path, "-o", str(out))
    pids = _wait_for(marker, proc)
    os.kill(proc.pid, sig)                      # the process only, as `kill` or docker stop would
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == CODES[sig], stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("specpim: ") and "Traceback" not in stderr, stderr
    assert sig.name in lines[0]
    assert list(tmp.iterdir()) == [], "a temporary file or folder was left behind"
    assert not any(_alive(p) for p in pids), "a CBC process outlived specpim"
    assert not out.exists() or list(out.iterdir()) == []


def test_second_ctrl_c_does_not_cut_the_cleanup_short(tmp_path):
    proc, tmp, marker = _start(tmp_path)
    pids = _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGINT)
    os.kill(proc.pid, signal.SIGINT)
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert list(tmp.iterdir()) == []
    assert not any(_alive(p) for p in pids)


# -- signals from inside the run, at a chosen stage -------------------------------------

def _old_results(out: Path) -> dict[str, str]:
    from specpim.cli import main

    assert main(["solve", str(TINY), "-o", str(out), "--no-baselines"]) == 0
    return {p.name: p.read_text() for p in out.iterdir()}


def _run_with_signal(monkeypatch, target: str, sig: int, out: Path) -> int:
    """Run `specpim solve -o out --force` in this process; ``target`` (a
    dotted name) sends ``sig`` to this process the first time it is called."""
    from specpim.cli import main

    owner, attr = target.rsplit(".", 1)
    module_name, *attributes = owner.split(":")   # "specpim.core.files:os" is the os module files.py uses
    module = importlib.import_module(module_name)
    for name in attributes:
        module = getattr(module, name)
    original = getattr(module, attr)
    fired = []

    def firing(*args, **kwargs):
        if not fired:
            fired.append(True)
            os.kill(os.getpid(), sig)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, attr, firing)
    return main(["solve", str(TINY), "-o", str(out), "--force", "--no-baselines"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
@pytest.mark.parametrize("stage", ["specpim.solvers.cbc.block_bound",        # preparing
                                   "specpim.solvers.cbc.CoDesignMILP",       # building a block
                                   "specpim.core.files.staged",                      # writing, before a rename
                                   "specpim.core.files:os.replace"],                 # in the middle of the renames
                         ids=["bounds", "milp", "staging", "renames"])
def test_signal_at_each_stage_keeps_old_or_new_results_whole(tmp_path, monkeypatch, sig, stage):
    import specpim.export
    import specpim.formulation.blocks
    import specpim.formulation.milp
    import specpim.solvers.cbc

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", None)
    out = tmp_path / "out"
    old = _old_results(out)
    code = _run_with_signal(monkeypatch, stage, sig, out)
    now = {p.name: p.read_text() for p in out.iterdir()}
    assert set(now) == set(old), "the result folder mixes two runs or lost a file"
    if stage == "specpim.core.files:os.replace":
        # signals wait for the renames: the new results are whole, then the signal ends the run
        assert code == CODES[sig]
        assert json.loads(now["mapping.json"])["status"] == "optimal"
    else:
        assert code == CODES[sig]
        assert now == old
    assert [p.name for p in tmp.iterdir()] == []
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "a staged temporary file was left behind"
    assert specpim.solvers.processes.running() == 0


def test_handlers_are_restored_and_deferred_signals_arrive_afterwards():
    before = signal.getsignal(signal.SIGTERM)
    steps = []
    with pytest.raises(Terminated):
        with handle_termination():
            with deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.01)
                steps.append("inside, after the signal")
            steps.append("after deferred()")    # never reached: the held signal arrives on leaving deferred()
    assert steps == ["inside, after the signal"]
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_deferred_holds_signals_while_other_threads_run(sig):
    """A process pool or Ray keeps threads of its own; the kernel may hand a
    signal to any of them, and Python still runs the handler in the main
    thread, so a signal mask alone would let it through in the middle of the
    renames."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    steps = []
    expected = KeyboardInterrupt if sig == signal.SIGINT else Terminated
    try:
        with pytest.raises(expected):
            with handle_termination():
                with deferred():
                    os.kill(os.getpid(), sig)
                    time.sleep(0.05)
                    steps.append("inside, after the signal")
                steps.append("after deferred()")
        assert steps == ["inside, after the signal"]
    finally:
        stop.set()
        other.join()
