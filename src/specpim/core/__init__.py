"""The bottom layer: errors, the closed sets (enums) and the tolerances
every rule shares.  It imports nothing else of specpim."""

from .enums import Allocation, Engine, MemoryModel, Metric, Phase, Status
from .errors import InstanceError, OutputError, SolverError, SpecpimError

__all__ = ["Allocation", "Engine", "MemoryModel", "Metric", "Phase", "Status",
           "InstanceError", "OutputError", "SolverError", "SpecpimError"]
