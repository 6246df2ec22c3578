"""workload/dag.py against networkx on random graphs: the same orders, the
same antichains, the same reachability and the same cycle verdicts."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from specpim.workload.dag import LayerDag, is_acyclic, lexicographic_order, topological_order
from specpim.workload.operators import layer_edges


@st.composite
def dags(draw, max_nodes: int = 9):
    """A random DAG: nodes in a shuffled insertion order, edges only from a
    lower to a higher rank, themselves in a random order."""
    n = draw(st.integers(1, max_nodes))
    names = [f"op{i}" for i in range(n)]
    rank = draw(st.permutations(range(n)))
    pairs = [(names[a], names[b]) for a in range(n) for b in range(n) if rank[a] < rank[b]]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True) if pairs else st.just([]))
    return LayerDag(tuple(draw(st.permutations(names))), tuple(edges))


def _nx(dag: LayerDag) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(dag.nodes)
    g.add_edges_from(dag.edges)
    return g


@settings(max_examples=300, deadline=None)
@given(dags())
def test_orders_antichains_and_reach_match_networkx(dag):
    g = _nx(dag)
    assert list(dag.order) == list(nx.topological_sort(g))
    assert set(dag.antichains) == {frozenset(a) for a in nx.antichains(g) if a}
    assert len(dag.antichains) == len(set(dag.antichains))      # each found once
    assert dag.descendants == {n: frozenset(nx.descendants(g, n)) for n in g}


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8), st.data())
def test_cycle_verdicts_and_lexicographic_order_match_networkx(n, data):
    edges = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] != e[1]),
                               unique=True, max_size=12))
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    acyclic = nx.is_directed_acyclic_graph(g)
    assert is_acyclic(range(n), edges) == acyclic
    if acyclic:
        assert lexicographic_order(range(n), edges) == list(nx.lexicographical_topological_sort(g))
        assert topological_order(range(n), edges) == list(nx.topological_sort(g))


def test_the_transformer_layers():
    for gated in (True, False):
        edges = layer_edges(gated)
        nodes = tuple(dict.fromkeys(n for e in edges for n in e))
        dag = LayerDag(nodes, edges)
        g = _nx(dag)
        assert list(dag.order) == list(nx.topological_sort(g))
        assert set(dag.antichains) == {frozenset(a) for a in nx.antichains(g) if a}
