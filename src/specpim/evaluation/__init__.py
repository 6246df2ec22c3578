"""Evaluation: the independent evaluator that re-checks and scores a
mapping, and the baselines scored by the same cost model."""

from .evaluator import Metrics, OperatorMetrics, PhaseMetrics, evaluate

__all__ = ["Metrics", "OperatorMetrics", "PhaseMetrics", "evaluate"]
