"""Property-based tests around the shipped tiny instance.

* Random valid instances: solve and evaluate agree, the status is honest
  (optimal only when proven, never worse than a design of the space that
  the evaluator accepts, infeasible only when no such design exists, and a
  time-limited run never beats the optimum nor claims more than it proved).
* Random invalid instances and mappings: InstanceError, never another
  exception, and the message names the field.

The default run is short; ``python -m pytest -m fuzz`` runs the long one
(10,000 cases of each kind; SPECPIM_FUZZ_CASES changes the number).
"""

from __future__ import annotations

import copy
import functools
import math
import os
import string

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import specpim
from helpers import INSTANCES
from specpim.core.errors import InstanceError
from specpim.costs.plugins import resolve_cost_model
from specpim.evaluation.baselines import compute_baselines

TINY = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
FUZZ_CASES = int(os.environ.get("SPECPIM_FUZZ_CASES", "10000"))

# Short runs are derandomized so CI is reproducible; the long run explores.
QUICK = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
QUICK_MANY = settings(QUICK, max_examples=300)
LONG = settings(max_examples=FUZZ_CASES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _between(lo: float, hi: float):
    # a grid of a million points: real-looking values, never a subnormal float
    return st.integers(0, 10 ** 6).map(lambda i: lo + (hi - lo) * i / 10 ** 6)


# -- valid instances -----------------------------------------------------

@st.composite
def models(draw, name: str, big: bool):
    heads = draw(st.sampled_from([4, 8, 16] if big else [2, 4]))
    head_dim = draw(st.sampled_from([32, 64]))
    return {
        "name": name,
        "layers": draw(st.integers(1, 6 if big else 3)),
        "hidden": heads * head_dim,
        "heads": heads,
        "kv_heads": draw(st.sampled_from([d for d in (1, 2, 4, 8, 16) if heads % d == 0])),
        "ffn": draw(st.integers(64, 4096)),
        "gated_ffn": draw(st.booleans()),
        "vocab": draw(st.integers(100, 16000)),
    }


@st.composite
def pim_options(draw):
    chosen = draw(st.lists(st.sampled_from(["bank", "bankgroup", "bufferdie"]), min_size=1, max_size=3,
                           unique=True))
    ranges = {"bank": (300, 700, 1, 6), "bankgroup": (100, 300, 0.5, 2), "bufferdie": (30, 60, 0.1, 0.5)}
    out = []
    for name in chosen:
        lo, hi, alo, ahi = ranges[name]
        bw = draw(_between(lo, hi))
        out.append({"name": name, "internal_bandwidth": bw, "peak_flops": bw * draw(_between(0.5, 2)),
                    "area": draw(_between(alo, ahi)), "energy_per_bit": draw(_between(0.3, 3.5)),
                    "energy_per_flop": draw(_between(0.05, 0.5))})
    return out


@st.composite
def valid_instances(draw):
    data = copy.deepcopy(TINY)
    data["target"] = draw(models("target", big=True))
    data["draft"] = draw(st.one_of(st.none(), models("draft", big=False)))
    data["workload"] = {"batch": draw(st.integers(1, 32)), "prompt_len": draw(st.integers(0, 2048)),
                        "gen_len": draw(st.integers(1, 512))}
    lens = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3, unique=True))
    acceptance = draw(st.one_of(_between(0, 1), st.lists(_between(0, 1), min_size=max(lens),
                                                         max_size=max(lens))))
    data["speculation"] = {"draft_len": lens, "acceptance": acceptance}
    system = data["system"]
    system["devices"] = draw(st.sampled_from([1, 1, 2]))
    if system["devices"] > 1:
        system.update(link_bandwidth=draw(_between(10, 300)), link_latency=draw(_between(0, 5)))
    system["host"].update(peak_flops=draw(_between(2, 50)), compute_efficiency=draw(_between(0.3, 1)),
                          static_power=draw(st.sampled_from([0.0, 5.0])))
    system["memory"].update(channel_bandwidth=draw(_between(10, 80)),
                            # from too little memory for the larger models (infeasible) to plenty
                            channel_capacity=draw(st.sampled_from([0.01, 0.03, 0.1, 0.5, 2.0])))
    system["pim_options"] = draw(pim_options())
    menu = [p["name"] for p in system["pim_options"]]
    step = draw(st.sampled_from([1, 2]))
    space = {
        "pim_options": draw(st.lists(st.sampled_from(menu), max_size=len(menu), unique=True)),
        "pim_channels": draw(st.lists(st.sampled_from(range(step, 9, step)), min_size=1, max_size=3, unique=True)),
        "channel_step": step,
        "allocation": draw(st.sampled_from(["partition", "shared"])),
        "include_no_pim": draw(st.booleans()),
    }
    if not space["pim_options"]:
        space["include_no_pim"] = True
    if draw(st.booleans()):
        space["area_budget"] = draw(_between(0, 40))
    data["design_space"] = space
    bounds_ms = st.sampled_from([0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 20.0])
    data["objective"] = draw(st.one_of(st.sampled_from(["latency", "energy", "throughput"]),
                                       st.builds(lambda b: {"metric": "energy", "latency_bound": b}, bounds_ms)))
    return data


def _better_or_equal(a, b, metric: str) -> bool:
    """a is at least as good as b in the instance's metric."""
    if metric == "throughput":
        return a >= b * (1 - 1e-9)
    return a <= b * (1 + 1e-9)


