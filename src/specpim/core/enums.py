"""The closed sets of specpim, as string enums.

Each member *is* its string (``Phase.DRAFT == "draft"``), so JSON output,
dict keys and comparisons with plain strings are unchanged; YAML output
converts them with ``str()`` first (the safe dumper knows only ``str``).
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """A step of one iteration: the draft model's or the target's verify step."""

    DRAFT = "draft"
    VERIFY = "verify"


class Engine(StrEnum):
    """Where an operator runs."""

    HOST = "host"
    PIM = "pim"


class Allocation(StrEnum):
    """How the PIM channels are given to the two models."""

    PARTITION = "partition"   # a static split: draft + target = n
    SHARED = "shared"         # both models use all n


class Metric(StrEnum):
    """What the solver optimises."""

    LATENCY = "latency"
    ENERGY = "energy"
    THROUGHPUT = "throughput"


class Status(StrEnum):
    """The answer of a solve.  ``OPTIMAL`` only when the solver proved it."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"          # a design, with a gap: a time limit stopped the proof
    INFEASIBLE = "infeasible"      # proven: no design satisfies every rule
    NO_SOLUTION = "no_solution"    # the time limit came before any design


class MemoryModel(StrEnum):
    """Where host-side data lives, which decides who competes for a channel."""

    STRIPED = "striped"            # AttAcc: host data over every channel, PIM channels included
    PARTITIONED = "partitioned"    # H²-LLM's SpecPIM mode: host data only in the non-PIM channels


__all__ = ["Allocation", "Engine", "MemoryModel", "Metric", "Phase", "Status"]
