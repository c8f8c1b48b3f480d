"""Evaluation: splits and metrics, localisation scores, the baselines and the benchmarks
that reproduce the paper's tables."""
