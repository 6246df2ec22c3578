"""Parameter sweeps: one solve per scenario, in parallel, resumable.

    df = specpim.sweep("instances/tiny.yaml", {"workload.batch": [1, 8, 32],
                                               "speculation.acceptance": [0.6, 0.8]})

A sweep starts from a base instance (a file or a dict) and a list of axes,
each a dotted field path of the instance file (``workload.batch``,
``system.pim_options[0].area``, ``target``) with its values.  The scenarios
are the Cartesian product of the axes (first axis slowest), or with
``zip=True`` their values paired one by one.  Each scenario is the base with
its values put in, loaded and validated like any instance file, and solved
by :func:`specpim.api.solve` as ``specpim solve`` solves it alone (the same
optimum and design; one CBC process at a time, see below): nothing is
shared between scenarios but identical instances (same key), which are
solved once.

The result is a pandas DataFrame with one row per scenario, in scenario
order (columns: :func:`columns`).  A scenario that is not a valid instance,
or that is infeasible, gets a row with its one-line ``error``; it never
stops the sweep.

With an output folder the sweep also writes, per scenario with a design,
``scenarios/NAME/mapping.json`` (as ``specpim solve -o`` writes it), and at
the end ``results.csv`` and ``results.parquet``, atomically.  Every finished
scenario is appended to ``journal.jsonl`` first (one JSON line, flushed), so
an interrupted sweep keeps all it finished; ``resume=True`` reads the
journal back and solves only the scenarios whose key it lacks.  The key is a
hash of the specpim version, the resolved instance (canonical JSON of the
validated Instance, after the overrides) and the options that change a
result (time limit, baselines): changing the base instance or the version
makes old rows stale, and they are solved again.

Scenarios run in local processes (every core by default) or as tasks of a
Ray cluster (``backend="ray"``).  Each solve runs one CBC process at a time,
which makes its answer independent of timing: where several mappings reach
the same optimum, the one returned never depends on the number of workers
or the backend.  See docs/sweeps.md.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import copy
import dataclasses
import difflib
import enum
import hashlib
import itertools
import json
import math
import multiprocessing
import numbers
import os
import re
import signal
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import pandas as pd
import yaml

from specpim import __version__
from specpim.api import Solution, _check_time_limit, solve
from specpim.core.enums import Status
from specpim.core.errors import (
    InstanceError,
    OutputError,
    SolverError,
    SpecpimError,
    escape_controls,
    os_error_message,
    quote,
)
from specpim.core.files import atomic_write, replace_files
from specpim.core.interrupts import Terminated, deferred
from specpim.evaluation.baselines import DESCRIPTIONS
from specpim.export import check_outputs, mapping_document
from specpim.problem.instance import Instance
from specpim.problem.loader import _StrictLoader, build_instance, read_yaml
from specpim.problem.schema import INSTANCE
from specpim.problem.validation import SchemaValidator

RESULT_FILES = ("results.csv", "results.parquet")
JOURNAL = "journal.jsonl"
SCENARIOS = "scenarios"          # OUTDIR/scenarios/NAME/mapping.json
_JOURNAL_FORMAT = 1

BASELINES = tuple(DESCRIPTIONS)  # column order of the baselines
DESIGN_COLUMNS = ("pim_option", "pim_channels", "draft_channels", "target_channels", "draft_len")
METRIC_COLUMNS = ("latency_s_per_token", "throughput_tokens_per_s", "energy_j_per_token", "area_mm2")
TIMING_COLUMNS = ("build_s", "solve_s")
# What a scenario's row says when it has no solver status of its own.
INVALID, ERROR = "invalid", "error"
SOLVED = (str(Status.OPTIMAL), str(Status.FEASIBLE))

# CBC processes each solve runs at a time (see sweep()).
CBC_WORKERS = 1

_INT_COLUMNS = ("pim_channels", "draft_channels", "target_channels", "draft_len")
_TEXT_COLUMNS = ("scenario", "status", "pim_option", "error", "key")


def baseline_columns(name: str) -> list[str]:
    return [f"{name}_latency_s_per_token", f"{name}_energy_j_per_token", f"speedup_vs_{name}",
            f"energy_gain_vs_{name}"]


def columns(axes: Sequence[str], baselines: Iterable[str] = BASELINES) -> list[str]:
    """The columns of a sweep's table, in order, for the axis columns ``axes``."""
    return ["scenario", *axes, "status", "objective", "gap", *DESIGN_COLUMNS, *METRIC_COLUMNS,
            *(c for b in baselines for c in baseline_columns(b)), *TIMING_COLUMNS, "error", "key"]


# -- axes: dotted field paths ------------------------------------------------------------

_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)((?:\[[0-9]+\])*)")
_INDEX = re.compile(r"\[([0-9]+)\]")


@dataclass(frozen=True)
class Axis:
    """One swept field: its dotted path (as written), the path's steps, and its values."""

    name: str
    steps: tuple[str | int, ...]
    values: tuple[Any, ...]


def parse_path(text: Any, where: str, file: str | None = None) -> tuple[str | int, ...]:
    """``workload.batch`` → ("workload", "batch"); ``system.pim_options[0].area`` → (..., 0, "area")."""
    if not isinstance(text, str) or not text:
        raise InstanceError(f"expected a field path such as workload.batch, found {quote(text)}", path=file,
                            field=where)
    steps: list[str | int] = []
    for part in text.split("."):
        m = _PART.fullmatch(part)
        if m is None:
            raise InstanceError(f"expected a dotted field path such as workload.batch or "
                                f"system.pim_options[0].area, found {quote(text)}", path=file, field=where)
        steps.append(m.group(1))
        steps.extend(int(i) for i in _INDEX.findall(m.group(2)))
    return tuple(steps)


