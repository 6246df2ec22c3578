"""Nothing lost: atomic and refused overwrites, interrupted runs, byte-identical
results, no solver files left behind; honest statuses under time limits;
safe YAML, imports only when allowed, paths relative to the instance file."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

import specpim
from helpers import INSTANCES
from helpers.cli import cli_command, fake_cbc, run_cli
from specpim.export import OUTPUT_FILES, atomic_write, write_outputs

TINY = INSTANCES / "tiny.yaml"
BIG = INSTANCES / "llama2-70b-7b-a100x4-hbm3pim.yaml"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _without_timings(text: str) -> dict:
    d = json.loads(text)
    d.pop("timings")
    d.pop("stats")
    return d


# -- overwrites and atomic writes ----------------------------------------

def test_force_replaces_results_and_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "out"
    assert run_cli("solve", TINY, "-o", out).code == 0
    first = _files(out)
    assert sorted(first) == sorted(OUTPUT_FILES)
    refused = run_cli("solve", TINY, "-o", out)
    assert refused.code == 2 and "--force" in refused.err
    assert run_cli("solve", TINY, "-o", out, "--force").code == 0
    assert _files(out) == first   # complete, identical, and no .tmp beside them


def test_a_failed_write_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "mapping.json"
    target.write_text("old")

    def half_then_fail(fh):
        fh.write('{"half": ')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["mapping.json"]


def test_an_interrupted_export_writes_no_file(tmp_path, tiny):
    sol = specpim.solve(tiny, baselines=False)

    def interrupted(path):
        Path(path).write_text("\\* half a model")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_outputs(dataclasses.replace(sol, _write_model=interrupted), tmp_path)
    assert list(tmp_path.iterdir()) == []   # the other files were staged, never renamed into place


def test_results_of_an_earlier_run_are_not_mixed_in(tmp_path, tiny):
    sol = specpim.solve(tiny, baselines=False)
    write_outputs(sol, tmp_path)
    assert (tmp_path / "model.lp").exists()
    write_outputs(dataclasses.replace(sol, _write_model=None), tmp_path)   # a solver without an LP model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mapping.json", "mapping.yaml", "metrics.json",
                                                          "operators.csv"]


def test_interrupted_run_exits_130_with_nothing_written(tmp_path):
    """Ctrl-C while CBC runs: exit 130, one line, no result file, and the
    solver's temporary folder is gone once the process has exited."""
    tmp, out = tmp_path / "tmp", tmp_path / "out"
    tmp.mkdir()
    proc = subprocess.Popen([*cli_command(), "solve", str(BIG), "-o", str(out)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(tmp)})
    deadline = time.monotonic() + 60
    while not any(tmp.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)   # wait until CBC is running in its own folder
    if proc.poll() is not None:
        pytest.skip("the solve finished before it could be interrupted")
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists() or list(out.iterdir()) == []
    assert list(tmp.iterdir()) == []


# -- determinism and temporary files ------------------------------------

@pytest.mark.parametrize("path", [TINY, BIG], ids=["tiny", "paper-scale"])
def test_same_instance_gives_byte_identical_results(path, tmp_path):
    runs = [run_cli("solve", path, "-o", tmp_path / f"out{i}", "--json") for i in range(2)]
    assert all(r.code == 0 for r in runs)
    assert _files(tmp_path / "out0") == _files(tmp_path / "out1")
    assert _without_timings(runs[0].out) == _without_timings(runs[1].out)


def test_solver_leaves_no_file_behind(tmp_path):
    tmp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    r = run_cli("solve", TINY, "-o", "out", cwd=cwd, env={"TMPDIR": str(tmp)})
    assert r.code == 0, r.err
    assert list(tmp.iterdir()) == []
    assert [p.name for p in cwd.iterdir()] == ["out"]


# -- time limits: never "optimal" unless proven --------------------------

@pytest.fixture(scope="module")
def big_optimum() -> float:
    return specpim.solve(BIG, baselines=False).objective


def test_time_limit_stops_the_search_part_way_and_status_is_honest(big_optimum, monkeypatch):
    """Without block bounds every block must be solved; a stand-in clock ends
    the time after the first, second, … block, whatever the machine's load:
    what is returned must be what was proven."""
    from specpim.core.deadline import Deadline
    from specpim.solvers import cbc

    inst = specpim.load_instance(BIG)
    finish = cbc._BlockSearch.finish_block
    seen = set()
    for after in (1, 2, 4):
        now = [0.0]

        def finish_then_tick(self, i, _after=after, _now=now):
            finish(self, i)
            if self.stats.solved >= _after:
                _now[0] = 100.0          # the deadline passes here

        monkeypatch.setattr(cbc._BlockSearch, "finish_block", finish_then_tick)
        sol = specpim.solve(inst, baselines=False, use_bounds=False, workers=1,
                            deadline=Deadline(50.0, clock=lambda _now=now: _now[0]))
        seen.add(sol.status)
        assert sol.status in ("feasible", "optimal")
        assert sol.stats["solved"] <= after + 1
        if sol.status == "feasible":
            assert sol.mapping is not None and sol.gap is not None and sol.gap >= 0
            assert sol.bound <= big_optimum * (1 + 1e-9) <= sol.objective * (1 + 2e-9)
            again = specpim.evaluate(inst, sol.mapping)
            assert math.isclose(again.objective, sol.objective, rel_tol=1e-6)
    assert "feasible" in seen, seen