def _designs_in_space(inst):
    """Designs of this instance's own space that the evaluator accepts and
    that meet its latency bound: AttAcc-style and host-only mappings."""
    baselines = compute_baselines(inst, resolve_cost_model(inst))
    names = ["attacc_sd", "host_sd"] if inst.speculative else ["attacc_ar", "host_ar"]
    if not inst.design_space.include_no_pim:
        names = names[:1]
    return [b.metrics for n, b in baselines.items()
            if n in names and b.metrics is not None and b.metrics.latency_bound_met]


def check_valid_instance(data: dict, time_limit: float | None) -> None:
    inst = specpim.load_instance(data)
    sol = specpim.solve(inst, baselines=False)
    metric = inst.objective.metric
    designs = _designs_in_space(inst)
    assert sol.status in ("optimal", "infeasible"), sol.status   # no limit: the search finishes
    event(f"status {sol.status}" + (f" ({sol.diagnosis.split(':')[0]})" if sol.diagnosis else ""))
    if sol.status == "infeasible":
        assert sol.mapping is None and sol.diagnosis
        assert not designs, "infeasible, yet a design of the space fits"
        return
    assert sol.gap == 0.0
    assert math.isclose(sol.bound, sol.objective, rel_tol=1e-9)
    again = specpim.evaluate(inst, sol.mapping.to_dict())
    assert math.isclose(again.objective, sol.objective, rel_tol=1e-6)
    assert again.latency_bound_met
    for m in designs:
        assert _better_or_equal(sol.objective, m.objective, metric), (sol.objective, m.objective)
    if time_limit is None:
        return
    # without block bounds every block is solved, so limits cut the search more often
    limited = specpim.solve(inst, baselines=False, time_limit=time_limit, use_bounds=False)
    event(f"time-limited status {limited.status}")
    assert limited.status in ("optimal", "feasible", "no_solution"), limited.status
    if limited.status == "optimal":
        assert math.isclose(limited.objective, sol.objective, rel_tol=1e-6)
    elif limited.status == "feasible":
        assert _better_or_equal(sol.objective, limited.objective, metric)
        assert limited.gap is not None and limited.gap >= 0
        assert _better_or_equal(limited.bound, sol.objective, metric)   # the bound is valid
    else:
        assert limited.mapping is None


LIMITS = st.one_of(st.none(), st.none(), _between(0.05, 0.6))


@QUICK
@given(valid_instances(), LIMITS)
def test_random_valid_instances(data, time_limit):
    check_valid_instance(data, time_limit)


@pytest.mark.fuzz
@LONG
@given(valid_instances(), LIMITS)
def test_fuzz_random_valid_instances(data, time_limit):
    check_valid_instance(data, time_limit)


# -- invalid instances and mappings ---------------------------------------

JUNK = st.one_of(
    st.none(), st.booleans(), st.text(string.printable, max_size=8), st.sampled_from(["", "llama2-7b", "bank"]),
    st.integers(-10, 10), st.integers(-10 ** 30, 10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 0.0, 4.5, 1e-300, 1e300, -0.5, 2 ** 63]),
    st.lists(st.integers(-3, 10), max_size=3),
    # fresh containers each time: a shared one, edited later, could end up inside itself
    st.builds(list), st.builds(dict), st.builds(lambda: {"x": 1}), st.builds(lambda: [None]),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw, base):
    """``base`` with one to three random edits: a junk value, a deleted or a
    misspelt key, or an unknown key."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:   # every key deleted already
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for p in path[:-1]:
            parent = parent[p]
        key = path[-1]
        action = draw(st.sampled_from(["junk", "junk", "junk", "delete", "typo", "extra"]))
        if action == "junk":
            parent[key] = draw(JUNK)
        elif action == "delete":
            del parent[key]
        elif action == "typo" and isinstance(parent, dict):
            parent[str(key)[:-1] + draw(st.sampled_from("aex_"))] = parent.pop(key)
        elif isinstance(parent, dict):
            parent[draw(st.text(string.ascii_lowercase + "_", min_size=1, max_size=10))] = draw(JUNK)
    return data


def check_invalid_instance(data: dict) -> None:
    """Bad input ends in InstanceError naming a field; an edit that left the
    instance valid must still solve without any other exception."""
    try:
        inst = specpim.load_instance(data)
    except InstanceError as exc:
        assert exc.field and str(exc)
        event("rejected")
        return
    event("still valid")
    try:
        sol = specpim.solve(inst, baselines=False, time_limit=20)
    except InstanceError as exc:   # e.g. a cost model the instance may not import
        assert exc.field and str(exc)
        return
    if sol.mapping is not None:
        specpim.evaluate(inst, sol.mapping)


@QUICK_MANY
@given(mutated(TINY))
def test_random_invalid_instances(data):
    check_invalid_instance(data)


@pytest.mark.fuzz
@LONG
@given(mutated(TINY))
def test_fuzz_random_invalid_instances(data):
    check_invalid_instance(data)


def check_invalid_mapping(inst, data) -> None:
    try:
        specpim.evaluate(inst, data)
    except InstanceError as exc:
        assert exc.field and str(exc)


@functools.cache
def _tiny_mapping():
    inst = specpim.load_instance(TINY)
    return inst, specpim.solve(inst, baselines=False).mapping.to_dict()


@st.composite
def mapping_edits(draw):
    inst, mapping = _tiny_mapping()
    return inst, draw(mutated(mapping))


@QUICK_MANY
@given(mapping_edits())
def test_random_invalid_mappings(case):
    check_invalid_mapping(*case)


@pytest.mark.fuzz
@LONG
@given(mapping_edits())
def test_fuzz_random_invalid_mappings(case):
    check_invalid_mapping(*case)
