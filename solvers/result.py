"""What every solver returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from specpim.core.enums import Status
from specpim.problem.mapping import Mapping


@dataclass
class SolverResult:
    """A solver's answer, in the instance's objective units (s or J per token;
    throughput instances are solved as latency).

    ``bound`` is a proven lower bound on the optimum; ``gap`` is
    (objective − bound) / objective, 0 when optimality is proven.
    """

    solver: str
    status: Status
    mapping: Mapping | None = None
    objective: float | None = None
    bound: float | None = None
    build_s: float = 0.0
    solve_s: float = 0.0
    diagnosis: str | None = None
    stats: dict[str, int] = field(default_factory=dict)
    write_model: Callable[[str], None] | None = None
    # With top = K > 1: the K best distinct architectures, best first, each
    # with its proven optimum (the first is the answer itself).
    alternatives: list[tuple[float, Mapping]] = field(default_factory=list)

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        if self.objective == 0:
            return 0.0
        return max(0.0, (self.objective - self.bound) / abs(self.objective))