def _branches(schemas: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for s in schemas:
        out.extend(_branches(s["anyOf"]) if "anyOf" in s else [s])
    return out


def _shown(steps: Sequence[str | int]) -> str:
    text = ""
    for s in steps:
        text += f"[{s}]" if isinstance(s, int) else (f".{s}" if text else s)
    return text


def check_path(steps: tuple[str | int, ...], where: str, file: str | None = None) -> None:
    """Refuse a path that names no field of an instance file (a typo), with a did-you-mean."""
    schemas: list[dict[str, Any]] = [INSTANCE]
    for i, step in enumerate(steps):
        here = _shown(steps[:i]) or "the instance"
        branches = _branches(schemas)
        if isinstance(step, int):
            schemas = [b["items"] for b in branches if b.get("type") == "array" and "items" in b]
            if not schemas:
                raise InstanceError(f"{here} is not a list; it has no item [{step}]", path=file, field=where)
            continue
        objects = [b for b in branches if b.get("type") == "object"]
        schemas = [b["properties"][step] for b in objects if step in b.get("properties", {})]
        if not schemas:
            if not objects:
                raise InstanceError(f"{here} is a single value; it has no field {step!r}", path=file, field=where)
            known = sorted({k for b in objects for k in b.get("properties", {})})
            close = difflib.get_close_matches(step, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(known)}"
            raise InstanceError(f"unknown key {step!r} in {here}{hint}", path=file, field=where)


def _schema_at(steps: Sequence[str | int]) -> list[dict[str, Any]]:
    schemas: list[dict[str, Any]] = [INSTANCE]
    for step in steps:
        branches = _branches(schemas)
        if isinstance(step, int):
            schemas = [b["items"] for b in branches if b.get("type") == "array" and "items" in b]
        else:
            schemas = [b["properties"][step] for b in branches
                       if b.get("type") == "object" and step in b.get("properties", {})]
    return _branches(schemas)


def _expand(value: str, steps: Sequence[str | int]) -> dict[str, Any] | None:
    """A preset name (or an objective's metric) written out as the mapping that means the same,
    so that one of its fields can be set: ``llama2-7b`` → {preset: llama2-7b}."""
    props = {k for b in _schema_at(steps) if b.get("type") == "object" for k in b.get("properties", {})}
    if "preset" in props:
        return {"preset": value}
    if "metric" in props:
        return {"metric": value}
    return None


def apply_value(data: dict[str, Any], axis: Axis, value: Any, where: str, file: str | None) -> None:
    """Put ``value`` at the axis's path in ``data`` (a parsed instance file), in place."""
    node: Any = data
    steps = axis.steps
    for i, step in enumerate(steps[:-1]):
        nxt = steps[i + 1]
        here = _shown(steps[:i + 1])
        if isinstance(step, int):
            child = node[step]
        else:
            child = node.get(step)
        if isinstance(nxt, int):
            if not isinstance(child, list) or nxt >= len(child):
                have = f"a list of {len(child)}" if isinstance(child, list) else found_text(child)
                raise InstanceError(f"the base instance has no {here}[{nxt}] (it has {have})", path=file,
                                    field=where)
        elif child is None:
            child = {}
        elif isinstance(child, str):
            expanded = _expand(child, steps[:i + 1])
            if expanded is None:
                raise InstanceError(f"{here} is the preset {child!r} in the base instance; its fields cannot be "
                                    "set one by one: write it out as fields there", path=file, field=where)
            child = expanded
        elif not isinstance(child, dict):
            raise InstanceError(f"{here} is {found_text(child)} in the base instance, not a mapping of fields",
                                path=file, field=where)
        node[step] = child
        node = child
    last = steps[-1]
    if isinstance(last, int) and (not isinstance(node, list) or last >= len(node)):
        raise InstanceError(f"the base instance has no {_shown(steps)}", path=file, field=where)
    node[last] = copy.deepcopy(value)


def found_text(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return quote(value)


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``PATH=V1,V2,…`` from the command line → (PATH, [values]); values are YAML (numbers are numbers)."""
    path, eq, values = text.partition("=")
    where = f"--set {path}" if eq else "--set"
    if not eq or not path:
        raise InstanceError(f"expected PATH=V1,V2,… (e.g. workload.batch=1,8,32), found {quote(text)}", field=where)
    try:
        parsed = yaml.load(f"[{values}]", Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InstanceError(f"cannot read the values {quote(values)} as YAML: {problem} (quote a value that holds "
                            "a comma or a colon)", field=where) from None
    if not isinstance(parsed, list) or not parsed:
        raise InstanceError(f"expected at least one value after '=', found {quote(values)}", field=where)
    return path, parsed


# -- the study: a base instance and its axes --------------------------------------------

_STUDY_SCHEMA = SchemaValidator({
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "label"},
        "description": {"type": "string", "description": "free text"},
        "base": {"anyOf": [{"type": "string", "description": "path of an instance file, relative to this file"},
                           {"type": "object", "description": "an instance, written inline"}],
                 "description": "the instance every scenario starts from"},
        "axes": {"type": "object",
                 "additionalProperties": {"type": "array", "minItems": 1,
                                          "description": "the values of this field"},
                 "description": "field path → list of values"},
        "zip": {"type": "boolean", "description": "pair the axes' values instead of taking their product"},
    },
    "required": ["base", "axes"],
    "additionalProperties": False,
}, "a sweep file must be a mapping with base and axes")


@dataclass
class Study:
    """What a sweep solves: the base instance (parsed), where it came from, its axes."""

    base: dict[str, Any]
    file: str | None            # the base instance file (or the sweep file holding it inline)
    base_dir: Path
    axes: list[Axis]
    zip: bool

    @property
    def default_name(self) -> str:
        return Path(self.file).stem if self.file else "instance"


def is_study(data: Any) -> bool:
    """A sweep file, not an instance: it has axes (or a base, which no instance has)."""
    return isinstance(data, dict) and ("axes" in data or "base" in data)


def load_study(source: str | Path | dict[str, Any]) -> Study:
    """A sweep file (or its parsed dict): ``base`` (a path, relative to the file, or inline),
    ``axes`` (field path → list of values) and optional ``zip``."""
    if isinstance(source, dict):
        data, file, folder = source, None, Path.cwd()
    else:
        file = str(source)
        data = read_yaml(Path(source))
        folder = Path(source).resolve().parent
    _STUDY_SCHEMA.validate(data, file)
    if not data["axes"]:
        raise InstanceError("expected at least one axis (field path → list of values), found none", path=file,
                            field="axes")
    axes = []
    for name, values in data["axes"].items():
        where = f"axes.{name}"
        axes.append(Axis(name, _checked_path(name, where, file), tuple(values)))
    base = data["base"]
    if isinstance(base, str):
        if "\0" in base:
            raise InstanceError("a file name cannot hold a NUL character", path=file, field="base")
        path = Path(base).expanduser()
        path = path if path.is_absolute() else folder / path
        base_data = read_yaml(path)
        study = Study(_instance_data(base_data, str(path)), str(path), path.resolve().parent, axes,
                      bool(data.get("zip", False)))
    else:
        study = Study(base, file, folder, axes, bool(data.get("zip", False)))
    return study


def _checked_path(name: Any, where: str, file: str | None) -> tuple[str | int, ...]:
    steps = parse_path(name, where, file)
    check_path(steps, where, file)
    return steps


def _instance_data(data: Any, file: str | None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InstanceError(f"an instance must be a mapping of fields, found {found_text(data)}", path=file)
    return data


def make_study(base: Any, axes: Any, zip_axes: bool) -> Study:
    """The study of ``sweep(base, axes, zip=...)``: ``base`` an instance (path or dict) or a sweep
    file (path or dict with ``axes``), whose axes ``axes`` extends (the same path replaces one)."""
    if isinstance(base, os.PathLike):
        base = os.fspath(base)
    if isinstance(base, str):
        if "\0" in base:
            raise InstanceError(f"expected the path of an instance or sweep file, found {quote(base)}: a file "
                                "name cannot hold a NUL character", field="base")
        data = read_yaml(Path(base))
        study = load_study(base) if is_study(data) else \
            Study(_instance_data(data, base), base, Path(base).resolve().parent, [], False)
    elif isinstance(base, dict):
        study = load_study(base) if is_study(base) else Study(base, None, Path.cwd(), [], False)
    else:
        raise InstanceError(f"expected the path of an instance or sweep file, or a dict, found {found_text(base)}",
                            field="base")
    if axes is not None:
        if not isinstance(axes, dict):
            raise InstanceError(f"expected a dict of field path → list of values, found {found_text(axes)}",
                                field="axes")
        extra = []
        for name, values in axes.items():
            where = f"axes[{quote(name)}]"
            steps = _checked_path(name, where, None)
            if isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
                raise InstanceError(f"expected a list of values, found {found_text(values)}", field=where)
            values = tuple(values)
            if not values:
                raise InstanceError("expected at least one value, found an empty list", field=where)
            extra.append(Axis(name, steps, values))
        names = {a.name for a in extra}
        study.axes = [a for a in study.axes if a.name not in names] + extra
    study.zip = study.zip or bool(zip_axes)
    if not study.axes:
        raise InstanceError("nothing to sweep: give at least one axis (a field path with a list of values; "
                            "on the command line --set PATH=V1,V2,…)", field="axes")
    return study


# -- scenarios ------------------------------------------------------------------------

@dataclass
class Scenario:
    index: int
    name: str                   # folder name: 0003-workload.batch=16
    values: tuple[Any, ...]     # one per axis
    key: str
    instance: Instance | None   # None: not a valid instance
    error: str | None = None


def value_combinations(study: Study) -> list[tuple[Any, ...]]:
    lists = [a.values for a in study.axes]
    if not study.zip:
        return list(itertools.product(*lists))
    lengths = {a.name: len(a.values) for a in study.axes}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n} has {k}" for n, k in lengths.items())
        raise InstanceError(f"pairing the axes' values one by one needs as many values on every axis; {shown}",
                            field="zip")
    return list(zip(*lists, strict=True))


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=10 ** 6).strip().removesuffix("...").strip() \
        if isinstance(value, (list, dict)) else repr(value) if isinstance(value, float) else str(value)


_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+\-\[\]]+")


def scenario_name(index: int, width: int, axes: Sequence[Axis], values: Sequence[Any]) -> str:
    """A folder name that says what the scenario is and is unique: ``0003-workload.batch=16``."""
    text = ",".join(f"{a.name}={_value_text(v)}" for a, v in zip(axes, values, strict=True))
    text = _UNSAFE.sub("_", text)[:150]
    return f"{index:0{width}d}-{text}"


def _canonical(obj: Any) -> Any:
    """JSON-ready, order-independent form of an instance's value (its dataclasses, enums, tuples)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for fld in dataclasses.fields(obj):
            if fld.name.startswith("_") or not fld.compare:
                continue
            out[fld.name] = _canonical(getattr(obj, fld.name))
        return out
    if isinstance(obj, enum.Enum):
        return _canonical(obj.value)
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, numbers.Real):
        f = float(obj)
        return f if math.isfinite(f) else repr(f)
    return repr(obj)


def instance_key(inst: Instance, options: dict[str, Any]) -> str:
    """The scenario key: a hash of the specpim version, the resolved instance and the options that
    change a result.  Where the instance came from is left out (the same instance from two files is
    one scenario), unless it names a cost-model module, which is looked up in its folder."""
    doc = _canonical(inst)
    doc.pop("source", None)
    if inst.cost_model is None:
        doc.pop("base_dir", None)
    return _hash({"specpim": __version__, "instance": doc, "options": options})


def _hash(doc: Any) -> str:
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def make_scenarios(study: Study, options: dict[str, Any]) -> list[Scenario]:
    combos = value_combinations(study)
    width = max(4, len(str(len(combos) - 1)))
    out = []
    for i, values in enumerate(combos):
        name = scenario_name(i, width, study.axes, values)
        data = copy.deepcopy(study.base)
        try:
            for axis, value in zip(study.axes, values, strict=True):
                apply_value(data, axis, value, axis.name, study.file)
            inst = build_instance(data, file=study.file, base=study.base_dir, default_name=study.default_name)
        except InstanceError as exc:
            key = _hash({"specpim": __version__, "invalid": data, "file": study.file})
            out.append(Scenario(i, name, values, key, None, str(exc)))
            continue
        out.append(Scenario(i, name, values, instance_key(inst, options), inst))
    return out


# -- one scenario's solve (in this process, a worker process or a Ray task) ---------------

@dataclass(frozen=True)
class Task:
    key: str
    instance: Instance
    time_limit: float | None
    baselines: bool
    allow_imports: bool
    cbc_workers: int


@dataclass
class Outcome:
    key: str
    result: dict[str, Any]          # the row's solver part: status ... error
    mapping: dict[str, Any] | None  # what mapping.json holds, when there is a design


def _one_line(text: str) -> str:
    return escape_controls(" ".join(text.split()))


def result_row(sol: Solution, time_limit: float | None = None) -> dict[str, Any]:
    """The row of a solved scenario (without its axis values, scenario name and key)."""
    design, m = sol.design, sol.metrics
    row: dict[str, Any] = {"status": str(sol.status), "objective": sol.objective, "gap": sol.gap}
    if design is not None:
        row.update(pim_option=design.pim_option or "none", pim_channels=design.pim_channels,
                   draft_channels=design.draft_channels, target_channels=design.target_channels,
                   draft_len=design.draft_len)
    if m is not None:
        row.update(latency_s_per_token=m.latency_per_token, throughput_tokens_per_s=m.throughput,
                   energy_j_per_token=m.energy_per_token, area_mm2=m.area)
    ratios = sol.speedups()
    for name, b in sol.baselines.items():
        row[f"{name}_latency_s_per_token"] = b.metrics.latency_per_token if b.metrics else None
        row[f"{name}_energy_j_per_token"] = b.metrics.energy_per_token if b.metrics else None
        row[f"speedup_vs_{name}"] = ratios[name]["speedup"]
        row[f"energy_gain_vs_{name}"] = ratios[name]["energy_gain"]
    row["build_s"], row["solve_s"] = sol.build_s, sol.solve_s
    if sol.status == Status.INFEASIBLE:
        row["error"] = _one_line(f"infeasible: {sol.diagnosis}")
    elif sol.mapping is None:
        within = f" within the time limit of {time_limit:g} s" if time_limit is not None else ""
        bound = f"; it proved that no design does better than {sol.bound:.6g}" if sol.bound is not None else ""
        row["error"] = f"no solution found{within}{bound}"
    return row


def solve_task(task: Task) -> Outcome:
    """Solve one scenario as ``specpim solve`` would; errors become the row's ``error``."""
    try:
        sol = solve(task.instance, time_limit=task.time_limit, baselines=task.baselines,
                    allow_imports=task.allow_imports, workers=task.cbc_workers)
    except InstanceError as exc:
        return Outcome(task.key, {"status": INVALID, "error": _one_line(str(exc))}, None)
    except SpecpimError as exc:   # solver trouble in this scenario
        return Outcome(task.key, {"status": ERROR, "error": _one_line(str(exc))}, None)
    doc = mapping_document(sol) if sol.mapping is not None else None
    return Outcome(task.key, result_row(sol, task.time_limit), doc)


# A signal that arrives during a fork() (every CBC start forks) is handled at the first
# Python step after it, which is a fork handler; Python cannot raise from there and only
# prints "Exception ignored".  Such a stop is kept here and raised at the next check.
_swallowed: BaseException | None = None


def _unraisable(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    def catch(unraisable: Any) -> None:
        global _swallowed
        if isinstance(unraisable.exc_value, (Terminated, KeyboardInterrupt)):
            _swallowed = _swallowed or unraisable.exc_value
            return
        hook(unraisable)
    return catch


@contextlib.contextmanager
def _stops_kept() -> Iterator[None]:
    global _swallowed
    previous = sys.unraisablehook
    sys.unraisablehook = _unraisable(previous)
    _swallowed = None
    try:
        yield
    finally:
        sys.unraisablehook = previous


def _check_stop() -> None:
    """Raise a stop (SIGTERM, Ctrl-C) that landed where it could not be raised."""
    global _swallowed
    if _swallowed is not None:
        stop, _swallowed = _swallowed, None
        raise stop


# Worker processes of the local backend.  Ctrl-C reaches the whole process group: the
# workers ignore it and the parent stops them with SIGTERM, on which a worker in the
# middle of a solve lets the solver kill CBC and remove its files, then exits (the
# parent repeats SIGTERM until it does: see _stop_pool).
_busy = False
_stopping = False


def _worker_sigterm(signum: int, _frame: FrameType | None) -> None:
    global _stopping
    if _busy:
        if _stopping and _swallowed is None:
            return   # the stop is under way: let its cleanup finish
        _stopping = True
        raise Terminated(signum)
    os._exit(128 + signum)


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_sigterm)
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="pulp")
    if sys.platform.startswith("linux"):   # a worker never outlives the sweep, even one killed with SIGKILL
        try:
            import ctypes
            import ctypes.util

            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _worker_task(task: Task) -> Outcome:
    global _busy
    _busy = True
    try:
        outcome = solve_task(task)
        _check_stop()
        return outcome
    except Terminated as stop:   # CBC was killed and its folder removed on the way here
        os._exit(128 + stop.signum)
    finally:
        _busy = False


