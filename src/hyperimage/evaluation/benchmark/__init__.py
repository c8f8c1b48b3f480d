"""Reproductions of the paper's tables, run by ``hyperimage benchmark``."""
