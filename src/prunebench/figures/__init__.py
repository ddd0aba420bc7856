"""Figures (matplotlib, Agg): the paper's empirical panels (:mod:`~prunebench.figures.empirical`)
and the metric rank-correlation heatmap (:mod:`~prunebench.figures.correlation`).

Every axis names "fraction kept f" (prune_ratio = 1 − f) and the score direction (higher = harder).
"""
