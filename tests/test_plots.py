"""Figures (specpim.plots, ``specpim plot``): each plot draws what it claims,
from a Solution and from the files ``specpim solve -o`` writes; sweep and
Pareto plots from hand-made tables with the columns the sweep and pareto
commands write; one-line errors for a missing matplotlib and a bad folder.
Also: metrics.json in the solve outputs, and the baselines' designs in the
terminal report."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

import specpim
from helpers.cli import run_cli
from specpim.cli import main
from specpim.report import summary

# -- shared results --------------------------------------------------------------------


@pytest.fixture(scope="module")
def solution(tiny):
    return specpim.solve(tiny)


@pytest.fixture(scope="module")
def solved_dir(tmp_path_factory, tiny_path) -> Path:
    """The outputs of a real ``specpim solve -o`` of instances/tiny.yaml."""
    out = tmp_path_factory.mktemp("solved") / "out"
    r = run_cli("solve", tiny_path, "-o", out, "--no-baselines")
    assert r.code == 0, r.err
    return out


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


SWEEP_COLUMNS = ["workload.batch", "speculation.acceptance", "latency_s_per_token", "throughput_tokens_per_s",
                 "energy_j_per_token", "area_mm2", "objective", "status", "speedup_vs_host_sd",
                 "energy_gain_vs_host_sd"]


def _sweep_rows() -> list[dict[str, object]]:
    rows = []
    for acceptance in (0.6, 0.8):
        for batch in (1, 2, 4, 8):
            latency = 1e-3 * (1 + batch / 8) / acceptance
            rows.append({"workload.batch": batch, "speculation.acceptance": acceptance,
                         "latency_s_per_token": latency, "throughput_tokens_per_s": batch / latency,
                         "energy_j_per_token": 2e-3 * latency, "area_mm2": 40.96, "objective": latency,
                         "status": "optimal", "speedup_vs_host_sd": 1.2 + batch / 10,
                         "energy_gain_vs_host_sd": 1.1})
    rows[5]["status"] = "feasible"
    rows.append({**rows[0], "workload.batch": 16, "status": "infeasible", "latency_s_per_token": ""})
    rows.append({**rows[4], "workload.batch": 32, "status": "no_solution", "latency_s_per_token": ""})
    return rows


PARETO_COLUMNS = ["point", "latency_s_per_token", "energy_j_per_token", "area_mm2", "throughput_tokens_per_s",
                  "pim_option", "pim_channels", "draft_channels", "target_channels", "draft_len", "status"]
# (latency ms, energy mJ, area mm²): points 0-3 form the latency-energy front, 4 is on the 3-D front only
# (dominated in latency and energy, but the smallest area), 5 did not solve.
_PARETO = [(0.50, 1.40, 40.96), (0.55, 1.10, 81.92), (0.70, 1.00, 163.84), (0.90, 0.95, 260.10),
           (0.80, 1.30, 20.48), (0.40, 0.90, 10.0)]


def _pareto_rows() -> list[dict[str, object]]:
    rows = []
    for i, (lat, energy, area) in enumerate(_PARETO):
        rows.append({"point": i, "latency_s_per_token": lat / 1e3, "energy_j_per_token": energy / 1e3,
                     "area_mm2": area, "throughput_tokens_per_s": 16e3 / lat, "pim_option": "bank",
                     "pim_channels": int(area // 5.12), "draft_channels": 4, "target_channels": 4, "draft_len": 3,
                     "status": "optimal" if i < 5 else "infeasible"})
    return rows


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    return path


def _bars(ax, prefix: str) -> dict[str, object]:
    return {p.get_gid()[len(prefix):]: p for p in ax.patches if (p.get_gid() or "").startswith(prefix)}


def _texts(fig) -> set[str]:
    return {t.get_text() for t in fig.findobj(match=lambda a: hasattr(a, "get_text")) if t.get_text()}


# -- import cost and the missing extra ----------------------------------------------------

def test_importing_specpim_and_its_plots_does_not_load_matplotlib():
    code = "import sys, specpim, specpim.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _hide_matplotlib(monkeypatch):
    """As if matplotlib were not installed: every import of it fails."""
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)


def test_without_matplotlib_one_line_says_how_to_install_it(monkeypatch, capsys, solved_dir, solution):
    _hide_matplotlib(monkeypatch)
    assert main(["plot", str(solved_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'specpim[plot]'" in err and "Traceback" not in err
    from specpim.plots import PlotDependencyError, plot_breakdown

    with pytest.raises(PlotDependencyError, match=r"specpim\[plot\]") as info:
        plot_breakdown(solution)
    assert isinstance(info.value, ImportError)


# -- the solve figures ----------------------------------------------------------------------

def test_solve_outputs_carry_the_metrics(solved_dir):
    doc = json.loads((solved_dir / "metrics.json").read_text())
    assert set(doc["phases"]) == {"draft", "verify"}
    for p in doc["phases"].values():
        assert p["tier_times"] and all(t > 0 for t in p["tier_times"])
        assert all({"name", "tier", "engine", "channels", "first_channel", "time", "host_busy"} <= set(o)
                   for o in p["operators"])


def test_breakdown_has_each_part_of_each_phase(mpl, solution):
    from matplotlib.figure import Figure

    from specpim.plots import plot_breakdown

    fig = plot_breakdown(solution)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    for phase, pm in solution.metrics.phases.items():
        parts = _bars(ax, f"{phase}:")
        assert sorted(parts) == ["collectives", "elementwise", "head", "layers"]
        total = sum(p.get_width() for p in parts.values())
        assert total == pytest.approx(pm.steps * pm.step_time * 1e3)
        assert parts["head"].get_width() == pytest.approx(pm.steps * pm.head_time * 1e3)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["layer GEMMs (tiers)", "element-wise", "collectives", "LM head"]
    assert "time per iteration (ms)" == ax.get_xlabel()
    assert any("draft" in t.get_text() for t in ax.get_yticklabels())


def test_placement_has_one_bar_per_operator_where_and_when_it_runs(mpl, solution):
    from specpim.plots import plot_placement

    fig = plot_placement(solution)
    assert len(fig.axes) == len(solution.metrics.phases)
    for ax, (phase, pm) in zip(fig.axes, solution.metrics.phases.items(), strict=True):
        bars = _bars(ax, "op:")
        layer_ops = [o for o in pm.operators if o.tier is not None]
        assert sorted(bars) == sorted(o.name for o in layer_ops), phase
        tiers = sorted({o.tier for o in layer_ops})
        start = {t: sum(pm.tier_times[:i]) * 1e6 for i, t in enumerate(tiers)}
        for o in layer_ops:
            bar = bars[o.name]
            assert bar.get_width() == pytest.approx(o.time * 1e6)
            if o.engine == "pim":   # on its physical channels, when its tier starts
                assert (bar.get_y(), bar.get_height()) == (o.first_channel, o.channels)
                assert bar.get_x() == pytest.approx(start[o.tier])
            else:                   # on the host lane, within its tier
                assert bar.get_y() < 0
                end = start[o.tier] + pm.tier_times[tiers.index(o.tier)] * 1e6
                assert start[o.tier] - 1e-9 <= bar.get_x() and bar.get_x() + bar.get_width() <= end + 1e-9
        names = {t.get_text() for t in ax.texts}
        assert {o.name for o in layer_ops} <= names
        assert "host" in [t.get_text() for t in ax.get_yticklabels()]
        assert ax.get_title(loc="left").startswith(f"{phase} phase")


def test_placement_from_the_solve_folder_matches_the_solution(mpl, solution, solved_dir):
    from specpim.plots import plot_placement

    def layout(fig):
        return [{n: (b.get_x(), b.get_y(), b.get_width(), b.get_height()) for n, b in _bars(ax, "op:").items()}
                for ax in fig.axes]

    expected = layout(plot_placement(solution))
    got = layout(plot_placement(solved_dir))
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.keys() == e.keys()
        for name in g:
            assert g[name] == pytest.approx(e[name])


def test_one_phase_into_a_given_axes(mpl, solution):
    from matplotlib.figure import Figure

    from specpim import InstanceError
    from specpim.plots import plot_breakdown, plot_placement

    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plot_placement(solution, phase="verify", ax=left) is fig
    assert plot_breakdown(solution.metrics, ax=right) is fig
    assert _bars(left, "op:") and left.get_title(loc="left").startswith("verify")
    with pytest.raises(InstanceError, match="phase"):
        plot_placement(solution, ax=left)          # two phases, one axes
    with pytest.raises(InstanceError, match="no phase 'drat'"):
        plot_placement(solution, phase="drat")


# -- sweeps and Pareto fronts -------------------------------------------------------------

def test_sweep_one_line_per_hue_value_skipping_unsolved_points(mpl, tmp_path):
    from specpim.plots import plot_sweep

    path = _write_csv(tmp_path / "results.csv", SWEEP_COLUMNS, _sweep_rows())
    fig = plot_sweep(path, x="workload.batch", y="latency_s_per_token", hue="speculation.acceptance")
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]
    assert [ln.get_label() for ln in lines] == ["0.6", "0.8"]
    for ln in lines:
        assert list(ln.get_xdata()) == [1, 2, 4, 8]    # 16 and 32 did not solve
    acceptance = 0.6
    assert list(lines[0].get_ydata()) == pytest.approx([(1 + b / 8) / acceptance for b in (1, 2, 4, 8)])  # ms
    assert ax.get_xlabel() == "workload.batch" and ax.get_ylabel() == "latency (ms/token)"
    assert ax.get_legend().get_title().get_text() == "speculation.acceptance"


def test_sweep_from_a_dataframe_with_a_ratio_metric(mpl):
    pd = pytest.importorskip("pandas")
    from specpim.plots import plot_sweep

    df = pd.DataFrame(_sweep_rows()).replace("", pd.NA)   # pandas' own missing values, as a sweep's frame has
    df["status"] = df["status"].astype("string")
    df.loc[8, "workload.batch"] = pd.NA
    fig = plot_sweep(df, "workload.batch", "speedup_vs_host_sd")
    ax = fig.axes[0]
    # no hue: the other swept axis that varies still splits the lines, named in the legend
    assert [ln.get_label() for ln in ax.get_lines()] == ["speculation.acceptance = 0.6",
                                                         "speculation.acceptance = 0.8"]
    assert ax.get_ylabel() == "speedup vs host_sd (×)"


def test_swept_axes_of_a_sweep_table():
    from specpim.plots import swept_axes

    assert swept_axes(["scenario", "workload.batch", "objective (swept)", "status", "objective", "area_mm2"]) \
        == ["workload.batch", "objective (swept)"]
    assert swept_axes(["workload.batch", "latency_s_per_token", "objective (swept)", "status"]) \
        == ["workload.batch", "objective (swept)"]


def test_sweep_of_a_category_and_a_bad_column(mpl):
    from specpim import InstanceError
    from specpim.plots import plot_sweep

    rows = [{"design.pim_option": o, "latency_s_per_token": t, "status": "optimal"}
            for o, t in (("bank", 2e-3), ("bufferdie", 3e-3), ("none", 4e-3))]
    ax = plot_sweep(rows, "design.pim_option", "latency_s_per_token").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bank", "bufferdie", "none"]
    with pytest.raises(InstanceError, match="did you mean 'latency_s_per_token'"):
        plot_sweep(rows, "design.pim_option", "latency_s_per_tokn")


def test_pareto_front_step_line_and_area_colour(mpl, tmp_path):
    from specpim.plots import plot_pareto

    path = _write_csv(tmp_path / "pareto.csv", PARETO_COLUMNS, _pareto_rows())
    fig = plot_pareto(path, "latency_s_per_token", "energy_j_per_token")
    ax = fig.axes[0]
    (points,) = ax.collections
    assert len(points.get_offsets()) == 5                       # the unsolved point is left out
    assert list(points.get_array()) == [a for *_, a in _PARETO[:5]]
    assert len(fig.axes) == 2 and "area" in fig.axes[1].get_ylabel()   # the colour bar
    (front,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("front")]
    assert list(front.get_xdata()) == pytest.approx([0.50, 0.55, 0.70, 0.90])   # point 4 is not on the 2-D front
    assert {"0", "1", "2", "3", "4"} <= _texts(fig)
    assert ax.get_xlabel() == "latency (ms/token)" and ax.get_ylabel() == "energy (mJ/token)"


def test_pareto_with_a_maximised_objective(mpl, tmp_path):
    from specpim.plots import plot_pareto

    rows = _pareto_rows()
    ax = plot_pareto(rows, "throughput_tokens_per_s", "area_mm2").axes[0]
    (front,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("front")]
    # most throughput first: the lowest latency; then smaller areas at less throughput
    assert list(front.get_ydata()) == pytest.approx([40.96, 20.48])


# -- specpim plot ---------------------------------------------------------------------------

def test_plot_command_writes_png_and_svg_of_a_real_solve(mpl, solved_dir, tmp_path):
    figs = tmp_path / "figs"
    r = run_cli("plot", solved_dir, "-o", figs, "--format", "png,svg")
    assert r.code == 0, r.err
    assert sorted(p.name for p in figs.iterdir()) == ["breakdown.png", "breakdown.svg", "placement.png",
                                                      "placement.svg"]
    for name in ("breakdown", "placement"):
        assert (figs / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        svg = (figs / f"{name}.svg").read_text(encoding="utf-8")
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "op:q" in (figs / "placement.svg").read_text(encoding="utf-8")   # the bars keep their ids


def test_plot_command_on_sweep_and_pareto_tables(mpl, tmp_path, capsys):
    _write_csv(tmp_path / "results.csv", SWEEP_COLUMNS, _sweep_rows())
    assert main(["plot", str(tmp_path), "--format", "png", "--y", "throughput_tokens_per_s"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["sweep.png"]
    pareto = tmp_path / "front"
    pareto.mkdir()
    _write_csv(pareto / "pareto.csv", PARETO_COLUMNS, _pareto_rows())
    assert main(["plot", str(pareto), "--format", "svg", "--x", "latency_s_per_token", "--y", "area_mm2"]) == 0
    assert (pareto / "pareto.svg").is_file()
    assert "wrote" in capsys.readouterr().out


def _one_line_error(capsys, argv: list[str], *needles: str) -> None:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("specpim: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def test_bad_result_folder_is_one_line_and_exit_2(mpl, tmp_path, capsys, solved_dir):
    _one_line_error(capsys, ["plot", str(tmp_path / "missing")], "missing", "no such folder")
    (tmp_path / "file.txt").write_text("x")
    _one_line_error(capsys, ["plot", str(tmp_path / "file.txt")], "is not a folder")
    _one_line_error(capsys, ["plot", str(tmp_path)], "nothing to plot", "metrics.json", "results.csv", "pareto.csv")
    _one_line_error(capsys, ["plot", ""], "RESULT_DIR")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metrics.json").write_text('{"phases": {"draft": {"steps": 2}}}')
    _one_line_error(capsys, ["plot", str(broken)], "metrics.json", "expected a finite number")
    (broken / "metrics.json").write_text("{not json")
    _one_line_error(capsys, ["plot", str(broken)], "metrics.json", "not valid JSON")
    _one_line_error(capsys, ["plot", str(solved_dir), "--format", "png,gif"], "--format", "'png,gif'")
    _one_line_error(capsys, ["plot", str(solved_dir), "--x", "workload.batch"], "--x", "results.csv")
    _one_line_error(capsys, ["plot", str(solved_dir), "-o", str(tmp_path / "file.txt")], "not a folder")
    _one_line_error(capsys, ["plot", str(solved_dir), "-o", ""], "-o/--outdir", "empty name")
    _write_csv(tmp_path / "results.csv", SWEEP_COLUMNS, _sweep_rows())
    _one_line_error(capsys, ["plot", str(tmp_path), "--hue", "workload.bach"], "--hue",
                    "did you mean 'workload.batch'")


def test_bad_result_folder_as_a_user_sees_it(tmp_path):
    r = run_cli("plot", tmp_path / "nowhere")
    assert r.code == 2 and r.err.count("\n") == 1 and "Traceback" not in r.err and "nowhere" in r.err


# -- the report's baselines -------------------------------------------------------------------

def test_report_shows_each_baselines_design(solution):
    text = summary(solution)
    table = text.split("Baselines (same cost model)")[1].splitlines()
    assert "architecture" in table[1] and "latency/token" in table[1]
    rows = {line.split()[0]: line for line in table[3:] if line.strip() and not line.startswith("build")}
    for name, b in solution.baselines.items():
        a = b.mapping.architecture
        if a.pim_option is None:
            assert "no PIM" in rows[name]
        else:
            assert f"{a.pim_option} × {a.pim_channels} ch (draft {a.draft_channels}, target {a.target_channels})" \
                in rows[name]
        assert ("autoregressive" if a.draft_len == 0 else f"γ = {a.draft_len}") in rows[name].split("×")[-1]
