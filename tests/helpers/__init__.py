"""Helpers shared by the test modules (on the path through pytest's
``pythonpath`` setting); test modules never import each other."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTANCES = ROOT / "instances"


def with_fields(data: dict, fields: dict[str, object]) -> dict:
    """A deep copy of the instance dict ``data`` with each dotted field path
    (``workload.batch``) set to its value; written here, apart from the
    sweep's own path handling, so tests do not check that code with itself."""
    import copy

    out = copy.deepcopy(data)
    for path, value in fields.items():
        node = out
        *parents, leaf = path.split(".")
        for step in parents:
            node = node[step]
        node[leaf] = value
    return out
