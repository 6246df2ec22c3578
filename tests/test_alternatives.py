"""The K best distinct architectures (``solve(top=K)``, ``specpim solve
--top K``) against exhaustive enumeration: every architecture's own optimum
is known there, so the list can be checked entry by entry."""

from __future__ import annotations

import json

import pytest

import specpim
from helpers import INSTANCES
from helpers.cli import run_cli
from helpers.random_instances import random_instance
from specpim.core.errors import InstanceError

RTOL = 1e-6
K = 4


def _key(design) -> tuple:
    return (design.pim_option, design.pim_channels, design.draft_channels, design.target_channels, design.draft_len)


def _check(inst) -> None:
    every = specpim.solve(inst, solver="exhaustive", baselines=False, top=1000)   # every architecture
    cbc = specpim.solve(inst, baselines=False, top=K)
    assert cbc.status == every.status
    if cbc.status != "optimal":
        assert cbc.alternatives == []
        return
    own = {_key(a.design): a.objective for a in every.alternatives}
    assert len(own) == len(every.alternatives), "the exhaustive list repeats an architecture"
    got = cbc.alternatives
    assert len(got) == min(K, len(own))
    assert [a.rank for a in got] == list(range(1, len(got) + 1))
    assert got[0].objective == pytest.approx(cbc.objective, rel=1e-12)
    assert got[0].gap == 0.0
    keys = [_key(a.design) for a in got]
    assert len(set(keys)) == len(keys), "an architecture is listed twice"
    sign = -1 if inst.objective.metric == "throughput" else 1
    for a in got:
        # each entry is its architecture's own optimum ...
        assert a.objective == pytest.approx(own[_key(a.design)], rel=RTOL)
        assert a.metrics.objective == pytest.approx(a.objective, rel=1e-12)
    # ... in order, and no architecture left out beats the last one listed
    values = [sign * a.objective for a in got]
    assert values == sorted(values)
    last = values[-1]
    for key, value in own.items():
        if key not in keys:
            assert sign * value >= last - RTOL * abs(last), f"{key} ({value}) beats a listed architecture"
    # the exhaustive solver's own list has the same values
    assert [a.objective for a in every.alternatives[:len(got)]] == pytest.approx([a.objective for a in got],
                                                                                   rel=RTOL)


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_top_k_matches_exhaustive_enumeration(seed):
    _check(specpim.load_instance(random_instance(seed)))


@pytest.mark.parametrize("metric", ["latency", "energy", "throughput"])
def test_top_k_on_tiny(metric):
    import yaml
    data = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
    data["objective"] = metric
    _check(specpim.load_instance(data))


@pytest.mark.parametrize("top", [0, -1, 1.5, "3", True, 10**6])
def test_top_must_be_a_small_whole_number(top):
    with pytest.raises(InstanceError, match="top"):
        specpim.solve(INSTANCES / "tiny.yaml", top=top)


def test_cli_lists_the_alternatives():
    r = run_cli("solve", INSTANCES / "tiny.yaml", "--top", "3", "--no-baselines")
    assert r.code == 0, r.err
    assert "The 3 best architectures" in r.out and "optimum" in r.out
    r = run_cli("solve", INSTANCES / "tiny.yaml", "--top", "3", "--no-baselines", "--json")
    data = json.loads(r.out)
    assert [a["rank"] for a in data["alternatives"]] == [1, 2, 3]
    assert data["alternatives"][0]["design"] == data["design"]
