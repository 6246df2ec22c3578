"""specpim: provably optimal hardware/dataflow co-design for LLM speculative
inference on PIM-enabled systems.

    >>> import specpim
    >>> inst = specpim.load_instance("instances/tiny.yaml")
    >>> sol = specpim.solve(inst)
    >>> sol.status, sol.design
"""

from .api import Solution, evaluate, load_instance, solve
from .errors import InstanceError, SolverError, SpecpimError
from .evaluate import Metrics
from .instance import Instance
from .mapping import Architecture, Mapping, Placement

__version__ = "0.1.0"

__all__ = ["Solution", "evaluate", "load_instance", "solve", "InstanceError", "SolverError",
           "SpecpimError", "Metrics", "Instance", "Architecture", "Mapping", "Placement", "__version__"]
