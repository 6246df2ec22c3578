"""The validated, frozen problem instance.

``load_instance`` (in specpim.loader) turns a YAML file or a dict into an
:class:`Instance`; everything downstream reads only these objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from specpim.hardware.devices import PimOption, System
from specpim.workload.models import ModelConfig
from specpim.workload.operators import PhaseWorkload, phase_workload
from specpim.workload.speculation import Speculation

DRAFT, VERIFY = "draft", "verify"
PHASES = (DRAFT, VERIFY)
PARTITION, SHARED = "partition", "shared"
LATENCY, ENERGY, THROUGHPUT = "latency", "energy", "throughput"
# Memory rules hold to one part per million: far below any physical meaning,
# and above the MILP solver's feasibility tolerance (its capacity rows are in
# channels, so 1e-7 absolute is at most 1e-7 relative).
CAPACITY_RTOL = 1e-6


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
class DesignSpace:
    """What the solver may choose.

    ``pim_channels`` lists the candidate counts of PIM-carrying channels per
    device; ``channel_step`` is the granularity of an operator's channel group
    and of the draft/target split (every count is a multiple of it).
    """

    pim_options: tuple[str, ...]
    pim_channels: tuple[int, ...]
    channel_step: int
    allocation: str = PARTITION
    area_budget: float | None = None    # mm² per device
    include_no_pim: bool = True

    @cached_property
    def channel_counts(self) -> tuple[int, ...]:
        """Sizes a PIM operator's channel group may take."""
        top = max(self.pim_channels, default=0)
        return tuple(range(self.channel_step, top + 1, self.channel_step)) if top else ()


@dataclass(frozen=True)
class Objective:
    metric: str = LATENCY
    latency_bound: float | None = None  # seconds per token (file: ms)


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

    def phase(self, phase: str, draft_len: int) -> PhaseWorkload:
        """One step of ``phase`` when the draft length is ``draft_len``."""
        w = self.workload
        model, tokens = (self.draft, 1) if phase == DRAFT else (self.target, draft_len + 1)
        assert model is not None, "no draft model"
        return phase_workload(
            phase, model, batch=w.batch, tokens=tokens, context=w.context,
            max_context=w.max_context, devices=self.system.devices,
        )

    def phases(self, draft_len: int) -> tuple[str, ...]:
        return PHASES if self.draft is not None and draft_len > 0 else (VERIFY,)
