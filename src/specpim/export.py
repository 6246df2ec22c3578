"""Writing results to disk: mapping.json, mapping.yaml, operators.csv, metrics.json, model.lp.

Guarantees:

* every file is written to a temporary file in its destination folder and
  renamed into place, so a failed or interrupted run never leaves a partial
  file (only complete old or complete new ones);
* all files of a result are written first and renamed last, so the window
  in which the folder mixes two runs is a few renames long; every file to
  be replaced or removed is checked (not a folder, not read-only) before
  the first one is;
* a new file gets the permissions any new file gets (0666 less the umask),
  a replaced one keeps the permission bits it had;
* existing results are replaced only with ``force=True``, and that check,
  with the check that the folder can be written at all, happens before any
  solving (``check_outputs``).

Problems with the output location raise InstanceError naming the folder
(exit code 2); a write that fails on the way (no space left, a read-only
file system) raises OutputError (exit code 6) with the same guarantees.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from .core.errors import InstanceError, OutputError, os_error_message
from .core.interrupts import deferred

OUTPUT_FILES = ("mapping.json", "mapping.yaml", "operators.csv", "metrics.json", "model.lp")


def _unusable(out: Path, names: Iterable[str]) -> str | None:
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


def check_outputs(outdir: str | Path, force: bool) -> None:
    """Refuse, before solving, an output folder that cannot be used, or one
    holding results that ``force`` does not allow to replace."""
    if isinstance(outdir, str) and not outdir:
        raise InstanceError("expected the name of a folder, found an empty name (an unset variable?)",
                            field="-o/--outdir")
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise InstanceError("exists and is not a folder", path=str(out))
    existing = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise InstanceError(f"cannot create this folder: {existing} is a file", path=str(out))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InstanceError(f"cannot write in {existing} (permission denied)", path=str(out))
    if out.is_dir():
        problem = _unusable(out, OUTPUT_FILES)
        if problem:
            raise InstanceError(f"cannot replace the results there: {problem}", path=str(out))
    clash = [f for f in OUTPUT_FILES if (out / f).exists()]
    if clash and not force:
        raise InstanceError(f"would overwrite {', '.join(clash)}; pass --force to replace them", path=str(out))


def _umask() -> int:
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


def _mode_for(path: Path) -> int:
    """Permission bits for ``path``'s new content: those of the file it replaces, or 0666 less the umask."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~_umask()


def _temp_beside(path: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return tmp


def _staged(path: Path, write: Callable[[str], None]) -> str:
    """Write ``path``'s content to a temporary file beside it, with the
    permission bits ``path`` will have; return that file."""
    tmp = _temp_beside(path)
    try:
        write(tmp)
        os.chmod(tmp, _mode_for(path))   # mkstemp makes 0600 files
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return tmp


def _text_writer(content: str | Callable[[io.TextIOBase], None]) -> Callable[[str], None]:
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
        tmp = _staged(path, _text_writer(write))
        try:
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        raise OutputError(f"{path}: {os_error_message(exc, path.parent)}") from None


def mapping_document(solution) -> dict[str, Any]:
    """What mapping.json/.yaml hold: the instance, status, objective and the mapping."""
    return {
        "instance": solution.instance.name,
        "status": str(solution.status),
        "objective": solution.to_dict(timings=False)["objective"],
        **solution.mapping.to_dict(),
    }


def operators_rows(solution) -> list[dict[str, Any]]:
    rows = []
    for phase, pm in solution.metrics.phases.items():
        for op in pm.operators:
            rows.append({"phase": phase, "operator": op.name, "tier": "" if op.tier is None else op.tier,
                         "engine": op.engine, "channels": op.channels, "time_us": f"{op.time * 1e6:.6g}",
                         "energy_uj": f"{op.energy * 1e6:.6g}", "gflops": f"{op.flops / 1e9:.6g}",
                         "memory_mb": f"{op.memory_bytes / 1e6:.6g}", "intensity": f"{op.intensity:.6g}"})
    return rows


def write_outputs(solution, outdir: str | Path) -> list[Path]:
    """Write the result files of a solution with a mapping; return their paths.

    Results of an earlier run that this one does not produce (model.lp from
    another solver) are removed, so the folder never mixes two runs.
    """
    if isinstance(outdir, str) and not outdir:
        raise InstanceError("expected the name of a folder, found an empty name", field="outdir")
    out = Path(outdir)
    if solution.mapping is None:
        return []
    doc = mapping_document(solution)
    rows = operators_rows(solution)

    def write_csv(fh):
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    writers: dict[str, Callable[[str], None]] = {
        "mapping.json": _text_writer(json.dumps(doc, indent=2, sort_keys=False) + "\n"),
        "mapping.yaml": _text_writer(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)),
        "operators.csv": _text_writer(write_csv),
        # Metrics.to_dict(): per-phase step, tier, head and collective times and every operator's
        # own time, which the figures of `specpim plot` read.
        "metrics.json": _text_writer(json.dumps(solution.metrics.to_dict(), indent=2) + "\n"),
    }
    if solution._write_model is not None:
        writers["model.lp"] = solution.write_model
    return replace_results(out, writers, OUTPUT_FILES)


