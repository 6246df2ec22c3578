"""specpim: provably optimal hardware/dataflow co-design for LLM speculative
inference on PIM-enabled systems.

    >>> import specpim
    >>> inst = specpim.load_instance("instances/tiny.yaml")
    >>> sol = specpim.solve(inst)
    >>> sol.status, sol.design
"""

from pathlib import Path as _Path

# In a source checkout the design card's top-level folders (formulation/,
# hardware/, solvers/, workload/) sit beside this one; the installed package
# has them inside.  Let `import specpim` from a checkout find them the same way.
_here = _Path(__file__).resolve().parent
if not (_here / "formulation").is_dir() and (_here.parent / "formulation" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # noqa: F821  (package __path__)

from .api import Solution, evaluate, load_instance, solve
from .errors import InstanceError, SolverError, SpecpimError
from .evaluate import Metrics
from .instance import Instance
from .mapping import Architecture, Mapping, Placement

__version__ = "0.1.0"

__all__ = ["Solution", "evaluate", "load_instance", "solve", "InstanceError", "SolverError",
           "SpecpimError", "Metrics", "Instance", "Architecture", "Mapping", "Placement", "__version__"]
