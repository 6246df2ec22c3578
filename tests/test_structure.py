"""The package's structure: one installed package with one name per file,
the layers of docs/formulation.md, and cheap imports."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import specpim
from helpers import INSTANCES, ROOT

PACKAGE = Path(specpim.__file__).resolve().parent
TOP_LEVEL = ("workload", "hardware", "costs", "formulation", "solvers")


def _pipeline_table() -> list[tuple[str, list[str]]]:
    """(layer cell, [module paths]) per row of the pipeline table."""
    doc = (ROOT / "docs" / "formulation.md").read_text(encoding="utf-8")
    after = doc.split("<!-- pipeline table")[1].splitlines()[1:]
    table = [line for line in after[:next(i for i, ln in enumerate(after) if not ln.strip())]]
    rows = []
    for line in table[2:]:
        layer, _step, where = (c.strip() for c in line.strip("|").split("|"))
        rows.append((layer, re.findall(r"`([^`]+\.py)`", where)))
    return rows


def _package_modules() -> set[str]:
    """Every module file of the checkout's package, as a repository path."""
    found = set()
    base = ROOT / "src" / "specpim"
    for folder, _dirs, files in os.walk(base, followlinks=True):   # the top-level folders are links
        for name in files:
            if not name.endswith(".py") or name == "__init__.py":
                continue
            rel = (Path(folder) / name).relative_to(base)
            found.add(str(rel) if rel.parts[0] in TOP_LEVEL else f"src/specpim/{rel}")
    return found


def test_pipeline_table_names_every_module_once():
    listed = [m for _, mods in _pipeline_table() for m in mods]
    assert len(listed) == len(set(listed)), "a module is listed twice"
    assert set(listed) == _package_modules()
    for m in listed:
        assert (ROOT / m).is_file(), m


def test_pipeline_table_layers_are_the_import_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    declared = [set(re.findall(r"specpim\.\w+", layer)) for layer in reversed(contract["layers"])]
    table = [set(re.findall(r"specpim\.\w+", layer)) for layer, _ in _pipeline_table()]
    # The table may join layers of the contract in one row (the interface modules).
    assert set().union(*declared) == set().union(*table)
    rank = {name: i for i, row in enumerate(table) for name in row}
    for lower, upper in zip(declared, declared[1:], strict=False):
        for a in lower:
            for b in upper:
                assert rank[a] <= rank[b], (a, b)


def test_tests_import_the_installed_package():
    """In-process imports and a fresh interpreter (what the CLI runs) load
    the same files, and they are what pip installed."""
    out = subprocess.run([sys.executable, "-c", "import specpim; print(specpim.__file__)"], cwd="/",
                         capture_output=True, text=True, check=True).stdout.strip()
    assert Path(out).resolve() == Path(specpim.__file__).resolve()
    files = importlib.metadata.files("specpim") or []
    direct = importlib.metadata.distribution("specpim").read_text("direct_url.json") or ""
    editable = '"editable": true' in direct.replace(" ", "").replace(":true", ": true")
    assert editable or any(str(f).replace("\\", "/") == "specpim/__init__.py" for f in files)


def test_one_module_identity():
    import specpim.hardware.devices as devices

    assert Path(devices.__file__).resolve().parent.name == "hardware"
    # the top-level folders are not importable on their own
    alone = subprocess.run([sys.executable, "-c", "import hardware"], cwd="/", capture_output=True, text=True)
    assert alone.returncode != 0 and "ModuleNotFoundError" in alone.stderr


def test_py_typed_ships_and_version_has_one_source():
    assert (PACKAGE / "py.typed").is_file()
    assert importlib.metadata.version("specpim") == specpim.__version__
    assert "version" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dynamic"]


@pytest.mark.parametrize("argv", [["--version"], ["validate", str(INSTANCES / "tiny.yaml")]],
                         ids=["version", "validate"])
def test_version_and_validate_do_not_load_the_solver(argv):
    code = (f"import sys\nfrom specpim.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pulp', 'networkx', 'cbcbox') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_code_imports_the_top_level_folders_through_the_package():
    pattern = re.compile(rf"^\s*(from|import)\s+({'|'.join(TOP_LEVEL)})\b", re.M)
    for folder in (*TOP_LEVEL, "src/specpim", "tests", "benchmarks"):
        for f in (ROOT / folder).rglob("*.py"):
            assert not pattern.search(f.read_text(encoding="utf-8")), f
