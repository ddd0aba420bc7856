"""Is a score table precise enough to draw? Reliability of an estimator from its stored standard errors.

A score table stores each example's score ``s_i`` and its standard error ``SE_i`` (``score_se``).
Across examples, ``Var(s) = Var(true score) + E[SE²]`` when the estimation noise is independent of
the true score, so the share of the spread that is signal is the **reliability**

    ``R = 1 − mean_i SE_i² / Var_i(s_i)``

(classical test theory's reliability coefficient; Spearman 1910, Lord & Novick 1968). Its square
root bounds the (Pearson; roughly also the rank) correlation any other score can reach with this
one (Spearman's attenuation, ``|ρ_xy| ≤ sqrt(R_x R_y)``), so a correlation matrix
or benchmark figure drawn from an estimator with ``R`` near 0 shows noise. :func:`usable_for_figures`
leaves out an estimator whose reliability is below :data:`MIN_RELIABILITY` or that has fewer models
than its registered ``min_models`` (then its standard error is undefined).
"""

from __future__ import annotations

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.registry import get_metric

MIN_RELIABILITY = 0.5  # half of the score spread must be signal for a figure to show the metric


def reliability(scores, score_se) -> float:
    """``1 − mean(SE²)/Var(scores)`` over the examples with a finite SE (NaN if none or a constant score)."""
    scores = np.asarray(scores, dtype=np.float64)
    score_se = np.asarray(score_se, dtype=np.float64)
    finite = np.isfinite(score_se)
    spread = scores[finite].var(ddof=1) if finite.sum() >= 2 else np.nan
    if not np.isfinite(spread) or spread == 0:
        return float("nan")
    return float(1.0 - np.mean(score_se[finite] ** 2) / spread)


def registered_min_models(metric: str) -> int:
    """The registered ``min_models`` of ``metric`` (1 for a table whose metric is not registered)."""
    try:
        return get_metric(metric).min_models
    except PrunebenchError:
        return 1


def usable_for_figures(table) -> tuple[bool, str]:
    """(usable, one-line reason) for a :class:`~prunebench.metrics.storage.ScoreTable`.

    Not usable: fewer models than the metric's ``min_models`` (its standard error is undefined), a
    constant score, or a reliability below :data:`MIN_RELIABILITY`. Metrics without a defined
    standard error and no minimum (one probe, label-free encoders) are usable as they are.
    """
    name = str(table.provenance.get("score_name") or table.provenance.get("metric"))
    metric = str(table.provenance.get("metric"))
    n_models = int(table.provenance.get("n_models") or 0)
    needed = registered_min_models(metric)
    if needed > 1 and n_models < needed:
        return False, f"{name}: left out, {n_models} models < the {needed} its estimator needs for a standard error"
    if np.std(table.scores) == 0:
        return False, f"{name}: left out, the score is constant"
    score_se = table.score_se if table.score_se is not None else np.full(len(table.scores), np.nan)
    if not np.isfinite(score_se).any():
        if needed > 1:
            return False, f"{name}: left out, its standard error is undefined with {n_models} models"
        return True, f"{name}: no standard error defined ({n_models} model(s)); shown"
    r = reliability(table.scores, score_se)
    if not r >= MIN_RELIABILITY:
        return False, (f"{name}: left out, too few models ({n_models}): reliability {r:.2f} < {MIN_RELIABILITY} "
                       f"(estimation noise is {1 - r:.0%} of the score variance)")
    return True, f"{name}: reliability {r:.2f} with {n_models} model(s); shown"
