"""The validated, frozen problem instance.

``load_instance`` (specpim.problem.loader) turns a YAML file or a dict into
an :class:`Instance`; everything downstream reads only these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specpim.core.enums import Metric, Phase
from specpim.hardware.devices import PimOption, System
from specpim.workload.models import ModelConfig
from specpim.workload.operators import OpKind, PhaseWorkload, phase_workload
from specpim.workload.speculation import Speculation

from .design_space import DesignSpace


@dataclass(frozen=True)
class Workload:
    """Requests served together: ``batch`` sequences, each with a prompt of
    ``prompt_len`` tokens that generates ``gen_len`` tokens."""

    batch: int
    prompt_len: int
    gen_len: int

    @property
    def context(self) -> float:
        """Mean cached context over the generation: what attention reads."""
        return self.prompt_len + self.gen_len / 2.0

    @property
    def max_context(self) -> int:
        """Longest context: what the KV cache must hold."""
        return self.prompt_len + self.gen_len


@dataclass(frozen=True)
class Objective:
    metric: Metric = Metric.LATENCY
    latency_bound: float | None = None  # seconds per token (file: ms); energy objective
    energy_bound: float | None = None   # joules per token (file: mJ); latency and throughput objectives


@dataclass(frozen=True)
class Instance:
    name: str
    target: ModelConfig
    draft: ModelConfig | None
    workload: Workload
    speculation: Speculation
    system: System
    design_space: DesignSpace
    objective: Objective
    cost_model: str | None = None       # "module:Class" named by the file
    source: str | None = None           # the file it came from
    base_dir: str | None = None         # folder that relative paths in it resolve against
    # Workloads derived from the fields above, built once (not part of the value).
    _derived: dict[tuple[object, ...], Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def speculative(self) -> bool:
        return self.draft is not None

    @property
    def draft_lens(self) -> tuple[int, ...]:
        return self.speculation.draft_lens if self.draft is not None else (0,)

    def expected_tokens(self, draft_len: int) -> float:
        return self.speculation.expected_tokens(draft_len)

    def options(self) -> tuple[PimOption | None, ...]:
        """PIM options the design space allows, ``None`` meaning no PIM."""
        chosen = tuple(self.system.pim_option(n) for n in self.design_space.pim_options)
        return ((None,) if self.design_space.include_no_pim else ()) + chosen

    def phase(self, phase: Phase, draft_len: int) -> PhaseWorkload:
        """One step of ``phase`` when the draft length is ``draft_len``."""
        key = ("phase", phase, 0 if phase == Phase.DRAFT else draft_len)
        if key not in self._derived:
            self._derived[key] = self._phase(phase, draft_len)
        work: PhaseWorkload = self._derived[key]
        return work

    def _phase(self, phase: Phase, draft_len: int) -> PhaseWorkload:
        w = self.workload
        if phase == Phase.DRAFT:
            if self.draft is None:
                raise ValueError("the instance has no draft model")
            model, tokens = self.draft, 1
        else:
            model, tokens = self.target, draft_len + 1
        return phase_workload(
            phase, model, batch=w.batch, tokens=tokens, context=w.context,
            max_context=w.max_context, devices=self.system.devices,
        )

    def phases(self, draft_len: int) -> tuple[Phase, ...]:
        return (Phase.DRAFT, Phase.VERIFY) if self.draft is not None and draft_len > 0 else (Phase.VERIFY,)

    def memory_parts(self, draft_len: int) -> list[tuple[str, float, float]]:
        """Per model of the iteration: (name, weight bytes, KV-cache bytes) one device holds."""
        parts = []
        for p in self.phases(draft_len):
            work = self.phase(p, draft_len)
            kv = sum(o.resident_bytes for o in work.layer_ops if o.kind == OpKind.ATTENTION) * work.layers
            parts.append((work.model.name, work.model.weight_bytes / self.system.devices, kv))
        return parts

    def memory_need(self, draft_len: int) -> float:
        """Bytes one device must hold: weights and KV caches of every model of the iteration."""
        key = ("memory", draft_len > 0 and self.draft is not None)
        if key not in self._derived:
            self._derived[key] = sum(w + kv for _, w, kv in self.memory_parts(draft_len))
        need: float = self._derived[key]
        return need