def _ray_task(task: Task) -> Outcome:
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="pulp")
    return solve_task(task)


def default_workers() -> int:
    """Every core this process may use."""
    count = getattr(os, "process_cpu_count", None)
    if count is not None:
        return max(1, count() or 1)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


Done = Callable[[Outcome], None]
_POLL_S = 0.25


def _run_serial(tasks: list[Task], done: Done) -> None:
    for task in tasks:
        outcome = solve_task(task)
        _check_stop()
        done(outcome)


def _process_context() -> multiprocessing.context.BaseContext:
    # fork: workers start at once with specpim loaded, and need no `if __name__ == "__main__"`
    # in the caller's script; elsewhere (no fork) spawn, the platform's default.
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _stop_pool(pool: cf.ProcessPoolExecutor) -> None:
    """End every worker now, then the pool.  SIGTERM makes a worker stop its CBC, remove
    its files and exit; it is sent again while a worker lives (a SIGTERM that arrives while
    the worker forks is only noted there), and after five tries the worker is killed."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for _ in range(5):
        alive = [p for p in processes if p.is_alive()]
        if not alive:
            break
        for p in alive:
            try:
                p.terminate()
            except (OSError, ValueError, AttributeError):
                pass
        for p in alive:
            p.join(timeout=1.0)
    for p in processes:
        if p.is_alive():
            p.kill()
            p.join(timeout=5)
    pool.shutdown(wait=True, cancel_futures=True)


def _broken(what: str) -> SolverError:
    return SolverError(f"a {what} of the sweep ended unexpectedly (killed, or out of memory?); the scenarios "
                       "finished so far are kept: run the sweep again with resume (--resume) to complete it")


def _run_local(tasks: list[Task], workers: int, done: Done) -> None:
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=_process_context(), initializer=_worker_init)
    try:
        order = {}
        for i, task in enumerate(tasks):
            order[pool.submit(_worker_task, task)] = i
        pending = set(order)
        while pending:
            finished, pending = cf.wait(pending, timeout=_POLL_S, return_when=cf.FIRST_COMPLETED)
            _check_stop()
            for fut in sorted(finished, key=order.__getitem__):
                try:
                    outcome = fut.result()
                except cf.process.BrokenProcessPool:
                    raise _broken("worker process") from None
                done(outcome)
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


def ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise InstanceError("the Ray backend needs Ray, which is not installed; install it with: "
                            "pip install 'specpim[ray]'", field="backend") from None
    return ray


def _run_ray(tasks: list[Task], address: str | None, done: Done) -> None:
    ray = ray_module()
    started = False
    if not ray.is_initialized():
        import logging

        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = f"at {address}" if address else "locally"
            raise InstanceError(f"cannot start or reach a Ray cluster {where}: {_one_line(str(exc))[:300]}",
                                field="address") from None
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        refs = [remote.remote(task) for task in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=len(pending), timeout=_POLL_S)
                _check_stop()
                for ref in sorted(ready, key=index.__getitem__):
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        if isinstance(exc, ray.exceptions.RayTaskError):
                            raise SolverError(f"a Ray task of the sweep failed: {_one_line(str(exc))[:300]}") \
                                from None
                        raise _broken("Ray worker") from None
                    done(outcome)
        except BaseException:
            for ref in pending:
                try:
                    ray.cancel(ref)
                except Exception:   # already finished or gone: nothing to stop
                    pass
            raise
    finally:
        if started:
            ray.shutdown()


# -- the output folder ----------------------------------------------------------------

class OutputFolder:
    """OUTDIR of a sweep: the journal of finished scenarios (appended, one JSON line each,
    flushed), each scenario's mapping.json, and results.csv/.parquet (written at the end,
    atomically).  The journal is locked while a sweep writes to the folder."""

    def __init__(self, outdir: str | Path, resume: bool):
        if isinstance(outdir, os.PathLike):
            outdir = os.fspath(outdir)
        if not isinstance(outdir, str):
            raise InstanceError(f"expected the name of a folder, found {found_text(outdir)}", field="outdir")
        check_outputs(outdir, force=True)   # usable: a folder (or creatable), writable
        self.path = Path(outdir)
        present = [n for n in (JOURNAL, *RESULT_FILES) if (self.path / n).exists()]
        if present and not resume:
            raise InstanceError(f"holds the results of a sweep ({', '.join(present)}); pass --resume (resume=True) "
                                "to complete or update them, or choose another folder", path=str(self.path))
        for name in (JOURNAL, *RESULT_FILES, SCENARIOS):
            target = self.path / name
            want_dir = name == SCENARIOS
            if target.exists() and not target.is_symlink() and target.is_dir() != want_dir:
                raise InstanceError(f"{name} is {'not ' if want_dir else ''}a folder; remove or rename it",
                                    path=str(self.path))
            if target.exists() and not os.access(target, os.W_OK):
                raise InstanceError(f"{name} is read-only; make it writable or remove it", path=str(self.path))
        self.entries: dict[str, Outcome] = {}
        self._fh: IO[str] | None = None
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._open()
        except OSError as exc:
            self.close()
            raise OutputError(f"cannot write the sweep's journal: {os_error_message(exc, self.path)}") from None

    def _open(self) -> None:
        journal = self.path / JOURNAL
        fh = open(journal, "a+", encoding="utf-8")
        self._fh = fh
        try:
            import fcntl

            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise InstanceError("another sweep is writing to this folder (its journal.jsonl is locked); wait "
                                    "for it or choose another folder", path=str(self.path)) from None
        except ImportError:   # no fcntl (Windows): no lock
            pass
        fh.seek(0)
        text = fh.read()
        lines = text.split("\n")
        if text and not text.endswith("\n"):   # a line cut short by a crash: drop it, append after the rest
            keep = text.rfind("\n") + 1
            fh.truncate(keep)
            lines = text[:keep].split("\n")
        lines = [ln for ln in lines if ln.strip()]
        if not lines:
            fh.seek(0, os.SEEK_END)
            fh.write(json.dumps({"specpim_sweep_journal": _JOURNAL_FORMAT, "specpim": __version__}) + "\n")
            fh.flush()
            return
        try:
            head = json.loads(lines[0])
        except ValueError:
            head = None
        if not isinstance(head, dict) or "specpim_sweep_journal" not in head:
            raise InstanceError(f"{JOURNAL} is not the journal of a specpim sweep; remove it or choose another "
                                "folder", path=str(self.path))
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                outcome = Outcome(str(entry["key"]), dict(entry["result"]), entry.get("mapping"))
            except (ValueError, KeyError, TypeError):
                continue   # not a complete entry: that scenario is solved again
            self.entries[outcome.key] = outcome
        fh.seek(0, os.SEEK_END)

    def mapping_path(self, scenario: Scenario) -> Path:
        return self.path / SCENARIOS / scenario.name / "mapping.json"

    def write_mapping(self, scenario: Scenario, doc: dict[str, Any], only_missing: bool = False) -> None:
        path = self.mapping_path(scenario)
        if only_missing and path.is_file():
            return
        atomic_write(path, json.dumps(doc, indent=2, sort_keys=False) + "\n")

    def record(self, outcome: Outcome, scenarios: Sequence[Scenario]) -> None:
        """A finished scenario: its mapping.json files first, then its journal line; a signal
        waits until both are on disk.  Solver trouble and an instance refused by the solve
        (a cost model that needs --allow-imports) are not kept: a resumed sweep tries again."""
        assert self._fh is not None
        if outcome.result["status"] in (ERROR, INVALID):
            return
        line = json.dumps({"key": outcome.key, "result": outcome.result, "mapping": outcome.mapping},
                          separators=(",", ":"))
        with deferred():
            if outcome.mapping is not None:
                for s in scenarios:
                    self.write_mapping(s, outcome.mapping)
            try:
                self._fh.write(line + "\n")
                self._fh.flush()
            except OSError as exc:
                raise OutputError(f"cannot write the sweep's journal: {os_error_message(exc, self.path)}") \
                    from None
        self.entries[outcome.key] = outcome

    def write_results(self, frame: pd.DataFrame) -> None:
        """results.csv and results.parquet: both staged beside their place, then renamed together."""
        replace_files(self.path, {
            "results.csv": lambda tmp: frame.to_csv(tmp, index=False),
            "results.parquet": lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow"),
        })

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()   # releases the lock
            self._fh = None


# -- the table ------------------------------------------------------------------------

def _axis_series(values: list[Any]) -> pd.Series:
    """An axis column with one type: numbers, text or true/false; anything else (lists,
    mappings, mixed kinds) as its YAML flow text."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pd.Series(values, dtype="boolean")
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pd.Series(values, dtype="Int64")
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pd.Series([math.nan if v is None else float(v) for v in values], dtype="float64")
    return pd.Series([None if v is None else _value_text(v) for v in values], dtype="string")


