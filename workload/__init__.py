"""Workload: decoder-only transformer models, their per-phase operator graphs,
and the speculative-decoding acceptance model."""

from .models import ModelConfig, model_preset, model_presets
from .operators import Operator, OpKind, PhaseWorkload, phase_workload
from .speculation import Speculation, expected_tokens

__all__ = ["ModelConfig", "model_preset", "model_presets", "Operator", "OpKind", "PhaseWorkload",
           "phase_workload", "Speculation", "expected_tokens"]
