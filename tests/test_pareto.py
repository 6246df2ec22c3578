"""Exact Pareto fronts (specpim.pareto, ``specpim pareto``).

The ε-constraint driver runs on CBC and on exhaustive enumeration, and the
two fronts must agree point for point; every point must re-evaluate to its
metrics, none may dominate another, the end points must be the
single-objective optima, and no random mapping may dominate a point."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml
from test_random_mappings import random_mapping

import specpim
from helpers import INSTANCES
from helpers.cli import run_cli
from helpers.random_instances import random_instance
from specpim.core.errors import InstanceError
from specpim.pareto import FRONT_RTOL, pareto_front

RTOL = 1e-6
SETS = ["latency,energy", "latency,area", "energy,area", "latency,energy,area"]


def _tiny() -> dict:
    return yaml.safe_load((INSTANCES / "tiny.yaml").read_text())


def _values(front) -> list[tuple[float, ...]]:
    return [tuple(p.value(o) for o in front.objectives) for p in front.points]


def _check_front(inst, objectives: str) -> None:
    cbc = pareto_front(inst, objectives)
    every = pareto_front(inst, objectives, solver="exhaustive")
    assert cbc.complete and every.complete
    got, want = _values(cbc), _values(every)
    assert len(got) == len(want), f"cbc {got} vs exhaustive {want}"
    for a, b in zip(got, want, strict=True):
        assert a == pytest.approx(b, rel=RTOL, abs=1e-12)
    names = cbc.objectives
    for i, p in enumerate(cbc.points):
        m = specpim.evaluate(inst, p.mapping)
        assert (m.latency_per_token, m.energy_per_token, m.area) == pytest.approx((p.latency, p.energy, p.area),
                                                                                  rel=1e-9)
        for j, q in enumerate(cbc.points):
            if i != j:
                assert not all(q.value(o) <= p.value(o) for o in names), f"point {j} dominates point {i}"
    if not cbc.points:
        return
    # end points: each objective's optimum over the instance (area: the smallest design that exists)
    for o in names:
        if o == "area":
            continue
        metric = {"latency": "latency", "energy": "energy"}[o]
        data = specpim.solve(_with_metric(inst, metric), baselines=False)
        assert min(p.value(o) for p in cbc.points) == pytest.approx(data.objective, rel=RTOL)


def _with_metric(inst, metric: str):
    from dataclasses import replace

    from specpim.core.enums import Metric
    from specpim.problem.instance import Objective

    return replace(inst, objective=Objective(Metric(metric)))


@pytest.mark.parametrize("objectives", SETS)
def test_tiny_front_matches_exhaustive_enumeration(objectives):
    _check_front(specpim.load_instance(_tiny()), objectives)


# Random instances whose fronts have 1 to about 20 points (some have hundreds:
# every point costs two solves, so those stay out of the default suite).
@pytest.mark.parametrize("seed,objectives", [(s, o) for s in (3, 9, 12, 27, 42) for o in ("latency,energy",
                                                                                          "latency,energy,area")]
                         + [(51, "latency,energy")])
def test_random_fronts_match_exhaustive_enumeration(seed, objectives):
    inst = specpim.load_instance(random_instance(seed))
    if "area" in objectives and any(inst.system.pim_option(n).area <= 0 for n in inst.design_space.pim_options):
        pytest.skip("a PIM option without an area")
    _check_front(inst, objectives)


def test_no_random_mapping_dominates_a_point():
    inst = specpim.load_instance(_tiny())
    front = pareto_front(inst, "latency,energy,area")
    rng = np.random.default_rng(7)
    tried = 0
    for _ in range(400):
        try:
            m = specpim.evaluate(inst, random_mapping(inst, rng))
        except InstanceError:
            continue
        tried += 1
        for p in front.points:
            shrink = 1 - FRONT_RTOL
            better = (m.latency_per_token < p.latency * shrink, m.energy_per_token < p.energy * shrink,
                      m.area < p.area * shrink)
            no_worse = (m.latency_per_token <= p.latency, m.energy_per_token <= p.energy, m.area <= p.area)
            assert not (all(no_worse) and any(better)), "a random mapping dominates a point of the front"
    assert tried > 50


def test_objectives_are_checked():
    for bad in ["latency", "latency,latency", "speed,energy", ""]:
        with pytest.raises(InstanceError, match="objectives"):
            pareto_front(INSTANCES / "tiny.yaml", bad)


def test_a_stopped_search_keeps_what_it_proved(monkeypatch):
    """A stand-in clock that moves one second per solve: the deadline ends
    the search after six solves, whatever the machine's load."""
    import specpim.pareto as pareto
    from specpim.core.deadline import Deadline

    now = [0.0]
    real = pareto.solve

    def ticking(*args, **kwargs):
        try:
            return real(*args, **kwargs)
        finally:
            now[0] += 1.0

    monkeypatch.setattr(pareto, "solve", ticking)
    front = pareto_front(INSTANCES / "tiny.yaml", "latency,energy,area", deadline=Deadline(5.5, clock=lambda: now[0]))
    assert not front.complete and front.solves == 6
    whole = pareto_front(INSTANCES / "tiny.yaml", "latency,energy,area")
    assert 0 < len(front.points) < len(whole.points)
    for p in front.points:   # what was proven is on the whole front
        assert any(p.value("latency") == pytest.approx(q.value("latency"), rel=RTOL)
                   and p.value("energy") == pytest.approx(q.value("energy"), rel=RTOL) for q in whole.points)


def test_cli_writes_the_front(tmp_path):
    out = tmp_path / "front"
    r = run_cli("pareto", INSTANCES / "tiny.yaml", "--objectives", "latency,energy", "-o", out)
    assert r.code == 0, r.err
    rows = list(csv.DictReader((out / "pareto.csv").open()))
    doc = json.loads((out / "pareto.json").read_text())
    assert len(rows) == len(doc["points"]) > 1
    assert sorted(p.name for p in (out / "points").iterdir()) == [f"{i:04d}" for i in range(len(rows))]
    for i, row in enumerate(rows):
        mapping = out / "points" / f"{i:04d}" / "mapping.json"
        m = specpim.evaluate(INSTANCES / "tiny.yaml", mapping)
        assert m.latency_per_token == pytest.approx(float(row["latency_s_per_token"]), rel=1e-12)
    # a second run with fewer points leaves none of the first run's behind
    r = run_cli("pareto", INSTANCES / "tiny.yaml", "--objectives", "latency,area", "-o", out)
    assert r.code == 2 and "--force" in r.err
    r = run_cli("pareto", INSTANCES / "tiny.yaml", "--objectives", "energy,area", "-o", out, "--force")
    assert r.code == 0, r.err
    rows = list(csv.DictReader((out / "pareto.csv").open()))
    assert sorted(p.name for p in (out / "points").iterdir()) == [f"{i:04d}" for i in range(len(rows))]