def make_frame(study: Study, scenarios: Sequence[Scenario], results: dict[str, Outcome],
               with_baselines: bool) -> pd.DataFrame:
    names = set(columns([]))
    axis_columns = [a.name if a.name not in names else f"{a.name} (swept)" for a in study.axes]
    rows = []
    for s in scenarios:
        if s.instance is None:
            part = {"status": INVALID, "error": s.error}
        else:
            part = results[s.key].result
        rows.append({**part, "scenario": s.name, "key": s.key})
    present = {k for r in rows for k in r}
    found = [b for b in BASELINES if f"speedup_vs_{b}" in present] if with_baselines else []
    extra = sorted(b.removeprefix("speedup_vs_") for b in present
                   if b.startswith("speedup_vs_") and b.removeprefix("speedup_vs_") not in BASELINES)
    cols = columns(axis_columns, [*found, *extra])
    data: dict[str, pd.Series] = {}
    for j, col in enumerate(axis_columns):
        data[col] = _axis_series([s.values[j] for s in scenarios])
    for col in cols:
        if col in data:
            continue
        values = [r.get(col) for r in rows]
        if col in _TEXT_COLUMNS:
            data[col] = pd.Series(values, dtype="string")
        elif col in _INT_COLUMNS:
            data[col] = pd.Series(values, dtype="Int64")
        else:
            data[col] = pd.Series([math.nan if v is None else float(v) for v in values], dtype="float64")
    return pd.DataFrame(data, columns=cols)


