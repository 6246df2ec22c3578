"""Hardware: host, memory and PIM device models and their closed-form costs."""

from .costs import CostModel, CostTable, RooflineCostModel, cost_table
from .devices import Host, Memory, PimOption, System

__all__ = ["CostModel", "CostTable", "RooflineCostModel", "cost_table", "Host", "Memory", "PimOption", "System"]
