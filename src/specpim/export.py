"""Writing results to disk: mapping.json, mapping.yaml, operators.csv, metrics.json, model.lp.

Every file follows the rules of ``specpim.core.files`` (staged beside its
final name, renamed with the other files of its result, signals held;
permissions of a new file or of the file replaced).  Existing results are
replaced only with ``force=True``, and that check, with the check that the
folder can be written at all, happens before any solving
(``check_outputs``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .core.errors import InstanceError
from .core.files import atomic_write, check_folder, replace_files, text_writer, unusable

__all__ = ["OUTPUT_FILES", "PARETO_FILES", "atomic_write", "check_outputs", "check_pareto_outputs",
           "mapping_document", "operators_rows", "pareto_outputs", "write_outputs", "write_pareto"]

OUTPUT_FILES = ("mapping.json", "mapping.yaml", "operators.csv", "metrics.json", "model.lp")


def check_outputs(outdir: str | Path, force: bool) -> None:
    """Refuse, before solving, an output folder that cannot be used, or one
    holding results that ``force`` does not allow to replace."""
    if isinstance(outdir, str) and not outdir:
        raise InstanceError("expected the name of a folder, found an empty name (an unset variable?)",
                            field="-o/--outdir")
    out = Path(outdir)
    check_folder(out)
    if out.is_dir():
        problem = unusable(out, OUTPUT_FILES)
        if problem:
            raise InstanceError(f"cannot replace the results there: {problem}", path=str(out))
    clash = [f for f in OUTPUT_FILES if (out / f).exists()]
    if clash and not force:
        raise InstanceError(f"would overwrite {', '.join(clash)}; pass --force to replace them", path=str(out))


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
        "mapping.json": text_writer(json.dumps(doc, indent=2, sort_keys=False) + "\n"),
        "mapping.yaml": text_writer(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)),
        "operators.csv": text_writer(write_csv),
        # Metrics.to_dict(): per-phase step, tier, head and collective times and every operator's
        # own time, which the figures of `specpim plot` read.
        "metrics.json": text_writer(json.dumps(solution.metrics.to_dict(), indent=2) + "\n"),
    }
    if solution._write_model is not None:
        writers["model.lp"] = solution.write_model
    return replace_files(out, writers, OUTPUT_FILES)


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
        "pareto.csv": text_writer(write_csv),
        "pareto.json": text_writer(json.dumps(front.to_dict(), indent=2) + "\n"),
    }
    for i, p in enumerate(front.points):
        doc = {"instance": front.instance.name, "status": "optimal", **p.mapping.to_dict()}
        writers[f"points/{i:04d}/mapping.json"] = text_writer(json.dumps(doc, indent=2) + "\n")
    return replace_files(out, writers, pareto_outputs(out))
