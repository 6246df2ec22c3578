"""Figures of results, drawn with matplotlib (the optional extra ``specpim[plot]``).

    import specpim.plots as P
    P.plot_breakdown("out")            # a Solution, Metrics, or a folder written by ``specpim solve -o``
    P.plot_placement(sol, phase="draft")
    P.plot_sweep("sweep/results.csv", x="workload.batch", y="latency_s_per_token", hue="speculation.acceptance")
    P.plot_pareto("front/pareto.csv", x="latency_s_per_token", y="energy_j_per_token")

Each function returns a matplotlib Figure (drawn into ``ax`` when one is
given).  Figures are made with the Agg canvas, never through pyplot, so no
display is needed and the global backend is left alone.  matplotlib is
imported on first use: ``import specpim`` and ``import specpim.plots`` do
not load it; without it the functions raise PlotDependencyError (exit code 2
in the CLI), which says how to install it.

``plot_directory`` is ``specpim plot RESULT_DIR``: it draws whatever the
folder holds (metrics.json and mapping.json from ``solve -o``, results.csv
from a sweep, pareto.csv from ``specpim pareto``) and writes every figure
atomically, as the other result files are written.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .core.errors import InstanceError, SpecpimError, quote, read_input_text
from .core.files import check_folder, replace_files

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_HINT = "pip install 'specpim[plot]'"
FORMATS = ("png", "svg")
DPI = 110

# What each kind of result folder holds (specpim solve -o, a sweep, specpim pareto).
SOLVE_FILES = ("metrics.json", "mapping.json")
SWEEP_FILE = "results.csv"
PARETO_FILE = "pareto.csv"

KEPT_STATUSES = frozenset({"optimal", "feasible"})

# Metric columns of results.csv and pareto.csv: axis label and the factor to its unit.
METRICS: dict[str, tuple[str, float]] = {
    "latency_s_per_token": ("latency (ms/token)", 1e3),
    "energy_j_per_token": ("energy (mJ/token)", 1e3),
    "throughput_tokens_per_s": ("throughput (tokens/s)", 1.0),
    "area_mm2": ("PIM area per device (mm²)", 1.0),
    "objective": ("objective", 1.0),
}
_MAXIMISED = frozenset({"throughput_tokens_per_s"})
_RATIO_PREFIXES = {"speedup_vs_": "speedup vs {} (×)", "energy_gain_vs_": "energy gain vs {} (×)"}

# Latency breakdown: the parts of one step, bottom to top of each bar.
_PARTS = (("layers", "layer GEMMs (tiers)", "#4c72b0"), ("elementwise", "element-wise", "#8c8c8c"),
          ("collectives", "collectives", "#dd8452"), ("head", "LM head", "#55a868"))


class PlotDependencyError(SpecpimError, ImportError):
    """matplotlib is not installed; the message says how to install it (CLI exit code 2)."""

    exit_code = 2


def _matplotlib() -> tuple[Any, Any]:
    """(Figure, FigureCanvasAgg), importing matplotlib now."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise PlotDependencyError(f"plotting needs matplotlib, which is not installed: {INSTALL_HINT}") from None
    return Figure, FigureCanvasAgg


def _figure(width: float, height: float, rows: int = 1) -> tuple[Figure, list[Axes]]:
    figure_cls, canvas_cls = _matplotlib()
    fig = figure_cls(figsize=(width, height), layout="constrained")
    canvas_cls(fig)   # Agg: rendering needs no display
    return fig, [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]


def _root(ax: Axes) -> Figure:
    """The Figure an axes is drawn in (the root one when the axes sits in a SubFigure)."""
    fig = ax.figure
    return cast("Figure", getattr(fig, "figure", None) or fig)


# -- reading results ------------------------------------------------------------------

@dataclass(frozen=True)
class _Result:
    """What the solve figures need: Metrics.to_dict() and, when known, the architecture."""

    metrics: dict[str, Any]
    architecture: dict[str, Any] | None
    name: str | None
    partitioned: bool | None
    file: str | None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(read_input_text(path))
    except json.JSONDecodeError as exc:
        raise InstanceError(f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
                            path=str(path)) from None


