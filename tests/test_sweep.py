"""Parameter sweeps (``specpim.sweep``, ``specpim sweep``): every row is what a solo
solve of its scenario gives, product and zip, bad scenarios, the output folder,
resuming after SIGTERM, the Ray backend, and the sweep file's validation.

No assertion depends on timing: the interrupted run is stopped while a stand-in CBC
waits, and compared rows leave out the timing columns."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

import specpim
from helpers import INSTANCES, with_fields
from helpers.cli import cli_command, run_cli
from helpers.random_instances import random_instance
from specpim.cli import main
from specpim.sweeps import TIMING_COLUMNS, columns

TINY = INSTANCES / "tiny.yaml"
TINY_DATA = yaml.safe_load(TINY.read_text())
DESIGN = ["pim_option", "pim_channels", "draft_channels", "target_channels", "draft_len"]


def _without_timings(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=list(TIMING_COLUMNS))


def _scenario(base: dict, **values) -> dict:
    return with_fields(base, values)


def _check_row_is_solo_solve(row: pd.Series, data: dict, *, baselines: bool) -> None:
    """The row holds what ``specpim.solve`` gives for its scenario alone: the same status,
    objective and design as a default solve; and, where several mappings tie on the objective,
    the same one as a solve with one CBC process at a time (which a sweep runs, as a default
    solve's choice among ties depends on which of its two CBC runs ends first)."""
    inst = specpim.load_instance(data)
    default = specpim.solve(inst, baselines=False)
    sol = specpim.solve(inst, baselines=baselines, workers=1)
    assert row["status"] == str(sol.status) == str(default.status)
    if sol.objective is None:
        assert pd.isna(row["objective"])
        return
    assert row["objective"] == pytest.approx(default.objective, rel=1e-9, abs=0)
    assert row["objective"] == pytest.approx(sol.objective, rel=1e-9, abs=0)
    assert sol.design == default.design
    design = sol.design.to_dict()
    design["pim_option"] = design["pim_option"] or "none"
    assert {k: row[k] for k in DESIGN} == design
    assert row["latency_s_per_token"] == pytest.approx(sol.metrics.latency_per_token, rel=1e-9, abs=0)
    assert row["energy_j_per_token"] == pytest.approx(sol.metrics.energy_per_token, rel=1e-9, abs=0)
    for name, ratios in sol.speedups().items():
        assert row[f"speedup_vs_{name}"] == pytest.approx(ratios["speedup"], rel=1e-9, abs=0)
        assert row[f"energy_gain_vs_{name}"] == pytest.approx(ratios["energy_gain"], rel=1e-9, abs=0)


@pytest.fixture(scope="module")
def tiny_sweeps():
    """The same 2 × 2 sweep of tiny.yaml on one and on two local workers."""
    axes = {"workload.batch": [1, 16], "speculation.acceptance": [0.5, 0.9]}
    return axes, specpim.sweep(TINY, axes, workers=1), specpim.sweep(TINY, axes, workers=2)


def test_rows_are_solo_solves(tiny_sweeps):
    axes, serial, parallel = tiny_sweeps
    assert list(parallel.columns) == columns(list(axes))
    assert parallel["scenario"].tolist() == [
        "0000-workload.batch=1,speculation.acceptance=0.5", "0001-workload.batch=1,speculation.acceptance=0.9",
        "0002-workload.batch=16,speculation.acceptance=0.5", "0003-workload.batch=16,speculation.acceptance=0.9"]
    for _, row in parallel.iterrows():
        data = _scenario(TINY_DATA, **{"workload.batch": int(row["workload.batch"]),
                                       "speculation.acceptance": float(row["speculation.acceptance"])})
        _check_row_is_solo_solve(row, data, baselines=True)


def test_results_do_not_depend_on_the_number_of_workers(tiny_sweeps):
    _, serial, parallel = tiny_sweeps
    pd.testing.assert_frame_equal(_without_timings(serial), _without_timings(parallel))


@pytest.mark.parametrize("seed", [3, 11, 29])
def test_rows_are_solo_solves_on_random_instances(seed):
    base = random_instance(seed)
    batches = [1, base["workload"]["batch"] + 3]
    df = specpim.sweep(base, {"workload.batch": batches}, workers=2, baselines=False)
    assert df["workload.batch"].tolist() == batches
    for (_, row), batch in zip(df.iterrows(), batches, strict=True):
        _check_row_is_solo_solve(row, _scenario(base, **{"workload.batch": batch}), baselines=False)


def test_product_and_zip():
    axes = {"workload.gen_len": [64, 128], "speculation.draft_len": [[1, 2], 3]}
    product = specpim.sweep(TINY, axes, baselines=False)
    zipped = specpim.sweep(TINY, axes, zip=True, baselines=False)
    assert list(zip(product["workload.gen_len"], product["speculation.draft_len"], strict=True)) == \
        [(64, "[1, 2]"), (64, "3"), (128, "[1, 2]"), (128, "3")]
    assert list(zip(zipped["workload.gen_len"], zipped["speculation.draft_len"], strict=True)) == \
        [(64, "[1, 2]"), (128, "3")]
    # a zipped scenario is the product's scenario with the same values
    pd.testing.assert_frame_equal(
        _without_timings(zipped).drop(columns=["scenario"]),
        _without_timings(product.iloc[[0, 3]]).drop(columns=["scenario"]).reset_index(drop=True))
    assert (product["draft_len"].iloc[1], product["draft_len"].iloc[3]) == (3, 3)   # γ fixed to 3
    with pytest.raises(specpim.InstanceError, match="as many values on every axis.*has 2.*has 3"):
        specpim.sweep(TINY, {"workload.gen_len": [64, 128], "workload.batch": [1, 2, 3]}, zip=True)


def test_bad_scenarios_get_rows_and_the_sweep_goes_on():
    df = specpim.sweep(TINY, {"system.memory.channel_capacity": [0.5, 1e-5], "workload.batch": [0, 8]},
                       baselines=False)
    assert df["status"].tolist() == ["invalid", "optimal", "invalid", "infeasible"]
    assert df["error"].iloc[0].endswith("workload.batch: expected an integer ≥ 1 (requests), found 0")
    assert df["error"].iloc[3].startswith("infeasible: memory capacity:")
    assert pd.isna(df["error"].iloc[1]) and df["objective"].iloc[1] > 0
    assert all("\n" not in e for e in df["error"].dropna())
    assert pd.isna(df["objective"].iloc[3]) and pd.isna(df["pim_option"].iloc[0])
    # a sweep none of whose scenarios is an instance is bad input
    with pytest.raises(specpim.InstanceError, match=r"no scenario is a valid instance.*workload\.batch"):
        specpim.sweep(TINY, {"workload.batch": [0, -1]})


def test_solver_trouble_and_time_limits_get_rows(tmp_path, monkeypatch):
    from helpers.cli import fake_cbc

    # CBC ends without a solution in the time limit: status no_solution, saying so
    monkeypatch.setenv("SPECPIM_CBC", str(fake_cbc(tmp_path, "nosolution")))
    df = specpim.sweep(TINY, {"workload.batch": [2]}, baselines=False, time_limit=30)
    assert df["status"].tolist() == ["no_solution"]
    assert df["error"].iloc[0].startswith("no solution found within the time limit of 30 s")
    # CBC crashes: status error in every row, the table written, exit code 5; such rows are
    # not kept in the journal, so a resumed sweep tries them again
    env = {"SPECPIM_CBC": str(fake_cbc(tmp_path, "crash"))}
    r = run_cli("sweep", TINY, "--set", "workload.batch=2,0", "--no-baselines", "-o", tmp_path / "out", env=env)
    assert r.code == 5, r.err
    assert "1 scenario(s) ended in solver trouble; the first: CBC solver failed" in r.err
    df = pd.read_csv(tmp_path / "out" / "results.csv")
    assert df["status"].tolist() == ["error", "invalid"]
    assert len((tmp_path / "out" / "journal.jsonl").read_text().splitlines()) == 1
    monkeypatch.delenv("SPECPIM_CBC")
    again = specpim.sweep(TINY, {"workload.batch": [2, 0]}, baselines=False, outdir=tmp_path / "out", resume=True)
    assert again["status"].tolist() == ["optimal", "invalid"]


def test_presets_and_list_items_can_be_swept():
    paper = INSTANCES / "llama2-70b-7b-a100x4-hbm3pim.yaml"
    df = specpim.sweep(paper, {"system.devices": [2], "target.layers": [2], "draft": ["llama2-7b"],
                               "design_space.pim_options[0]": ["hbm3-pim-bufferdie"],
                               "design_space.pim_options": [["hbm3-pim-bufferdie"]]},
                       baselines=False, time_limit=60)
    assert df["status"].tolist() == ["optimal"]
    assert df["pim_option"].iloc[0] in ("hbm3-pim-bufferdie", "none")
    with pytest.raises(specpim.InstanceError, match=r"unknown key 'bacth' in workload; did you mean 'batch'"):
        specpim.sweep(TINY, {"workload.bacth": [1]})
    with pytest.raises(specpim.InstanceError, match=r"workload\.batch is a single value"):
        specpim.sweep(TINY, {"workload.batch.x": [1]})


def test_output_folder(tmp_path):
    out = tmp_path / "out"
    axes = {"workload.batch": [8, 0, 8]}   # scenarios 0 and 2 are the same instance (tiny.yaml)
    df = specpim.sweep(TINY, axes, outdir=out, baselines=False)
    assert sorted(p.name for p in out.iterdir()) == ["journal.jsonl", "results.csv", "results.parquet", "scenarios"]
    assert sorted(p.name for p in (out / "scenarios").iterdir()) == ["0000-workload.batch=8", "0002-workload.batch=8"]
    assert df["key"].iloc[0] == df["key"].iloc[2] != df["key"].iloc[1]
    entries = (out / "journal.jsonl").read_text().splitlines()
    assert len(entries) == 2   # the header and one solve: same instance, same key
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), df)
    csv = pd.read_csv(out / "results.csv")
    assert list(csv.columns) == list(df.columns)
    assert csv["objective"].iloc[0] == df["objective"].iloc[0]   # floats written to the last digit
    # mapping.json is what `specpim solve -o` writes (for the solve with one CBC at a time)
    from specpim.export import write_outputs

    write_outputs(specpim.solve(TINY, baselines=False, workers=1), tmp_path / "solo")
    assert (out / "scenarios" / "0000-workload.batch=8" / "mapping.json").read_bytes() == \
        (tmp_path / "solo" / "mapping.json").read_bytes()
    with pytest.raises(specpim.InstanceError, match="holds the results of a sweep.*resume"):
        specpim.sweep(TINY, axes, outdir=out)
    # resuming a finished sweep solves nothing and gives the same table
    again = specpim.sweep(TINY, axes, outdir=out, resume=True, baselines=False)
    pd.testing.assert_frame_equal(again, df)
    assert len((out / "journal.jsonl").read_text().splitlines()) == 2
    assert not list(out.rglob("*.tmp"))


