"""The acceptance model of speculative decoding: expected tokens per iteration."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def expected_tokens(draft_len: int, acceptance: float | tuple[float, ...]) -> float:
    """E(γ): expected tokens one iteration produces.

    With an i.i.d. per-token acceptance rate α (Leviathan et al., ICML 2023)
    E(γ) = (1 − α^(γ+1)) / (1 − α), and γ + 1 when α = 1.  With a
    per-position vector a₁…a_γ, E(γ) = 1 + Σᵢ Πⱼ≤ᵢ aⱼ.  γ = 0 is plain
    autoregressive decoding: one token.
    """
    if draft_len == 0:
        return 1.0
    if isinstance(acceptance, tuple):
        a = np.asarray(acceptance[:draft_len], dtype=float)
        return float(1.0 + np.cumprod(a).sum())
    alpha = float(acceptance)
    if alpha >= 1.0:
        return float(draft_len + 1)
    return float((1.0 - alpha ** (draft_len + 1)) / (1.0 - alpha))


@dataclass(frozen=True)
class Speculation:
    """Candidate draft lengths γ and the acceptance model.

    ``acceptance`` is an i.i.d. rate (float) or a per-position vector (tuple,
    at least as long as the largest γ).  ``draft_lens == (0,)`` means no
    draft model: plain autoregressive decoding.
    """

    draft_lens: tuple[int, ...]
    acceptance: float | tuple[float, ...] = 1.0

    def expected_tokens(self, draft_len: int) -> float:
        return expected_tokens(draft_len, self.acceptance)
