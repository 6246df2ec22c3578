"""A co-design: the architecture plus where every operator of every phase runs.

This is what the solvers return, what the evaluator scores and what the
exports write.  ``to_dict``/``from_dict`` are exact inverses.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping as TMapping

HOST, PIM = "host", "pim"


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
    """Where one operator runs: engine, PIM channel-group size, and tier
    (``None`` for the LM head, which runs once per step after the layers)."""

    engine: str
    channels: int = 0
    tier: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "channels": self.channels, "tier": self.tier}


@dataclass(frozen=True)
class Mapping:
    architecture: Architecture
    phases: TMapping[str, TMapping[str, Placement]]

    def __post_init__(self) -> None:
        frozen = {p: MappingProxyType(dict(ops)) for p, ops in self.phases.items()}
        object.__setattr__(self, "phases", MappingProxyType(frozen))

    def to_dict(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture.to_dict(),
            "phases": {p: {name: pl.to_dict() for name, pl in ops.items()} for p, ops in self.phases.items()},
        }

    @classmethod
    def from_dict(cls, data: TMapping[str, Any], *, file: str | None = None) -> "Mapping":
        """Read a mapping written by ``to_dict`` (or by hand).

        Structural problems raise InstanceError naming the field; whether the
        mapping fits an instance is the evaluator's check.
        """
        from specpim.errors import InstanceError

        def need(obj: Any, key: str, kinds: tuple[type, ...], where: str, optional: bool = False) -> Any:
            if not isinstance(obj, dict) or key not in obj:
                if optional:
                    return None
                raise InstanceError(f"missing field {key!r}", path=file, field=where)
            val = obj[key]
            if val is None and optional:
                return None
            if not isinstance(val, kinds) or isinstance(val, bool) and bool not in kinds:
                names = " or ".join(k.__name__ for k in kinds)
                raise InstanceError(f"expected {names}, found {val!r}", path=file, field=f"{where}.{key}")
            return val

        if not isinstance(data, dict):
            raise InstanceError("a mapping must be a JSON/YAML object", path=file, field="mapping")
        a = need(data, "architecture", (dict,), "mapping")
        arch = Architecture(
            pim_option=need(a, "pim_option", (str,), "architecture", optional=True),
            pim_channels=need(a, "pim_channels", (int,), "architecture"),
            draft_channels=need(a, "draft_channels", (int,), "architecture"),
            target_channels=need(a, "target_channels", (int,), "architecture"),
            draft_len=need(a, "draft_len", (int,), "architecture"),
        )
        phases_in = need(data, "phases", (dict,), "mapping")
        phases: dict[str, dict[str, Placement]] = {}
        for phase, ops in phases_in.items():
            if not isinstance(ops, dict):
                raise InstanceError(f"expected an object of operators, found {ops!r}", path=file,
                                    field=f"phases.{phase}")
            phases[phase] = {}
            for name, pl in ops.items():
                where = f"phases.{phase}.{name}"
                engine = need(pl, "engine", (str,), where)
                if engine not in (HOST, PIM):
                    raise InstanceError(f"expected 'host' or 'pim', found {engine!r}", path=file,
                                        field=f"{where}.engine")
                phases[phase][name] = Placement(
                    engine=engine,
                    channels=need(pl, "channels", (int,), where, optional=True) or 0,
                    tier=need(pl, "tier", (int,), where, optional=True),
                )
        return cls(architecture=arch, phases=phases)
