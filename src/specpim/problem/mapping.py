"""A co-design: the architecture plus where every operator of every phase runs.

This is what the solvers return, what the evaluator scores and what the
exports write.  ``to_dict``/``from_dict`` are exact inverses.
"""

from __future__ import annotations

from collections.abc import Mapping as TMapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from specpim.core.enums import Engine, Phase

HOST, PIM = Engine.HOST, Engine.PIM


@dataclass(frozen=True)
class Architecture:
    """The hardware choice.  ``pim_option`` is None when no PIM is built.

    ``draft_channels``/``target_channels`` are the PIM channels (per device)
    each model may use: a static partition, or both equal to ``pim_channels``
    when the design space shares them.
    """

    pim_option: str | None
    pim_channels: int
    draft_channels: int
    target_channels: int
    draft_len: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "pim_option": self.pim_option,
            "pim_channels": self.pim_channels,
            "draft_channels": self.draft_channels,
            "target_channels": self.target_channels,
            "draft_len": self.draft_len,
        }


@dataclass(frozen=True)
class Placement:
    """Where one operator runs: engine, PIM channel-group size, tier (``None``
    for the LM head, which runs once per step after the layers) and, on PIM,
    the first of the consecutive physical channels (per device, 0-based) that
    hold all its layers and compute it."""

    engine: Engine
    channels: int = 0
    tier: int | None = None
    first_channel: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"engine": str(self.engine), "channels": self.channels, "tier": self.tier,
                "first_channel": self.first_channel}

    @property
    def channel_range(self) -> range:
        """The physical channels of a PIM placement (empty on the host or without a first channel)."""
        if self.engine != Engine.PIM or self.first_channel is None:
            return range(0)
        return range(self.first_channel, self.first_channel + self.channels)


@dataclass(frozen=True)
class Mapping:
    architecture: Architecture
    phases: TMapping[Phase, TMapping[str, Placement]]

    def __post_init__(self) -> None:
        frozen = {p: MappingProxyType(dict(ops)) for p, ops in self.phases.items()}
        object.__setattr__(self, "phases", MappingProxyType(frozen))

    def to_dict(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture.to_dict(),
            "phases": {str(p): {name: pl.to_dict() for name, pl in ops.items()} for p, ops in self.phases.items()},
        }

    @classmethod
    def from_dict(cls, data: Any, *, file: str | None = None) -> Mapping:
        """Read a mapping written by ``to_dict`` (or by hand, or the
        mapping.json that ``solve -o`` writes).

        The document is validated against the mapping schema
        (specpim.problem.schema.MAPPING) first: a missing or unknown key or a
        wrong type raises InstanceError naming the file and the field path.
        Whether the mapping fits an instance is the evaluator's check.
        """
        from .schema import MAPPING
        from .validation import SchemaValidator

        SchemaValidator(MAPPING, "expected an object with architecture and phases").validate(data, file)
        a = data["architecture"]
        arch = Architecture(a.get("pim_option"), a["pim_channels"], a["draft_channels"], a["target_channels"],
                            a["draft_len"])
        phases = {Phase(phase): {name: Placement(Engine(pl["engine"]), pl.get("channels") or 0, pl.get("tier"),
                                                 pl.get("first_channel"))
                                 for name, pl in ops.items()}
                  for phase, ops in data["phases"].items()}
        return cls(architecture=arch, phases=phases)
