"""Hand-crafted baselines the paper compares against (Table 3: Sutthiwan et al. 2011)."""
