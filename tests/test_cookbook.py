"""docs/cookbook.md runs as written: its shell commands, its Python and its files.

The page is read top to bottom in a temporary folder that holds a copy of
instances/: a ``sh`` block runs in bash (errors stop it), a ``python`` block
runs in one namespace shared by the whole page, and a ``yaml`` block headed
by ``<!-- file: NAME -->`` is written to NAME.  Other blocks are shown, not
run.  Every block must succeed, so a recipe that drifts from the code fails
here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "cookbook.md"
BLOCK = re.compile(r"(?:<!-- file: (?P<file>[^ ]+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)\n```", re.S)


def blocks(text: str) -> list[tuple[str, str | None, str, int]]:
    """(language, file name, body, line) of every fenced block."""
    return [(m["lang"], m["file"], m["body"], text.count("\n", 0, m.start()) + 1) for m in BLOCK.finditer(text)]


def test_the_page_has_every_recipe():
    text = PAGE.read_text(encoding="utf-8")
    for title in ("Sweep the batch size", "Read results into pandas", "Add your own PIM device",
                  "Compare two designs", "Pin an architecture and optimise only the dataflow",
                  "Run a sweep on a Ray cluster"):
        assert f". {title}\n" in text, title
    langs = {lang for lang, *_ in blocks(text)}
    assert {"sh", "python", "yaml"} <= langs


def test_cookbook_runs(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    shutil.copytree(ROOT / "instances", tmp_path / "instances")
    monkeypatch.chdir(tmp_path)
    bindir = str(Path(sys.executable).parent)     # specpim and ray of this environment
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
           "RAY_USAGE_STATS_ENABLED": "0"}
    namespace: dict = {"__name__": "cookbook"}
    text = PAGE.read_text(encoding="utf-8")
    try:
        ran = _run_page(text, tmp_path, env, namespace)
    finally:   # a recipe that failed between `ray start` and `ray stop` leaves no Ray behind
        if "ray start" in text:
            subprocess.run(["bash", "-c", "ray stop --force"], env=env, capture_output=True, timeout=120)
    assert ran >= 12
    # what the recipes promise to leave behind
    assert (tmp_path / "out" / "batch" / "results.parquet").is_file()
    assert (tmp_path / "out" / "ray" / "results.csv").is_file()


def _run_page(text: str, tmp_path: Path, env: dict, namespace: dict) -> int:
    ran = 0
    for lang, file, body, line in blocks(text):
        where = f"docs/cookbook.md:{line}"
        if file is not None:
            assert lang == "yaml", where
            (tmp_path / file).write_text(body + "\n", encoding="utf-8")
        elif lang == "sh":
            run = subprocess.run(["bash", "-euo", "pipefail", "-c", body], env=env, capture_output=True,
                                 text=True, timeout=600)
            assert run.returncode == 0, f"{where}: exit {run.returncode}\n{run.stdout}\n{run.stderr}"
            assert "Traceback" not in run.stderr, where
        elif lang == "python":
            try:
                exec(compile(body, where, "exec"), namespace)
            except Exception as exc:   # name the block
                raise AssertionError(f"{where}: {exc!r}") from exc
        else:
            continue
        ran += 1
    return ran
