"""Scoring a model: a checkpoint run over a test set under both protocols (evaluate), the metrics
(metrics) and the constant-pose reference (reference)."""
