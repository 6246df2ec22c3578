"""A co-design: the architecture plus where every operator of every phase runs.

This is what the solvers return, what the evaluator scores and what the
exports write.  ``to_dict``/``from_dict`` are exact inverses.
"""

from __future__ import annotations

import difflib
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
        """Read a mapping written by ``to_dict`` (or by hand, or the
        mapping.json that ``solve -o`` writes).

        Structural problems (a missing or unknown key, a wrong type) raise
        InstanceError naming the file and the field path; whether the mapping
        fits an instance is the evaluator's check.
        """
        from specpim.errors import InstanceError

        def fail(where: str, message: str) -> InstanceError:
            return InstanceError(message, path=file, field=where)

        def obj(value: Any, where: str, allowed: tuple[str, ...]) -> dict:
            if not isinstance(value, dict):
                raise fail(where, f"expected an object with {', '.join(allowed)}, found {_found(value)}")
            for key in value:
                if key not in allowed:
                    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
                    hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(allowed)}"
                    raise fail(_join(where, key), f"unknown key {key!r}; {hint}")
            return value

        def need(value: dict, key: str, where: str, kind: type, noun: str, *, optional: bool = False) -> Any:
            if value.get(key) is None:
                if optional:
                    return None
                raise fail(_join(where, key), f"missing: expected {noun}")
            v = value[key]
            if not isinstance(v, kind) or isinstance(v, bool):
                raise fail(_join(where, key), f"expected {noun}, found {_found(v)}")
            return v

        top = obj(data, "", _DOCUMENT_KEYS)
        a = obj(top.get("architecture"), "architecture", _ARCH_KEYS)
        count = "an integer ≥ 0 (channels)"
        arch = Architecture(
            pim_option=need(a, "pim_option", "architecture", str, "a PIM option name, or null", optional=True),
            pim_channels=need(a, "pim_channels", "architecture", int, count),
            draft_channels=need(a, "draft_channels", "architecture", int, count),
            target_channels=need(a, "target_channels", "architecture", int, count),
            draft_len=need(a, "draft_len", "architecture", int, "an integer ≥ 0 (tokens)"),
        )
        for key in ("pim_channels", "draft_channels", "target_channels", "draft_len"):
            if getattr(arch, key) < 0:
                raise fail(f"architecture.{key}", f"expected an integer ≥ 0, found {getattr(arch, key)}")
        phases_in = top.get("phases")
        if not isinstance(phases_in, dict):
            raise fail("phases", f"expected an object of phases (draft, verify), found {_found(phases_in)}")
        phases: dict[str, dict[str, Placement]] = {}
        for phase, ops in phases_in.items():
            where = f"phases.{phase}"
            if not isinstance(ops, dict):
                raise fail(where, f"expected an object of operators, found {_found(ops)}")
            phases[phase] = {}
            for name, pl in ops.items():
                at = f"{where}.{name}"
                pl = obj(pl, at, _PLACEMENT_KEYS)
                engine = need(pl, "engine", at, str, "'host' or 'pim'")
                if engine not in (HOST, PIM):
                    raise fail(f"{at}.engine", f"expected 'host' or 'pim', found {engine!r}")
                phases[phase][name] = Placement(
                    engine=engine,
                    channels=need(pl, "channels", at, int, count, optional=True) or 0,
                    tier=need(pl, "tier", at, int, "an integer ≥ 0, or null for the LM head", optional=True),
                )
        return cls(architecture=arch, phases=phases)


# Keys of mapping.json: what ``to_dict`` writes plus the result fields that
# ``solve -o`` adds around it.
_DOCUMENT_KEYS = ("architecture", "phases", "instance", "status", "objective")
_ARCH_KEYS = ("pim_option", "pim_channels", "draft_channels", "target_channels", "draft_len")
_PLACEMENT_KEYS = ("engine", "channels", "tier")


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _found(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
