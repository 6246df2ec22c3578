"""specpim: provably optimal hardware/dataflow co-design for LLM speculative
inference on PIM-enabled systems.

    >>> import specpim
    >>> inst = specpim.load_instance("instances/tiny.yaml")
    >>> sol = specpim.solve(inst)
    >>> sol.status, sol.design

The names below are imported on first use, so ``import specpim`` (and
``specpim --version``) loads neither the solver nor the schema validator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# public name → module that defines it
_EXPORTS = {
    "Solution": "specpim.api", "solve": "specpim.api", "evaluate": "specpim.api",
    "load_instance": "specpim.problem.loader",
    "SpecpimError": "specpim.core.errors", "InstanceError": "specpim.core.errors",
    "SolverError": "specpim.core.errors", "OutputError": "specpim.core.errors",
    "Status": "specpim.core.enums", "Metric": "specpim.core.enums", "Phase": "specpim.core.enums",
    "Engine": "specpim.core.enums", "Allocation": "specpim.core.enums",
    "Metrics": "specpim.evaluation.evaluator",
    "Instance": "specpim.problem.instance",
    "Architecture": "specpim.problem.mapping", "Mapping": "specpim.problem.mapping",
    "Placement": "specpim.problem.mapping",
    "sweep": "specpim.sweeps",   # loads pandas: only when used
}

__all__ = ["Allocation", "Architecture", "Engine", "Instance", "InstanceError", "Mapping", "Metric", "Metrics",
           "OutputError", "Phase", "Placement", "Solution", "SolverError", "SpecpimError", "Status", "__version__",
           "evaluate", "load_instance", "solve", "sweep"]

if TYPE_CHECKING:
    from specpim.api import Solution, evaluate, solve
    from specpim.core.enums import Allocation, Engine, Metric, Phase, Status
    from specpim.core.errors import InstanceError, OutputError, SolverError, SpecpimError
    from specpim.evaluation.evaluator import Metrics
    from specpim.problem.instance import Instance
    from specpim.problem.loader import load_instance
    from specpim.problem.mapping import Architecture, Mapping, Placement
    from specpim.sweeps import sweep


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'specpim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
