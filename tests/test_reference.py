"""The cost tables the solvers read against the independent reference the
evaluator prices with: every operator, engine, channel group, phase, PIM
option, channel count and γ, to 1e-9, on every shipped instance and on
random ones."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import specpim
from helpers import INSTANCES
from helpers.agreement import disagreements
from helpers.random_instances import random_instance

SHIPPED = sorted(INSTANCES.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_tables_agree_with_the_reference_on_shipped_instances(path):
    assert disagreements(specpim.load_instance(path)) == []


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 10 ** 6))
def test_tables_agree_with_the_reference_on_random_instances(seed):
    assert disagreements(specpim.load_instance(random_instance(seed))) == []