# -- the sweep ------------------------------------------------------------------------

def _check_workers(workers: Any) -> int | None:
    if workers is None:
        return None
    if not isinstance(workers, numbers.Integral) or isinstance(workers, bool) or not 1 <= int(workers) <= 4096:
        raise InstanceError(f"expected a whole number ≥ 1, found {quote(workers)}", field="workers")
    return int(workers)


def _progress_bar(show: bool | None, total: int, initial: int) -> Any:
    from tqdm import tqdm

    if show is None:
        stream = sys.stderr
        show = bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
    return tqdm(total=total, initial=initial, disable=not show, file=sys.stderr, unit="scenario",
                desc="sweep", dynamic_ncols=True, leave=True)


def _failed(status: str) -> bool:
    return status not in SOLVED


def sweep(base: str | Path | dict[str, Any], axes: dict[str, Sequence[Any]] | None = None, *, zip: bool = False,
          workers: int | None = None, backend: str = "local", address: str | None = None,
          outdir: str | Path | None = None, resume: bool = False, progress: bool | None = None,
          baselines: bool = True, time_limit: float | None = None, allow_imports: bool = False) -> pd.DataFrame:
    """Solve every scenario of a sweep; one row per scenario, in scenario order.

    ``base``: an instance (file path or dict) or a sweep file (path or dict with ``base``,
    ``axes`` and optional ``zip``).  ``axes``: field path → values (a sweep file's own axes
    come first; the same path replaces one).  ``zip``: pair the axes' values instead of
    taking their product.  ``workers``: local processes (default: every core);
    ``backend="ray"`` runs the scenarios on a Ray cluster instead (``address``, or the one
    ``ray.init`` finds or starts; an already initialised Ray is used as it is).
    ``outdir``: write results.csv, results.parquet, the journal and each scenario's
    mapping.json there; ``resume=True`` keeps what its journal holds and solves the rest.
    ``progress``: a progress bar on stderr (default: when stderr is a terminal).
    ``time_limit``: seconds for each scenario's solve.  ``baselines``, ``allow_imports``:
    as for :func:`specpim.solve`.

    Bad arguments, an unknown field path, axes that zip cannot pair, an unusable output
    folder, and a sweep none of whose scenarios is a valid instance raise InstanceError
    before anything is solved.  A scenario that is invalid or infeasible is a row with an
    ``error``.  An interrupted sweep (KeyboardInterrupt, or the CLI's Terminated) keeps
    every finished scenario in the journal.
    """
    study = make_study(base, axes, zip)
    limit = _check_time_limit(time_limit)
    n_workers = _check_workers(workers)
    if backend not in ("local", "ray"):
        raise InstanceError(f"expected 'local' or 'ray', found {quote(backend)}", field="backend")
    if address is not None and backend != "ray":
        raise InstanceError("an address applies to the Ray backend only (backend='ray')", field="address")
    if address is not None and (not isinstance(address, str) or not address):
        raise InstanceError(f"expected the address of a Ray cluster, found {quote(address)}", field="address")
    for name, flag in (("resume", resume), ("baselines", baselines), ("allow_imports", allow_imports)):
        if not isinstance(flag, bool):
            raise InstanceError(f"expected true or false, found {quote(flag)}", field=name)
    if progress is not None and not isinstance(progress, bool):
        raise InstanceError(f"expected true, false or None, found {quote(progress)}", field="progress")
    if resume and outdir is None:
        raise InstanceError("resume needs the output folder of the sweep (-o/--outdir)", field="resume")
    if backend == "ray":
        ray_module()

    options = {"time_limit": limit, "baselines": baselines}
    scenarios = make_scenarios(study, options)
    valid = [s for s in scenarios if s.instance is not None]
    if not valid:
        first = scenarios[0]
        raise InstanceError(f"no scenario is a valid instance; the first ({first.name}): {first.error}",
                            field="axes")
    out = OutputFolder(outdir, resume) if outdir is not None else None
    try:
        results: dict[str, Outcome] = {}
        by_key: dict[str, list[Scenario]] = {}
        for s in valid:
            by_key.setdefault(s.key, []).append(s)
        if out is not None:
            results.update({k: o for k, o in out.entries.items() if k in by_key})
            for key, outcome in results.items():   # mapping.json of journal rows, where missing
                if outcome.mapping is not None:
                    for s in by_key[key]:
                        out.write_mapping(s, outcome.mapping, only_missing=True)
        todo = [key for key in by_key if key not in results]
        if todo and backend == "local":
            from specpim.solvers.cbc import cbc_path

            cbc_path()   # a missing solver stops the sweep before any work
        if n_workers is None:
            n_workers = default_workers()
        parallel = backend == "ray" or (n_workers > 1 and len(todo) > 1)
        # One CBC process at a time in every solve, whatever runs around it: with two, the
        # order in which CBC runs end decides which incumbent later blocks are cut off with,
        # and so which of several equally good mappings is returned.  With one, the search is
        # sequential and its answer the same on any number of workers, on any backend.
        tasks = [Task(key, by_key[key][0].instance, limit, baselines, allow_imports,   # type: ignore[arg-type]
                      CBC_WORKERS) for key in todo]

        def count(statuses: Iterable[str]) -> tuple[int, int]:
            st = list(statuses)
            return sum(s == str(Status.OPTIMAL) for s in st), sum(_failed(s) for s in st)

        finished = [s for s in scenarios if s.instance is None or s.key in results]
        optimal, failed = count(INVALID if s.instance is None else results[s.key].result["status"]
                                for s in finished)

        def run(bar: Any) -> None:
            nonlocal optimal, failed

            def done(outcome: Outcome) -> None:
                nonlocal optimal, failed
                group = by_key[outcome.key]
                if out is not None:
                    out.record(outcome, group)
                results[outcome.key] = outcome
                status = outcome.result["status"]
                optimal += len(group) * (status == str(Status.OPTIMAL))
                failed += len(group) * _failed(status)
                bar.set_postfix({"optimal": optimal, "failed": failed}, refresh=False)
                bar.update(len(group))

            bar.set_postfix({"optimal": optimal, "failed": failed}, refresh=False)
            if not tasks:
                return
            if backend == "ray":
                _run_ray(tasks, address, done)
            elif parallel:
                _run_local(tasks, min(n_workers, len(tasks)), done)
            else:
                _run_serial(tasks, done)

        bar = None
        try:
            bar = _progress_bar(progress, len(scenarios), len(finished))
            with _stops_kept():
                run(bar)
        finally:
            if bar is not None:
                bar.close()
        frame = make_frame(study, scenarios, results, baselines)
        if out is not None:
            out.write_results(frame)
        return frame
    finally:
        if out is not None:
            out.close()