def test_resume_solves_again_what_a_changed_base_made_stale(tmp_path):
    out = tmp_path / "out"
    axes = {"workload.batch": [1, 4]}
    specpim.sweep(TINY_DATA, axes, outdir=out, baselines=False)
    changed = _scenario(TINY_DATA, **{"workload.gen_len": 64})
    resumed = specpim.sweep(changed, axes, outdir=out, resume=True, baselines=False)
    fresh = specpim.sweep(changed, axes, baselines=False)
    pd.testing.assert_frame_equal(_without_timings(resumed), _without_timings(fresh))
    assert len((out / "journal.jsonl").read_text().splitlines()) == 1 + 2 + 2   # solved twice
    # other options that change a result are part of the key too
    with_baselines = specpim.sweep(changed, axes, outdir=out, resume=True)
    assert "speedup_vs_host_ar" in with_baselines.columns
    assert len((out / "journal.jsonl").read_text().splitlines()) == 1 + 2 + 2 + 2


# A stand-in for CBC: the real one, until the file $HANG exists; from then on it writes
# its pid to $MARKER and waits to be killed (a long solve for the signal to interrupt).
_GATED_CBC = r'''#!{python}
import os, sys, time
if os.path.exists(os.environ["SWEEP_TEST_HANG"]):
    with open(os.environ["SWEEP_TEST_MARKER"], "a") as fh:
        fh.write("%d\n" % os.getpid())
    time.sleep(300)
os.execv({real!r}, [{real!r}] + sys.argv[1:])
'''


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def _journal_rows(out: Path) -> int:
    path = out / "journal.jsonl"
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_keeps_finished_rows_and_resume_completes_the_sweep(tmp_path):
    from specpim.solvers.cbc import cbc_path

    cbc = tmp_path / "cbc"
    cbc.write_text(_GATED_CBC.format(python=sys.executable, real=cbc_path()))
    cbc.chmod(cbc.stat().st_mode | stat.S_IXUSR)
    hang, marker, tmp, out = tmp_path / "hang", tmp_path / "marker", tmp_path / "tmp", tmp_path / "out"
    tmp.mkdir()
    env = {**os.environ, "SPECPIM_CBC": str(cbc), "SWEEP_TEST_HANG": str(hang), "SWEEP_TEST_MARKER": str(marker),
           "TMPDIR": str(tmp)}
    args = [TINY, "--set", "workload.batch=" + ",".join(map(str, range(1, 25))), "--no-baselines", "--workers", "2"]
    proc = subprocess.Popen([*cli_command(), "sweep", *map(str, args), "-o", str(out)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 120
        while _journal_rows(out) < 2:   # some scenarios finished ...
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.01)
        hang.touch()                    # ... and from now on every CBC run waits: both workers mid-solve
        while len(marker.read_text().split() if marker.exists() else []) < 2:
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert "--resume" in err
    # every finished row is on disk, with its mapping; no partial or temporary file, no CBC left
    rows = _journal_rows(out)
    assert 2 <= rows < 24
    assert sorted(p.name for p in out.iterdir()) == ["journal.jsonl", "scenarios"]
    assert len(list((out / "scenarios").glob("*/mapping.json"))) == rows
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]
    assert not list(tmp.iterdir())
    assert not [pid for pid in map(int, marker.read_text().split()) if _alive(pid)]

    hang.unlink()
    resumed = run_cli("sweep", *args, "-o", out, "--resume", env=env)
    assert resumed.code == 0, resumed.err
    whole = run_cli("sweep", *args, "-o", tmp_path / "whole", env=env)
    assert whole.code == 0, whole.err
    a, b = pd.read_csv(out / "results.csv"), pd.read_csv(tmp_path / "whole" / "results.csv")
    pd.testing.assert_frame_equal(_without_timings(a), _without_timings(b))
    for f in (tmp_path / "whole" / "scenarios").glob("*/mapping.json"):
        assert (out / "scenarios" / f.parent.name / "mapping.json").read_bytes() == f.read_bytes()
    assert len(list((out / "scenarios").glob("*/mapping.json"))) == 24