def replace_results(out: Path, writers: dict[str, Callable[[str], None]], owned: Iterable[str]) -> list[Path]:
    """Write every file of ``writers`` (names relative to ``out``) to a
    temporary file beside it, then rename them all into place, signals held;
    files of ``owned`` (earlier results of the same kind) that this run does
    not write are removed, so the folder never mixes two runs."""
    owned = list(owned)
    staged: dict[Path, str] = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, write in writers.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            staged[out / name] = _staged(out / name, write)
        # Every file to replace or remove must allow it before the first is touched.
        problem = _unusable(out, [*writers, *owned])
        if problem:
            raise InstanceError(f"cannot replace the results there: {problem}; nothing was replaced",
                                path=str(out))
        with deferred():   # a signal now would leave old and new files side by side
            for final, tmp in staged.items():
                os.replace(tmp, final)
            for name in owned:
                if name not in writers and (out / name).exists():
                    (out / name).unlink()
                    parent = (out / name).parent
                    if parent != out and not any(parent.iterdir()):
                        parent.rmdir()
    except OSError as exc:
        raise OutputError(f"cannot write the results: {os_error_message(exc, out)}") from None
    finally:
        for tmp in staged.values():
            if os.path.exists(tmp):
                os.unlink(tmp)
    return list(staged)


PARETO_FILES = ("pareto.csv", "pareto.json")


def pareto_outputs(outdir: str | Path) -> list[str]:
    """The files a Pareto front's results hold in ``outdir`` (relative names)."""
    out = Path(outdir)
    points = sorted(str(p.relative_to(out)) for p in out.glob("points/*/mapping.json")) if out.is_dir() else []
    return [*PARETO_FILES, *points]


def check_pareto_outputs(outdir: str | Path, force: bool) -> None:
    """``check_outputs`` for the results of ``specpim pareto``."""
    check_outputs(outdir, True)
    out = Path(outdir)
    clash = [f for f in PARETO_FILES if (out / f).exists()]
    if clash and not force:
        raise InstanceError(f"would overwrite {', '.join(clash)}; pass --force to replace them", path=str(out))


def write_pareto(front, outdir: str | Path) -> list[Path]:
    """pareto.csv (one row per point), pareto.json (with every point's mapping
    and metrics) and points/NNNN/mapping.json, replaced together."""
    out = Path(outdir)
    rows = front.rows()
    columns = list(rows[0]) if rows else ["point", "latency_s_per_token", "energy_j_per_token", "area_mm2",
                                          "throughput_tokens_per_s", "pim_option", "pim_channels",
                                          "draft_channels", "target_channels", "draft_len", "status"]

    def write_csv(fh):
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        w.writerows({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows)

    writers: dict[str, Callable[[str], None]] = {
        "pareto.csv": _text_writer(write_csv),
        "pareto.json": _text_writer(json.dumps(front.to_dict(), indent=2) + "\n"),
    }
    for i, p in enumerate(front.points):
        doc = {"instance": front.instance.name, "status": "optimal", **p.mapping.to_dict()}
        writers[f"points/{i:04d}/mapping.json"] = _text_writer(json.dumps(doc, indent=2) + "\n")
    return replace_results(out, writers, pareto_outputs(out))
