"""Hardware: frozen descriptions of hosts, memories, PIM options and whole
systems (devices.py), and the presets with their published sources
(catalog.py).  What the hardware costs lives in specpim.costs."""

from .devices import Host, Memory, PimOption, System

__all__ = ["Host", "Memory", "PimOption", "System"]
