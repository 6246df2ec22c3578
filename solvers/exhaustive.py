"""Exhaustive enumeration (placeholder until the enumerator lands)."""

from __future__ import annotations


class ExhaustiveSolver:
    name = "exhaustive"

    def solve(self, instance, tables, time_limit=None):
        raise NotImplementedError