def _number(doc: Mapping[str, Any], key: str, file: str | None, where: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InstanceError(f"expected a finite number, found {quote(value)}", path=file, field=f"{where}.{key}")
    return float(value)


def _check_metrics(doc: Any, file: str | None) -> dict[str, Any]:
    """``doc`` is a Metrics.to_dict() with what the figures read; else InstanceError naming the field."""
    if not isinstance(doc, dict) or not isinstance(doc.get("phases"), dict) or not doc["phases"]:
        raise InstanceError("expected the metrics of a solve (Metrics.to_dict(), as metrics.json holds) with "
                            "at least one phase", path=file, field="phases")
    for key in ("iteration_time", "latency_per_token", "expected_tokens"):
        _number(doc, key, file, "metrics")
    for phase, p in doc["phases"].items():
        where = f"phases.{phase}"
        if not isinstance(p, dict):
            raise InstanceError(f"expected an object, found {quote(p)}", path=file, field=where)
        for key in ("step_time", "layer_time", "collective_time", "elementwise_time", "head_time"):
            _number(p, key, file, where)
        if isinstance(p.get("steps"), bool) or not isinstance(p.get("steps"), int) or p["steps"] < 1:
            raise InstanceError(f"expected a whole number ≥ 1, found {quote(p.get('steps'))}", path=file,
                                field=f"{where}.steps")
        tiers = p.get("tier_times")
        if not isinstance(tiers, list):
            raise InstanceError(f"expected a list of times (s), found {quote(tiers)}", path=file,
                                field=f"{where}.tier_times")
        for i, t in enumerate(tiers):
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
                raise InstanceError(f"expected a time ≥ 0 (s), found {quote(t)}", path=file,
                                    field=f"{where}.tier_times[{i}]")
        ops = p.get("operators")
        if not isinstance(ops, list):
            raise InstanceError(f"expected a list of operators, found {quote(ops)}", path=file,
                                field=f"{where}.operators")
        for i, o in enumerate(ops):
            at = f"{where}.operators[{i}]"
            if not isinstance(o, dict) or not isinstance(o.get("name"), str) or o.get("engine") not in ("host", "pim"):
                raise InstanceError("expected an operator with a name and an engine (host or pim)", path=file,
                                    field=at)
            for key in ("time", "host_busy"):
                _number(o, key, file, at)
            for key in ("tier", "channels", "first_channel"):
                v = o.get(key)
                if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                    raise InstanceError(f"expected a whole number ≥ 0 or null, found {quote(v)}", path=file,
                                        field=f"{at}.{key}")
        placed = {o["tier"] for o in ops if o.get("tier") is not None}
        if len(placed) != len(tiers):
            raise InstanceError(f"{len(tiers)} tier times for {len(placed)} tiers of operators", path=file,
                                field=f"{where}.tier_times")
    return doc


def _partitioned(arch: Mapping[str, Any]) -> bool:
    n, d, t = arch.get("pim_channels", 0), arch.get("draft_channels", 0), arch.get("target_channels", 0)
    return not (n > 0 and d == n and t == n)


def _architecture(doc: Any, file: str | None) -> dict[str, Any] | None:
    arch = doc.get("architecture") if isinstance(doc, dict) else None
    if not isinstance(arch, dict):
        return None
    for key in ("pim_channels", "draft_channels", "target_channels"):
        v = arch.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InstanceError(f"expected a whole number ≥ 0, found {quote(v)}", path=file,
                                field=f"architecture.{key}")
    return arch


def _result_from_folder(folder: Path) -> _Result:
    metrics_file = folder / "metrics.json"
    if not metrics_file.is_file():
        hint = "; it is written by specpim solve -o (rerun it to add it)" if (folder / "mapping.json").is_file() \
            else ""
        raise InstanceError(f"no metrics.json in this folder{hint}", path=str(folder))
    metrics = _check_metrics(_read_json(metrics_file), str(metrics_file))
    arch, name = None, None
    mapping_file = folder / "mapping.json"
    if mapping_file.is_file():
        doc = _read_json(mapping_file)
        arch = _architecture(doc, str(mapping_file))
        name = doc.get("instance") if isinstance(doc, dict) and isinstance(doc.get("instance"), str) else None
    return _Result(metrics, arch, name, _partitioned(arch) if arch else None, str(metrics_file))


def _result(source: Any) -> _Result:
    """A Solution, Metrics, their dicts (Metrics.to_dict(), ``solve --json``), or a folder or metrics.json path."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            return _result_from_folder(path)
        if path.name == "metrics.json" and path.is_file():
            return _result_from_folder(path.parent)
        raise InstanceError("expected a folder written by specpim solve -o (holding metrics.json)", path=str(path))
    if hasattr(source, "mapping") and hasattr(source, "metrics") and hasattr(source, "instance"):   # a Solution
        if source.metrics is None or source.mapping is None:
            raise InstanceError(f"the solution has no design to plot (status {source.status})", field="solution")
        inst = source.instance
        return _Result(_check_metrics(source.metrics.to_dict(), None), source.mapping.architecture.to_dict(),
                       inst.name, inst.design_space.partitioned, None)
    if hasattr(source, "phases") and hasattr(source, "to_dict"):   # Metrics
        return _Result(_check_metrics(source.to_dict(), None), None, None, None, None)
    if isinstance(source, dict):
        if isinstance(source.get("metrics"), dict):   # solve --json
            arch = _architecture({"architecture": source.get("design")}, None)
            name = source.get("instance") if isinstance(source.get("instance"), str) else None
            return _Result(_check_metrics(source["metrics"], None), arch, name,
                           _partitioned(arch) if arch else None, None)
        return _Result(_check_metrics(source, None), None, None, None, None)
    raise InstanceError(f"expected a Solution, Metrics, their dict or a result folder, found {quote(source)}",
                        field="source")


# -- latency breakdown ----------------------------------------------------------------

def _parts(p: Mapping[str, Any]) -> dict[str, float]:
    """One step's time split: the tiers of every layer, element-wise work, collectives, the LM head (s)."""
    elementwise, collectives, head = p["elementwise_time"], p["collective_time"], p["head_time"]
    return {"layers": max(p["step_time"] - elementwise - collectives - head, 0.0), "elementwise": elementwise,
            "collectives": collectives, "head": head}


def plot_breakdown(source: Any, ax: Axes | None = None) -> Figure:
    """The time of one iteration, phase by phase: draft steps × step time and
    the verify step, each split into layer GEMMs (the tiers of every layer),
    element-wise work, collectives and the LM head.

    ``source``: a Solution, Metrics, Metrics.to_dict(), the ``solve --json``
    object, or a folder written by ``specpim solve -o``.  Each part is one
    bar segment (gid ``"<phase>:<part>"``).
    """
    res = _result(source)
    phases = list(res.metrics["phases"].items())
    if ax is None:
        fig, (ax,) = _figure(8.5, 1.9 + 0.55 * len(phases))
    else:
        fig = _root(ax)
    ends = []
    for i, (name, p) in enumerate(phases):
        left = 0.0
        for key, label, colour in _PARTS:
            width = p["steps"] * _parts(p)[key] * 1e3
            ax.barh(i, width, left=left, height=0.6, color=colour, edgecolor="white", linewidth=0.5,
                    label=label if i == 0 else "_nolegend_", gid=f"{name}:{key}")
            left += width
        ends.append(left)
        ax.text(left, i, f"  {p['steps']} × {p['step_time'] * 1e3:.3f} ms", va="center", fontsize=8)
    ax.set_yticks(range(len(phases)),
                  [f"{name}\n({p['steps']} step{'s' if p['steps'] > 1 else ''})" for name, p in phases])
    ax.invert_yaxis()
    ax.set_xlim(0, max(ends, default=1.0) * 1.3 or 1.0)
    ax.set_xlabel("time per iteration (ms)")
    m = res.metrics
    ax.set_title(f"{res.name + ': ' if res.name else ''}iteration {m['iteration_time'] * 1e3:.3f} ms, "
                 f"E[tokens] {m['expected_tokens']:.3f}, latency {m['latency_per_token'] * 1e3:.3f} ms/token",
                 fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


# -- placement -------------------------------------------------------------------------

def _phase_channels(res: _Result, phase: str) -> tuple[int, int, int]:
    """(first channel, channel count) of ``phase``'s PIM channels, and the PIM channels of the device."""
    ops = [o for p in res.metrics["phases"].values() for o in p["operators"] if o["engine"] == "pim"]
    used = max(((o.get("first_channel") or 0) + (o.get("channels") or 0) for o in ops), default=0)
    arch = res.architecture
    if arch is None:
        return 0, used, used
    total = max(arch["pim_channels"], used)
    if not res.partitioned:
        return 0, arch["pim_channels"], total
    if phase == "verify":
        return arch["draft_channels"], arch["target_channels"], total
    return 0, arch["draft_channels"], total


def _colours(res: _Result) -> dict[str, Any]:
    _matplotlib()
    from matplotlib import colormaps

    names = list(dict.fromkeys(o["name"] for p in res.metrics["phases"].values() for o in p["operators"]))
    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def _label(ax: Axes, text: str, x: float, y: float, width: float, height: float, span: tuple[float, float]) -> None:
    """``text`` centred in a bar: turned upright when the bar is too narrow for it and tall enough."""
    fig = _root(ax)
    axes_w = fig.get_figwidth() * 72 * 0.85                     # points
    axes_h = fig.get_figheight() * 72 / max(len(fig.axes), 1) * 0.6
    wide, tall = width / span[0] * axes_w, height / span[1] * axes_h
    size = 7 if max(wide, tall) >= len(text) * 7 * 0.6 else 5   # a smaller font where neither way fits
    upright = wide < len(text) * size * 0.6 and tall > wide
    ax.text(x + width / 2, y + height / 2, text, ha="center", va="center", fontsize=size,
            rotation=90 if upright else 0, clip_on=True)


def _draw_phase(ax: Axes, res: _Result, phase: str, colours: Mapping[str, Any]) -> None:
    from matplotlib.patches import Rectangle

    p = res.metrics["phases"][phase]
    ops = [o for o in p["operators"] if o.get("tier") is not None]
    head = next((o for o in p["operators"] if o.get("tier") is None), None)
    tiers = sorted({o["tier"] for o in ops})
    starts, t0 = {}, 0.0
    for tier, duration in zip(tiers, p["tier_times"], strict=True):
        starts[tier] = t0
        t0 += duration * 1e6
    layer = p["layer_time"] * 1e6
    span_x = max(layer, t0) or 1.0
    first, count, total = _phase_channels(res, phase)
    lane = max(1.0, 0.18 * total) if total else 1.0
    gap = 0.3 * lane if total else 0.0
    host_y = -gap - lane
    span_y = total - host_y
    # The phase's own PIM channels, and those of the other model (static partition).
    if total:
        ax.add_patch(Rectangle((0, 0), span_x, total, facecolor="none", edgecolor="#bbbbbb", hatch="////",
                               linewidth=0, gid="other-channels"))
        if count:
            ax.add_patch(Rectangle((0, first), span_x, count, facecolor="#f7f7f7", edgecolor="none",
                                   gid="phase-channels"))
        if count < total:
            other = (first + count, total) if first == 0 else (0, first)
            owner = "PIM channels of the other phase" if len(res.metrics["phases"]) > 1 else "other PIM channels"
            if res.partitioned and len(res.metrics["phases"]) > 1:
                owner = f"PIM channels of the {'verify' if first == 0 else 'draft'} phase"
            ax.text(span_x * 0.99, (other[0] + other[1]) / 2, owner, ha="right",
                    va="center", fontsize=7, color="#777777", clip_on=True)
    ax.add_patch(Rectangle((0, host_y), span_x, lane, facecolor="#f7f7f7", edgecolor="none", gid="host-lane"))
    labelled = -math.inf
    for tier in tiers:
        members = [o for o in ops if o["tier"] == tier]
        start = starts[tier]
        ax.axvline(start, color="#999999", linewidth=0.6, linestyle=":")
        if start - labelled >= 0.015 * span_x:   # tier numbers over the plot, where they do not collide
            ax.text(start, 1.01, f"tier {tier}" if labelled == -math.inf else str(tier),
                    transform=ax.get_xaxis_transform(), fontsize=6, ha="left", va="bottom", color="#555555")
            labelled = start
        cursor = start
        # the host issues the tier's offloads (and any softmax it runs for them), then runs its own operators
        for o in sorted(members, key=lambda o: o["engine"] != "pim"):
            busy = o["host_busy"] * 1e6
            if o["engine"] == "pim":
                if busy > 0:
                    ax.add_patch(Rectangle((cursor, host_y), busy, lane, facecolor=colours[o["name"]], alpha=0.35,
                                           edgecolor="none", hatch="xxx", gid=f"host-busy:{o['name']}"))
                lo = first if o.get("first_channel") is None else o["first_channel"]
                width, height = o["time"] * 1e6, o.get("channels") or 0
                ax.add_patch(Rectangle((start, lo), width, height, facecolor=colours[o["name"]], alpha=0.9,
                                       edgecolor="black", linewidth=0.5, gid=f"op:{o['name']}"))
                _label(ax, o["name"], start, lo, width, height, (span_x, span_y))
            else:
                width = o["time"] * 1e6
                ax.add_patch(Rectangle((cursor, host_y), width, lane, facecolor=colours[o["name"]], alpha=0.9,
                                       edgecolor="black", linewidth=0.5, gid=f"op:{o['name']}"))
                _label(ax, o["name"], cursor, host_y, width, lane, (span_x, span_y))
            cursor += busy
    rest = layer - t0
    if rest > 1e-9 * span_x:
        ax.add_patch(Rectangle((t0, host_y), rest, lane, facecolor="#d9d9d9", edgecolor="black", linewidth=0.5,
                               gid="rest"))
        _label(ax, "element-wise + collectives", t0, host_y, rest, lane, (span_x, span_y))
        ax.axvline(t0, color="#999999", linewidth=0.6, linestyle=":")
    ax.set_xlim(0, span_x)
    ax.set_ylim(total if total else 0.0, host_y)   # host on top, channel 0 under it
    bounds = sorted({0, first, first + count, total, *(
        b for o in ops if o["engine"] == "pim" and o.get("first_channel") is not None
        for b in (o["first_channel"], o["first_channel"] + (o.get("channels") or 0)))} if total else set())
    if len(bounds) > 12:
        step = math.ceil(len(bounds) / 12)
        bounds = bounds[::step]
    ax.set_yticks([host_y + lane / 2, *bounds], ["host", *(str(b) for b in bounds)], fontsize=8)
    if total:
        ax.set_ylabel("PIM channel", fontsize=8)
    offloads = any(o["engine"] == "pim" and o["host_busy"] > 0 for o in ops)
    ax.set_xlabel("time within one layer (µs)" + ("; cross-hatched on the host lane: the host's part of a PIM "
                                                   "offload" if offloads else ""), fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    steps = p["steps"]
    where = "no LM head"
    if head is not None:
        on = f"PIM channels {head.get('first_channel') or 0}–" \
             f"{(head.get('first_channel') or 0) + (head.get('channels') or 0) - 1}" if head["engine"] == "pim" \
            else "the host"
        where = f"LM head {head['time'] * 1e6:.2f} µs on {on}, once per step"
    ax.set_title(f"{phase} phase: one layer, {layer:.2f} µs ({steps} step{'s' if steps > 1 else ''} per "
                 f"iteration; {where})", fontsize=9, loc="left", pad=12)


def plot_placement(source: Any, phase: str | None = None, ax: Axes | None = None) -> Figure:
    """Where and when each operator of one layer runs: a host lane above the
    PIM channels (by physical channel range), time within one layer along x.

    Tier k starts when tiers 0…k−1 end (PhaseMetrics.tier_times); each bar
    lasts its operator's own time (OperatorMetrics.time).  PIM operators span
    their physical channels; the host part of an offload (issue, a softmax on
    the host) is a hatched segment on the host lane; after the tiers come the
    layer's element-wise work and all-reduces.  One bar per operator (gid
    ``"op:<name>"``); the LM head, once per step, is in the title.  All
    phases, one panel each, unless ``phase`` names one (needed with ``ax``).
    """
    res = _result(source)
    names = list(res.metrics["phases"])
    if phase is not None and phase not in names:
        raise InstanceError(f"no phase {quote(phase)}; the result has {names}", field="phase")
    chosen = [phase] if phase is not None else names
    if ax is not None and len(chosen) != 1:
        raise InstanceError(f"one axes holds one phase: pass phase= one of {names}", field="phase")
    if ax is None:
        fig, axes = _figure(10, 2.9 * len(chosen), rows=len(chosen))
    else:
        fig, axes = _root(ax), [ax]
    colours = _colours(res)
    for a, name in zip(axes, chosen, strict=True):
        _draw_phase(a, res, name, colours)
    if ax is None and res.name:
        fig.suptitle(f"{res.name}: placement and schedule of one layer", fontsize=10)
    return fig


# -- tables: sweeps and Pareto fronts ---------------------------------------------------

@dataclass(frozen=True)
class _Table:
    columns: list[str]
    rows: list[dict[str, Any]]
    file: str | None


def _read_csv(path: Path) -> _Table:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    except FileNotFoundError:
        raise InstanceError("file not found", path=str(path)) from None
    except IsADirectoryError:
        raise InstanceError("is a folder, not a file", path=str(path)) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InstanceError(f"cannot read the table: {getattr(exc, 'strerror', None) or exc}", path=str(path)) \
            from None
    if not columns:
        raise InstanceError("the table is empty: expected a header line of column names", path=str(path))
    return _Table(columns, rows, str(path))


def _table(data: Any, default_file: str) -> _Table:
    """A pandas DataFrame, a CSV path (or its folder), or a sequence of row mappings."""
    if isinstance(data, _Table):
        return data
    if isinstance(data, (str, Path)):
        path = Path(data)
        return _read_csv(path / default_file if path.is_dir() else path)
    if hasattr(data, "to_dict") and hasattr(data, "columns"):   # a pandas DataFrame
        return _Table([str(c) for c in data.columns], [{str(k): v for k, v in r.items()}
                                                       for r in data.to_dict(orient="records")], None)
    if isinstance(data, Sequence) and all(isinstance(r, Mapping) for r in data):
        columns = list(dict.fromkeys(str(k) for r in data for k in r))
        return _Table(columns, [{str(k): v for k, v in r.items()} for r in data], None)
    raise InstanceError(f"expected a pandas DataFrame, a CSV file or a list of rows, found {quote(data)}",
                        field="data")


def _value(v: Any) -> float | None:
    """A cell as a finite number, or None (empty, NaN, text)."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return None
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def _kept(table: _Table) -> list[dict[str, Any]]:
    """Rows of a solved point: status optimal or feasible (all rows when there is no status column)."""
    if "status" not in table.columns:
        return list(table.rows)
    return [r for r in table.rows if str(r.get("status", "")).strip().lower() in KEPT_STATUSES]


def _column(table: _Table, name: Any, option: str, what: str) -> str:
    if isinstance(name, str) and name in table.columns:
        return name
    close = difflib.get_close_matches(str(name), table.columns, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; the columns are {', '.join(table.columns)}"
    raise InstanceError(f"no {what} column {quote(name)} in the table{hint}", path=table.file, field=option)


def swept_axes(columns: Iterable[str]) -> list[str]:
    """The swept axes among a results.csv's columns: those between ``scenario`` and ``status`` when the
    table has both (the sweep's layout), else the dotted paths (``workload.batch``, ...) and the columns
    marked ``(swept)`` (an axis whose name is also a result column's)."""
    columns = list(columns)
    if "scenario" in columns and "status" in columns and columns.index("scenario") < columns.index("status"):
        return columns[columns.index("scenario") + 1:columns.index("status")]
    return [c for c in columns if ("." in c or c.endswith(" (swept)")) and c not in METRICS]


def _missing(v: Any) -> bool:
    """An empty cell: None, "", NaN, pandas' NA."""
    if v is None or (isinstance(v, str) and not v):
        return True
    try:
        return bool(v != v)   # NaN
    except (TypeError, ValueError):   # pandas.NA refuses to be a bool
        return True


def _metric_label(name: str) -> tuple[str, float]:
    if name in METRICS:
        return METRICS[name]
    for prefix, label in _RATIO_PREFIXES.items():
        if name.startswith(prefix):
            return label.format(name[len(prefix):]), 1.0
    for metric in ("latency_s_per_token", "energy_j_per_token"):   # a baseline's own figures
        if name.endswith(f"_{metric}"):
            label, scale = METRICS[metric]
            return f"{name[:-len(metric) - 1]} {label}", scale
    return name, 1.0


def _shown(v: Any) -> str:
    f = _value(v)
    return f"{f:g}" if f is not None else str(v)


def plot_sweep(data: Any, x: str, y: str, hue: str | None = None, ax: Axes | None = None) -> Figure:
    """A metric against one swept axis, one line per value of ``hue``.

    ``data``: a pandas DataFrame, a results.csv (or its folder) or a list of
    row dicts, with one column per swept dotted path (``workload.batch``) and
    metric columns (latency_s_per_token, throughput_tokens_per_s,
    energy_j_per_token, area_mm2, objective, speedup_vs_<baseline>,
    energy_gain_vs_<baseline>, status).  Rows whose status is not optimal or
    feasible, or without a value of ``x`` or ``y``, are skipped.  Other swept
    axes that vary split the lines further (named in the legend).  Latency
    and energy are drawn in ms and mJ per token.
    """
    table = _table(data, SWEEP_FILE)
    x = _column(table, x, "x", "swept")
    y = _column(table, y, "y", "metric")
    hue = _column(table, hue, "hue", "swept") if hue is not None else None
    rows = [r for r in _kept(table) if _value(r.get(y)) is not None and not _missing(r.get(x))]
    if not rows:
        raise InstanceError(f"no row with a solved point (status optimal or feasible) and a value of {y!r}",
                            path=table.file, field="status")
    numeric = all(_value(r[x]) is not None for r in rows)
    positions: dict[str, float] = {}
    if not numeric:   # categories, in order of first appearance
        for r in rows:
            positions.setdefault(str(r[x]), float(len(positions)))
    others = [c for c in swept_axes(table.columns) if c not in (x, hue)
              and len({str(r.get(c)) for r in rows}) > 1]
    keys = ([hue] if hue else []) + others
    lines: dict[tuple[str, ...], list[tuple[float, float]]] = {}
    for r in rows:
        key = tuple(str(r.get(k)) for k in keys)
        xv = _value(r[x]) if numeric else positions[str(r[x])]
        lines.setdefault(key, []).append((xv, _value(r[y])))   # type: ignore[arg-type]
    label, scale = _metric_label(y)
    if ax is None:
        fig, (ax,) = _figure(7, 4.5)
    else:
        fig = _root(ax)

    def order(key: tuple[str, ...]) -> tuple[Any, ...]:
        return tuple((0, _value(k), "") if _value(k) is not None else (1, 0.0, k) for k in key)

    for key in sorted(lines, key=order):
        pts = sorted(lines[key])
        name = ", ".join(f"{k} = {_shown(v)}" if k != hue else _shown(v) for k, v in zip(keys, key, strict=True))
        ax.plot([p[0] for p in pts], [p[1] * scale for p in pts], marker="o", markersize=4,
                label=name or "_nolegend_")
    if not numeric:
        ax.set_xticks(list(positions.values()), list(positions))
    ax.set_xlabel(x)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    if keys:
        ax.legend(title=", ".join(k for k in keys if k == hue) or None, fontsize=8, title_fontsize=8)
    ax.set_title(f"{label} against {x}", fontsize=10)
    return fig


def _front(points: list[tuple[float, float]], max_x: bool, max_y: bool) -> list[tuple[float, float]]:
    """The 2-D non-dominated points, in order along x from best."""
    sx, sy = (-1 if max_x else 1), (-1 if max_y else 1)
    best, front = math.inf, []
    for px, py in sorted(points, key=lambda p: (sx * p[0], sy * p[1])):
        if sy * py < best:
            best = sy * py
            front.append((px, py))
    return front


def plot_pareto(data: Any, x: str = "latency_s_per_token", y: str = "energy_j_per_token",
                color: str | None = "area_mm2", ax: Axes | None = None) -> Figure:
    """A Pareto front: every point of pareto.csv in two of its objectives, the
    2-D front through them as a step line, and a third objective (area, by
    default) as the colour of the points when it varies.

    ``data``: a pandas DataFrame, a pareto.csv (or its folder) or a list of
    row dicts with the columns point, latency_s_per_token,
    energy_j_per_token, area_mm2, throughput_tokens_per_s, pim_option,
    pim_channels, draft_channels, target_channels, draft_len, status.
    Throughput is maximised, the other objectives minimised.
    """
    table = _table(data, PARETO_FILE)
    x = _column(table, x, "x", "objective")
    y = _column(table, y, "y", "objective")
    rows = [r for r in _kept(table) if _value(r.get(x)) is not None and _value(r.get(y)) is not None]
    if not rows:
        raise InstanceError(f"no row with a solved point (status optimal or feasible) and values of {x!r} and "
                            f"{y!r}", path=table.file, field="status")
    (xl, xs), (yl, ys) = _metric_label(x), _metric_label(y)
    pts = [(_value(r[x]) * xs, _value(r[y]) * ys) for r in rows]   # type: ignore[operator]
    if ax is None:
        fig, (ax,) = _figure(7, 4.8)
    else:
        fig = _root(ax)
    colours: list[float] | None = None
    if color is not None and color in table.columns and color not in (x, y):
        values = [_value(r.get(color)) for r in rows]
        if all(v is not None for v in values) and len(set(values)) > 1:
            colours = [v for v in values if v is not None]
    front = _front(pts, x in _MAXIMISED, y in _MAXIMISED)
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="#555555", linewidth=1,
            label="front in these two objectives", zorder=1)
    if colours is not None:
        cl, _ = _metric_label(color or "")
        sc = ax.scatter([p[0] for p in pts], [p[1] for p in pts], c=colours, cmap="viridis", s=36,
                        edgecolors="black", linewidths=0.5, zorder=2, label="designs")
        fig.colorbar(sc, ax=ax, label=cl)
    else:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=36, edgecolors="black", linewidths=0.5,
                   zorder=2, label="designs")
    if len(rows) <= 40:
        for r, (px, py) in zip(rows, pts, strict=True):
            name = r.get("point")
            if not _missing(name):
                ax.annotate(_shown(name), (px, py), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    third = f", colour: {color}" if colours is not None else ""
    ax.set_title(f"Pareto front: {len(rows)} designs ({x} and {y}{third})", fontsize=10)
    return fig


# -- specpim plot RESULT_DIR ---------------------------------------------------------------

def parse_formats(text: str) -> tuple[str, ...]:
    """``"png,svg"`` → ("png", "svg"); anything else is bad input naming --format."""
    items = [t.strip().lower() for t in str(text).split(",")]
    bad = [t for t in items if t not in FORMATS]
    if not items or bad or not all(items):
        raise InstanceError(f"expected a comma-separated list of {', '.join(FORMATS)}, found {quote(text)}",
                            field="--format")
    return tuple(dict.fromkeys(items))


def _save_all(figures: dict[str, Figure], out: Path, formats: Sequence[str]) -> list[Path]:
    """Write every figure in every format, all replaced together (``specpim.core.files``)."""
    from matplotlib import rc_context

    def writer(fig: Figure, fmt: str) -> Callable[[str], None]:
        def write(tmp: str) -> None:
            with rc_context({"svg.hashsalt": "specpim"}):   # the same figure gives the same SVG
                fig.savefig(tmp, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
        return write

    writers = {f"{name}.{fmt}": writer(fig, fmt) for name, fig in figures.items() for fmt in formats}
    return replace_files(out, writers, what="the figures")


def plot_directory(result_dir: str | Path, outdir: str | Path | None = None, *, x: str | None = None,
                   y: str | None = None, hue: str | None = None,
                   formats: Sequence[str] = FORMATS) -> list[Path]:
    """Draw what ``result_dir`` holds and write the figures to ``outdir``
    (default: ``result_dir``); return the files written.

    * metrics.json (and mapping.json) of ``specpim solve -o``: breakdown and placement;
    * results.csv of a sweep: sweep (``y`` against ``x``, one line per ``hue``);
    * pareto.csv of ``specpim pareto``: pareto (``x`` and ``y`` objectives, area as colour).

    Defaults: ``x`` the first swept axis, ``hue`` the second, ``y``
    latency_s_per_token; for a Pareto front latency and energy.  With both
    tables, ``x``/``y`` apply to the sweep.  Figures of an earlier run are
    replaced (each file atomically).
    """
    if isinstance(result_dir, str) and not result_dir:
        raise InstanceError("expected the name of a result folder, found an empty name", field="RESULT_DIR")
    folder = Path(result_dir)
    if not folder.exists():
        raise InstanceError("no such folder", path=str(folder))
    if not folder.is_dir():
        raise InstanceError("is not a folder: expected the folder written by specpim solve -o, a sweep or "
                            "specpim pareto", path=str(folder))
    has_solve = any((folder / f).is_file() for f in SOLVE_FILES)
    has_sweep, has_pareto = (folder / SWEEP_FILE).is_file(), (folder / PARETO_FILE).is_file()
    if not (has_solve or has_sweep or has_pareto):
        raise InstanceError("nothing to plot: the folder holds none of metrics.json (specpim solve -o), "
                            "results.csv (a sweep), pareto.csv (specpim pareto)", path=str(folder))
    if not (has_sweep or has_pareto):
        given = next((f"--{k}" for k, v in (("x", x), ("y", y), ("hue", hue)) if v is not None), None)
        if given:
            raise InstanceError("applies to sweeps (results.csv) and Pareto fronts (pareto.csv); the folder holds "
                                "neither", field=given)
    if isinstance(outdir, str) and not outdir:   # -o '' (an unset variable) is refused, not read as "."
        raise InstanceError("expected the name of a folder, found an empty name (an unset variable?)",
                            field="-o/--outdir")
    out = folder if outdir is None else Path(outdir)
    check_folder(out)
    formats = parse_formats(",".join(formats))
    figures: dict[str, Figure] = {}
    if has_solve:
        figures["breakdown"] = plot_breakdown(folder)
        figures["placement"] = plot_placement(folder)
    if has_sweep:
        table = _read_csv(folder / SWEEP_FILE)
        axes = swept_axes(table.columns)
        sx = x if x is not None else (axes[0] if axes else None)
        if sx is None:
            raise InstanceError("no swept axis (a column named by a dotted path, e.g. workload.batch); give --x",
                                path=table.file, field="--x")
        sy = y if y is not None else "latency_s_per_token"
        sh = hue if hue is not None else next((a for a in axes if a != sx), None) if x is None else None
        _column(table, sx, "--x", "swept")
        _column(table, sy, "--y", "metric")
        if sh is not None:
            _column(table, sh, "--hue", "swept")
        figures["sweep"] = plot_sweep(table, sx, sy, sh)
    if has_pareto:
        table = _read_csv(folder / PARETO_FILE)
        px, py = "latency_s_per_token", "energy_j_per_token"
        if not has_sweep:
            if hue is not None:
                raise InstanceError("applies to sweeps (results.csv); a Pareto front has no lines to split",
                                    field="--hue")
            px, py = x or px, y or py
            _column(table, px, "--x", "objective")
            _column(table, py, "--y", "objective")
        figures["pareto"] = plot_pareto(table, px, py)
    return _save_all(figures, out, formats)


__all__ = ["PlotDependencyError", "plot_breakdown", "plot_directory", "plot_pareto", "plot_placement",
           "plot_sweep", "swept_axes"]
