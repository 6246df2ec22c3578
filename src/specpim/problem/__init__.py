"""The problem: the frozen instance, its design space and the rules that
decide what a design may be, the mapping a solver returns, and the loader
that builds an instance from a file.  Above workload and hardware, below
the costs."""

from .design_space import DesignSpace
from .instance import Instance, Objective, Workload
from .mapping import Architecture, Mapping, Placement

__all__ = ["DesignSpace", "Instance", "Objective", "Workload", "Architecture", "Mapping", "Placement"]
