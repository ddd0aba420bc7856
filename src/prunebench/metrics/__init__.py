"""Pruning metrics behind one registry; every score is **higher = harder**.

Adding a metric is one module in this package with one ``@register_metric`` decorator; it is
discovered automatically. See :mod:`.registry` (the plug-in API), :mod:`.context` (what a metric
gets: train set, probe config, seeds, memoised probe runs), :mod:`.storage` (score tables) and
:mod:`.compute` (run one metric for a config and write its table).
"""

from prunebench.metrics.registry import DIRECTION, MetricResult, MetricSpec, get_metric, list_metrics, register_metric
from prunebench.metrics.reliability import reliability, usable_for_figures
from prunebench.metrics.storage import ScoreTable, read_scores, write_scores

__all__ = [
    "DIRECTION", "MetricResult", "MetricSpec", "ScoreTable", "get_metric", "list_metrics", "read_scores",
    "register_metric", "reliability", "usable_for_figures", "write_scores",
]
