"""Helpers shared by the test modules (on the path through pytest's
``pythonpath`` setting); test modules never import each other."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTANCES = ROOT / "instances"
