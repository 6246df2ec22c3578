"""Golden results, and proof that every cost term is pinned.

* Each shipped instance solves to what tests/golden/<name>.json records
  (regenerate deliberately with ``python tests/helpers/golden.py --write``).
* A change to any one term or constant of the cost model fails the suite:
  made in the cost tables alone, the tables disagree with the independent
  reference; made in the reference (alone, or in both: the evaluator only
  reads the reference), the pinned mappings no longer reprice to their
  golden metrics.  The test below makes each change and expects one of
  those failures.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import yaml

import specpim
from helpers import INSTANCES
from helpers.agreement import disagreements
from helpers.golden import differences, golden_path, pinned_mappings, reprice, snapshot
from specpim.costs import roofline, tables
from specpim.costs.protocol import FixedCosts, HostCosts, PimCosts
from specpim.evaluation import reference
from specpim.evaluation.reference import PhaseConstants, Priced
from specpim.hardware.devices import System
from specpim.workload.operators import OpKind

SHIPPED = sorted(INSTANCES.glob("*.yaml"))
SCALE = 1.001


def _golden(path):
    return json.loads(golden_path(path).read_text())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_instance_matches_its_golden_result(path):
    assert golden_path(path).exists(), "no golden file: run python tests/helpers/golden.py --write"
    diff = differences(_golden(path), snapshot(path))
    assert not diff, "\n".join(diff[:10])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_pinned_mappings_reprice_to_their_golden_metrics(path):
    golden = _golden(path)
    now = reprice(path, golden)
    for name, (_, metrics) in pinned_mappings(golden).items():
        assert not differences(metrics, now[name]), name


# -- perturbations ----------------------------------------------------------------------

def _probe_instances() -> list:
    """Small instances on which every table term shows: tiny with two devices
    (collectives), a host-softmax and a PIM-softmax option, both memory models."""
    base = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
    base["system"].update(devices=2, link_bandwidth=100.0, link_latency=1.0, link_energy_per_bit=1.0)
    out = []
    for model in ("striped", "partitioned"):
        data = json.loads(json.dumps(base))
        data["system"]["memory_model"] = model
        out.append(specpim.load_instance(data))
    return out


def _scale_field(obj, name: str, mask=None):
    value = getattr(obj, name)
    if isinstance(value, np.ndarray):
        factor = SCALE if mask is None else np.where(mask, SCALE, 1.0)
        return dataclasses.replace(obj, **{name: value * factor})
    return dataclasses.replace(obj, **{name: value * SCALE})


# Each term: (how to change the cost tables, how to change the reference).
def _table_term(method: str, name: str, kind: OpKind | None = None):
    original = getattr(roofline.RooflineCostModel, method)

    def patched(self, work, *args):
        out = original(self, work, *args)
        mask = None
        if kind is not None:
            mask = np.array([o.kind == kind for o in work.all_ops])
            if out.__class__ is PimCosts:
                mask = mask[:, None]
        return _scale_field(out, name, mask)
    return method, patched


def _reference_term(method: str, name: str, kind: OpKind | None = None):
    original = getattr(reference.ReferencePricer, method)

    def patched(self, work, *args):
        out = original(self, work, *args)
        if isinstance(out, Priced) and kind is not None and args[0].kind != kind:
            return out
        if isinstance(out, Priced) and name == "time" and method == "host":   # the host is busy all along
            return dataclasses.replace(out, time=out.time * SCALE, host_busy=out.host_busy * SCALE)
        return _scale_field(out, name)
    return method, patched


TERMS = {
    "host time of weight GEMMs": (_table_term("host", "time", OpKind.FC), _reference_term("host", "time", OpKind.FC)),
    "host time of attention GEMMs": (_table_term("host", "time", OpKind.ATTENTION),
                                     _reference_term("host", "time", OpKind.ATTENTION)),
    "host energy": (_table_term("host", "energy"), _reference_term("host", "energy")),
    "host stream time": (_table_term("host", "stream"), _reference_term("host", "stream")),
    "PIM time": (_table_term("pim", "time"), _reference_term("pim", "time")),
    "PIM energy": (_table_term("pim", "energy"), _reference_term("pim", "energy")),
    "PIM host side": (_table_term("pim", "host"), _reference_term("pim", "host_busy")),
    **{f"fixed {f.name}": (_table_term("fixed", f.name), _reference_term("constants", f.name))
       for f in dataclasses.fields(FixedCosts)},
}
assert {f.name for f in dataclasses.fields(FixedCosts)} == {f.name for f in dataclasses.fields(PhaseConstants)}
assert {f.name for f in dataclasses.fields(HostCosts)} == {"time", "energy", "stream"}


@contextmanager
def _patched(cls, method: str, fn: Callable) -> Iterator[None]:
    original = getattr(cls, method)
    setattr(cls, method, fn)
    try:
        yield
    finally:
        setattr(cls, method, original)


def _golden_moves() -> bool:
    """Whether some pinned mapping of some shipped instance reprices differently."""
    for path in SHIPPED:
        golden = _golden(path)
        now = reprice(path, golden)
        if any(differences(m, now[name]) for name, (_, m) in pinned_mappings(golden).items()):
            return True
    return False


@pytest.mark.parametrize("term", sorted(TERMS))
def test_changing_a_term_in_the_tables_breaks_agreement_with_the_reference(term):
    (method, fn), _ = TERMS[term]
    with _patched(roofline.RooflineCostModel, method, fn):
        assert any(disagreements(inst) for inst in _probe_instances()), term


@pytest.mark.parametrize("term", sorted(TERMS))
def test_changing_a_term_in_the_reference_breaks_the_golden_results(term):
    _, (method, fn) = TERMS[term]
    with _patched(reference.ReferencePricer, method, fn):
        assert _golden_moves(), term


def test_changing_static_power_breaks_the_golden_results():
    original = System.static_power
    with _patched(System, "static_power", lambda self, o, n: original(self, o, n) * SCALE):
        assert _golden_moves()


@pytest.mark.parametrize("constant", ["BITS", "PJ", "US", "GB"])
def test_changing_a_unit_constant_breaks_agreement(constant, monkeypatch):
    monkeypatch.setattr(roofline, constant, getattr(roofline, constant) * SCALE)
    assert any(disagreements(inst) for inst in _probe_instances()), constant


@pytest.mark.parametrize("constant", ["_BITS", "_PJ", "_US", "_GB"])
def test_changing_a_unit_constant_of_the_reference_breaks_the_golden_results(constant, monkeypatch):
    monkeypatch.setattr(reference, constant, getattr(reference, constant) * SCALE)
    assert _golden_moves(), constant


def test_one_all_reduce_per_layer_instead_of_two_is_caught(monkeypatch):
    monkeypatch.setattr(tables.CostTable, "layer_const_time",
                        property(lambda t: t.fixed.layer_elementwise_time + t.fixed.allreduce_time))
    assert any(disagreements(inst) for inst in _probe_instances())
