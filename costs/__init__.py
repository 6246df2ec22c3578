"""Costs: what the hardware charges for each operator, collective and step.

* ``protocol.py`` — the ``CostModel`` protocol any cost model implements;
* ``roofline.py`` — the built-in closed-form model (docs/formulation.md §2);
* ``plugins.py`` — choosing the model (built-in, an object, or a
  ``module:Class`` named by the instance) and checking every answer it gives;
* ``tables.py`` — the numpy cost tables the formulation reads.
"""

from .protocol import CostModel
from .roofline import RooflineCostModel
from .tables import CostTable, InstanceTables, cost_table

__all__ = ["CostModel", "RooflineCostModel", "CostTable", "InstanceTables", "cost_table"]
