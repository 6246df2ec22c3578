"""Documentation that is generated must be current."""

from helpers import ROOT
from specpim.problem.schemadoc import markdown


def test_instances_doc_is_generated_from_the_schema():
    doc = (ROOT / "docs" / "instances.md").read_text(encoding="utf-8")
    assert doc == markdown(), "regenerate with: python -m specpim.problem.schemadoc > docs/instances.md"


def test_formulation_doc_names_every_constraint_family():
    import inspect

    from specpim.formulation.milp import CoDesignMILP

    doc = (ROOT / "docs" / "formulation.md").read_text(encoding="utf-8")
    families = [n for n, _ in inspect.getmembers(CoDesignMILP, inspect.isfunction) if n.startswith("add_")]
    assert families
    for name in families:
        assert name in doc, name