def test_time_limit_before_any_block_is_no_solution_and_skips_the_baselines():
    from specpim.core.deadline import Deadline

    sol = specpim.solve(BIG, deadline=Deadline(1.0, start=-10.0, clock=lambda: 0.0))
    assert sol.status == "no_solution" and sol.mapping is None and sol.objective is None
    assert all(b.reason and "time limit" in b.reason for b in sol.baselines.values())


def test_cbc_stopped_with_an_incumbent_is_feasible_with_its_gap(tmp_path, monkeypatch):
    """CBC reporting "Stopped on time" with a solution: status feasible and
    the gap from the bound in its log, never optimal."""
    cbc = fake_cbc(tmp_path, "stopped")
    monkeypatch.setenv("SPECPIM_CBC", str(cbc))
    sol = specpim.solve(TINY, baselines=False, monolithic=True, time_limit=30)
    assert sol.status == "feasible"
    assert 0.49 < sol.gap < 0.51   # the stand-in reports half the objective as its bound
    r = run_cli("solve", TINY, "--time-limit", "30", "--json", env={"SPECPIM_CBC": str(cbc)})
    assert r.code == 0, r.err
    assert json.loads(r.out)["status"] == "feasible"
    assert "not proven optimal" in r.err and "Traceback" not in r.err


def test_cli_time_limit_on_the_paper_instance():
    r = run_cli("solve", BIG, "--time-limit", "0.3", "--no-baselines")
    assert r.code in (0, 4), r.err
    status = r.out.splitlines()[0].rsplit(": ", 1)[1]
    if r.code == 4:
        assert status == "no_solution" and "no solution found within the time limit of 0.3 s" in r.err
    elif status == "feasible":
        assert "not proven optimal" in r.err
    else:
        assert status == "optimal" and r.err == ""


# -- security and paths ------------------------------------------------

def test_yaml_tags_that_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "instance.yaml"
    bad.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n")
    r = run_cli("validate", bad)
    assert r.code == 2 and "YAML syntax error" in r.err and "Traceback" not in r.err
    assert not marker.exists()


_MARKING_MODEL = """
from pathlib import Path
from specpim.costs.roofline import RooflineCostModel

Path(__file__).with_name("imported").touch()

class Model(RooflineCostModel):
    pass
"""


def test_cost_model_is_imported_only_when_allowed_and_from_the_instance_folder(tmp_path):
    folder, elsewhere = tmp_path / "study", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / "studycost.py").write_text(_MARKING_MODEL)
    data = yaml.safe_load(TINY.read_text())
    data["cost_model"] = "studycost:Model"
    (folder / "instance.yaml").write_text(yaml.safe_dump(data))
    for command in ("validate", "solve"):
        run_cli(command, folder / "instance.yaml", cwd=elsewhere)
    assert not (folder / "imported").exists()   # named in a file, never run without permission
    r = run_cli("solve", folder / "instance.yaml", "--allow-imports", cwd=elsewhere)
    assert r.code == 0, r.err
    assert (folder / "imported").exists()


def test_paths_in_an_instance_resolve_relative_to_it(tmp_path):
    folder = tmp_path / "study"
    (folder / "configs").mkdir(parents=True)
    config = next((INSTANCES / "hf" / "llama-68m").glob("*.json"))
    (folder / "configs" / "draft.json").write_text(config.read_text())
    data = yaml.safe_load(TINY.read_text())
    data["draft"] = {"hf_config": "configs/draft.json"}
    (folder / "instance.yaml").write_text(yaml.safe_dump(data))
    r = run_cli("validate", folder / "instance.yaml", cwd=tmp_path)
    assert r.code == 0, r.err


def test_validate_notes_an_instance_that_cannot_fit(tmp_path):
    data = yaml.safe_load(TINY.read_text())
    data["system"]["memory"]["channel_capacity"] = 0.001
    (tmp_path / "i.yaml").write_text(yaml.safe_dump(data))
    r = run_cli("validate", tmp_path / "i.yaml")
    assert r.code == 0 and "valid" in r.out
    assert "infeasible" in r.err and "memory capacity" in r.err


def test_closed_stdout_is_not_an_error():
    proc = subprocess.Popen([*cli_command(), "solve", str(TINY)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()   # the reader is gone before anything is printed, as with `| head -0`
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


@pytest.mark.parametrize("metric", ["latency", "energy"])
def test_model_lp_reproduces_the_objective(tmp_path, metric):
    """model.lp, solved on its own by CBC, gives the reported objective: the
    constants (collectives, element-wise work, static power) are in it."""
    import subprocess

    from specpim.solvers.cbc import cbc_path

    data = yaml.safe_load(TINY.read_text())
    data["objective"] = metric
    sol = specpim.solve(data, baselines=False)
    write_outputs(sol, tmp_path)
    log = subprocess.run([cbc_path(), str(tmp_path / "model.lp"), "-solve"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120).stdout
    value = float(re.search(r"Objective value:\s*([-+0-9.eE]+)", log).group(1))
    scale = 1e6   # the MILP works in µs and µJ
    expected = sol.metrics.latency_per_token if metric == "latency" else sol.metrics.energy_per_token
    assert value / scale == pytest.approx(expected, rel=1e-6)