# -- the command line -------------------------------------------------------------------

def run_command(args: Any, out: Callable[[str | None], None], note: Callable[[str], None]) -> int:
    """``specpim sweep``: its exit code (0: every scenario has its row; 5: CBC failed in some)."""
    axes: dict[str, Sequence[Any]] = {}
    for text in args.set:
        path, values = parse_set(text)
        if path in axes:
            raise InstanceError("the same field is swept twice; give all its values in one --set",
                                field=f"--set {path}")
        steps = parse_path(path, f"--set {path}")
        check_path(steps, f"--set {path}")
        axes[path] = values
    limit = args.time_limit
    if limit is not None and not 0 < limit < math.inf:
        raise InstanceError(f"expected a finite number > 0 (seconds), found {limit}", field="--time-limit")
    if args.workers is not None and args.workers < 1:
        raise InstanceError(f"expected a whole number ≥ 1, found {args.workers}", field="--workers")
    if args.address is not None and args.backend != "ray":
        raise InstanceError("applies to --backend ray only", field="--address")
    if args.resume and args.outdir is None:
        raise InstanceError("--resume needs the output folder of the sweep: -o OUTDIR", field="--resume")
    if args.outdir is not None and args.outdir == "":
        raise InstanceError("expected the name of a folder, found an empty name (an unset variable?)",
                            field="-o/--outdir")
    try:
        frame = sweep(args.base, axes or None, zip=args.zip, workers=args.workers, backend=args.backend,
                      address=args.address, outdir=args.outdir, resume=args.resume,
                      progress=False if args.quiet else None, baselines=not args.no_baselines,
                      time_limit=limit, allow_imports=args.allow_imports)
    except (KeyboardInterrupt, Terminated):
        if args.outdir is not None and (Path(args.outdir) / JOURNAL).is_file():
            note(f"{args.outdir}: the finished scenarios are kept in {JOURNAL}; run the same command with "
                 "--resume to complete the sweep")
        raise
    statuses = frame["status"].tolist()
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    if args.outdir is None:
        out(frame.to_csv(index=False).rstrip("\n"))
    else:
        where = Path(args.outdir)
        out(f"specpim sweep · {len(frame)} scenarios: {summary} · {where / 'results.csv'}, "
            f"{where / 'results.parquet'}")
    if ERROR in counts:
        first = frame.loc[frame["status"] == ERROR, "error"].iloc[0]
        note(f"{counts[ERROR]} scenario(s) ended in solver trouble; the first: {first}")
        return SolverError.exit_code
    return 0
