"""The layer DAG's structure: orders, antichains, reachability.

A decoder layer's DAG has about ten operators, and the formulation asks the
same few questions of it on every solve.  Answering them here, with the
standard library, keeps networkx (a fifth of a second to import) out of
every solve; ``PhaseWorkload.graph()`` still gives the networkx graph, and
tests/test_layer_dag.py checks every answer against networkx on random DAGs.
The orders are the ones networkx gives, so results do not depend on which
answers them.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

N = TypeVar("N", bound=Hashable)


def _adjacency(nodes: Sequence[N], edges: Iterable[tuple[N, N]]) -> tuple[dict[N, list[N]], dict[N, int]]:
    """Each node's children (in edge order) and its number of parents."""
    children: dict[N, list[N]] = {n: [] for n in nodes}
    indegree = dict.fromkeys(nodes, 0)
    for u, v in edges:
        children[u].append(v)
        indegree[v] += 1
    return children, indegree


def topological_order(nodes: Sequence[N], edges: Iterable[tuple[N, N]]) -> list[N]:
    """Kahn's algorithm generation by generation, nodes and children in
    insertion order (networkx's ``topological_sort``).  Raises ValueError on
    a cycle."""
    children, indegree = _adjacency(nodes, edges)
    generation = [n for n in nodes if indegree[n] == 0]
    order: list[N] = []
    while generation:
        order += generation
        following = []
        for n in generation:
            for c in children[n]:
                indegree[c] -= 1
                if indegree[c] == 0:
                    following.append(c)
        generation = following
    if len(order) != len(indegree):
        raise ValueError("the graph has a cycle")
    return order


def is_acyclic(nodes: Sequence[N], edges: Iterable[tuple[N, N]]) -> bool:
    try:
        topological_order(nodes, edges)
    except ValueError:
        return False
    return True


def lexicographic_order(nodes: Sequence[int], edges: Iterable[tuple[int, int]]) -> list[int]:
    """The topological order that always takes the smallest ready node
    (networkx's ``lexicographical_topological_sort``)."""
    children, indegree = _adjacency(nodes, edges)
    ready = [n for n in nodes if indegree[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        n = heapq.heappop(ready)
        order.append(n)
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                heapq.heappush(ready, c)
    if len(order) != len(indegree):
        raise ValueError("the graph has a cycle")
    return order


@dataclass(frozen=True)
class LayerDag:
    """A DAG over operator names (hashable, so answers can be memoised)."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]

    @cached_property
    def order(self) -> tuple[str, ...]:
        return tuple(topological_order(self.nodes, self.edges))

    @cached_property
    def descendants(self) -> dict[str, frozenset[str]]:
        """Every node's descendants (not itself)."""
        children: dict[str, list[str]] = {n: [] for n in self.nodes}
        for u, v in self.edges:
            children[u].append(v)
        out: dict[str, frozenset[str]] = {}
        for n in reversed(self.order):
            out[n] = frozenset(c for child in children[n] for c in (child, *out[child]))
        return out

    def comparable(self, a: str, b: str) -> bool:
        return b in self.descendants[a] or a in self.descendants[b]

    @cached_property
    def antichains(self) -> tuple[frozenset[str], ...]:
        """Every non-empty antichain (no member reaches another), grown from
        the nodes in topological order so each is found once."""
        found: list[frozenset[str]] = []

        def grow(chain: tuple[str, ...], rest: tuple[str, ...]) -> None:
            for i, n in enumerate(rest):
                bigger = chain + (n,)
                found.append(frozenset(bigger))
                grow(bigger, tuple(m for m in rest[i + 1:] if not self.comparable(n, m)))

        grow((), self.order)
        return tuple(found)
