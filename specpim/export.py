"""Writing results to disk: mapping.json, mapping.yaml, operators.csv, model.lp.

Every file is written to a temporary file in the same folder and renamed
into place, so an interrupted run never leaves a partial file.  Existing
files are replaced only with ``force=True``; the check happens before any
solving (``check_outputs``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import yaml

from .errors import InstanceError

OUTPUT_FILES = ("mapping.json", "mapping.yaml", "operators.csv", "model.lp")


def check_outputs(outdir: str | Path, force: bool) -> None:
    """Refuse, before solving, to overwrite existing results without ``force``."""
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise InstanceError("exists and is not a folder", path=str(out))
    clash = [f for f in OUTPUT_FILES if (out / f).exists()]
    if clash and not force:
        raise InstanceError(f"would overwrite {', '.join(clash)}; pass --force to replace them", path=str(out))


def atomic_write(path: Path, write: Callable[[io.TextIOBase], None] | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            if isinstance(write, str):
                fh.write(write)
            else:
                write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def mapping_document(solution) -> dict[str, Any]:
    """What mapping.json/.yaml hold: the instance, status, objective and the mapping."""
    return {
        "instance": solution.instance.name,
        "status": solution.status,
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
    out = Path(outdir)
    written = []
    if solution.mapping is None:
        return written
    doc = mapping_document(solution)
    atomic_write(out / "mapping.json", json.dumps(doc, indent=2, sort_keys=False) + "\n")
    atomic_write(out / "mapping.yaml", yaml.safe_dump(doc, sort_keys=False))
    rows = operators_rows(solution)

    def write_csv(fh):
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    atomic_write(out / "operators.csv", write_csv)
    written += [out / "mapping.json", out / "mapping.yaml", out / "operators.csv"]
    if solution._write_model is not None:
        fd, tmp = tempfile.mkstemp(prefix=".model.lp.", suffix=".tmp", dir=out)
        os.close(fd)
        try:
            solution.write_model(tmp)
            os.replace(tmp, out / "model.lp")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        written.append(out / "model.lp")
    return written
