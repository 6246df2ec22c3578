"""Workload: decoder-only transformer models, their per-phase operator graphs,
and the speculative-decoding acceptance model."""

from .models import ModelConfig, model_preset, model_presets
from .operators import Operator, PhaseWorkload, layer_graph, phase_workload
from .speculation import Speculation, expected_tokens

__all__ = [
    "ModelConfig",
    "model_preset",
    "model_presets",
    "Operator",
    "PhaseWorkload",
    "layer_graph",
    "phase_workload",
    "Speculation",
    "expected_tokens",
]