_RAY_CHECK = r'''
import pandas as pd, ray, specpim
axes = {"workload.batch": [1, 0, 16], "speculation.acceptance": [0.6, 0.9]}
local = specpim.sweep(TINY, axes, workers=2)
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
try:
    remote = specpim.sweep(TINY, axes, backend="ray")
finally:
    ray.shutdown()
timings = ["build_s", "solve_s"]
pd.testing.assert_frame_equal(remote.drop(columns=timings), local.drop(columns=timings))
print("same rows:", len(remote))
'''


def test_ray_backend_gives_the_same_rows():
    """On a local Ray instance with 2 CPUs, in a process of its own (Ray's driver keeps
    threads and signal handlers that the rest of the suite should not inherit)."""
    pytest.importorskip("ray")
    code = f"TINY = {str(TINY)!r}\n" + _RAY_CHECK
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.strip() == "same rows: 6"


def test_ray_missing_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)   # import ray fails
    with pytest.raises(specpim.InstanceError, match=r"pip install 'specpim\[ray\]'"):
        specpim.sweep(TINY, {"workload.batch": [1]}, backend="ray")


def test_sweep_file(tmp_path):
    study = tmp_path / "study.yaml"
    (tmp_path / "inst").mkdir()
    (tmp_path / "inst" / "base.yaml").write_text(TINY.read_text())
    study.write_text("base: inst/base.yaml\naxes:\n  workload.batch: [1, 4]\n  speculation.acceptance: [0.5, 0.9]\n"
                     "zip: true\n")
    r = run_cli("sweep", study, "--no-baselines", "--quiet")
    assert r.code == 0, r.err
    from io import StringIO

    df = pd.read_csv(StringIO(r.out))
    assert df["scenario"].tolist() == ["0000-workload.batch=1,speculation.acceptance=0.5",
                                       "0001-workload.batch=4,speculation.acceptance=0.9"]
    assert (df["status"] == "optimal").all()


@pytest.mark.parametrize(("text", "field", "message"), [
    ("base: t.yaml\naxis: {workload.batch: [1]}\n", "axis", "unknown key 'axis'; did you mean 'axes'?"),
    ("axes: {workload.batch: [1]}\n", "base", "missing required field"),
    ("base: t.yaml\naxes: {workload.batch: 4}\n", "axes.workload.batch", "expected a non-empty list"),
    ("base: t.yaml\naxes: {workload.batch: []}\n", "axes.workload.batch", "found an empty list"),
    ("base: t.yaml\naxes: {}\n", "axes", "expected at least one axis"),
    ("base: t.yaml\naxes: {workload.bacth: [1]}\n", "axes.workload.bacth", "did you mean 'batch'?"),
    ("base: t.yaml\naxes: {'workload..batch': [1]}\n", "axes.workload..batch", "expected a dotted field path"),
    ("base: t.yaml\naxes: {workload.batch: [1]}\nzip: yes please\n", "zip", "expected true or false"),
    ("base: t.yaml\naxes: {workload.batch: [1, 2], workload.gen_len: [1]}\nzip: true\n", "zip",
     "workload.batch has 2, workload.gen_len has 1"),
    ("base: missing.yaml\naxes: {workload.batch: [1]}\n", None, "missing.yaml: file not found"),
    ("base: [1]\naxes: {workload.batch: [1]}\n", "base", "expected"),
])
def test_sweep_file_errors(tmp_path, capsys, text, field, message):
    (tmp_path / "t.yaml").write_text(TINY.read_text())
    study = tmp_path / "study.yaml"
    study.write_text(text)
    assert main(["sweep", str(study)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    if field:
        assert f": {field}: " in lines[0], lines[0]
    assert message in lines[0], lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "workload.batch"], "--set: expected PATH=V1,V2"),
    (["--set", "workload.batch="], "--set workload.batch: expected at least one value"),
    (["--set", "workload.batch=[1"], "--set workload.batch: cannot read the values"),
    (["--set", "workload.bacth=1,2"], "--set workload.bacth: unknown key 'bacth' in workload; did you mean 'batch'?"),
    (["--set", "workload.batch=1", "--set", "workload.batch=2"], "swept twice"),
    ([], "axes: nothing to sweep"),
    (["--set", "workload.batch=1,2", "--set", "workload.gen_len=8", "--zip"], "as many values on every axis"),
    (["--set", "workload.batch=1", "--resume"], "--resume: --resume needs the output folder"),
    (["--set", "workload.batch=1", "--address", "auto"], "--address: applies to --backend ray only"),
    (["--set", "workload.batch=1", "--workers", "0"], "--workers: expected a whole number ≥ 1"),
    (["--set", "workload.batch=1", "--time-limit", "-1"], "--time-limit: expected a finite number > 0"),
    (["--set", "workload.batch=1", "-o", ""], "expected the name of a folder"),
    (["--set", "workload.batch=0"], "no scenario is a valid instance"),
])
def test_command_line_errors(capsys, args, message):
    assert main(["sweep", str(TINY), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1


def test_errors_through_the_installed_command(tmp_path):
    r = run_cli("sweep", TINY, "--set", "workload.bacth=1,2")
    assert r.code == 2 and r.err == ("specpim: --set workload.bacth: unknown key 'bacth' in workload; did you mean "
                                     "'batch'?\n"), r.err
    # without Ray (here: a ray module that cannot be imported, first on the path)
    (tmp_path / "ray.py").write_text("raise ImportError('no Ray here')\n")
    r = run_cli("sweep", TINY, "--set", "workload.batch=1", "--backend", "ray", env={"PYTHONPATH": str(tmp_path)})
    assert r.code == 2 and r.err.strip() == (
        "specpim: backend: the Ray backend needs Ray, which is not installed; install it with: "
        "pip install 'specpim[ray]'"), r.err


def test_import_specpim_stays_cheap():
    code = "import sys, specpim; specpim.__version__; print('pandas' in sys.modules, 'tqdm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    assert callable(specpim.sweep)


def test_stdout_csv_and_keys_do_not_depend_on_the_working_folder(tmp_path):
    r1 = run_cli("sweep", TINY, "--set", "workload.batch=2", "--no-baselines")
    r2 = run_cli("sweep", TINY, "--set", "workload.batch=2", "--no-baselines", cwd=tmp_path)
    assert r1.code == r2.code == 0
    header, row = r1.out.splitlines()
    assert header.split(",") == columns(["workload.batch"], [])
    key = row.rsplit(",", 1)[1]
    assert len(key) == 16 and r2.out.splitlines()[1].rsplit(",", 1)[1] == key
