"""The evaluation columns the analysis reads from a sweep table, and their axis labels.

A sweep row carries its task's evaluation (:meth:`prunebench.tasks.Evaluation.row`):
``eval_metric``, ``eval_value``, ``eval_error`` (what falls with more data and what the scaling
laws fit: 1 − accuracy, the mean NLL per token of a language model, 1 − NDCG@10) and
``eval_higher_is_better``. A table (or a row) written before those columns existed is an
image-classification one: its error is ``1 - test_accuracy`` (the same float the sweep stored as
``test_error``) and its value ``test_accuracy``. ``test_accuracy``/``test_error`` stay in the
tables as the classification aliases. This module reads column names only; it imports no task.
"""

from __future__ import annotations

import pandas as pd

from prunebench.errors import PrunebenchError

ERROR, VALUE, METRIC, HIGHER = "eval_error", "eval_value", "eval_metric", "eval_higher_is_better"
LEGACY_METRIC = "accuracy"  # what a table without eval_metric measured
ERROR_LABELS = {"accuracy": "test error", "perplexity": "log perplexity (mean NLL per token, nats)",
                "ndcg@10": "1 - NDCG@10"}
VALUE_LABELS = {"accuracy": "test accuracy", "perplexity": "perplexity", "ndcg@10": "NDCG@10"}


def with_eval_columns(table: pd.DataFrame, columns=(ERROR, VALUE, METRIC, HIGHER)) -> pd.DataFrame:
    """``table`` with ``columns`` (of the four ``eval_*``) filled in every row: a missing value (or
    column) becomes the classification one (``eval_error`` = 1 - test_accuracy, ``eval_value`` =
    test_accuracy, metric ``accuracy``, higher is better). ``table`` itself when nothing is missing."""
    missing = [c for c in columns if c not in table.columns or table[c].isna().any()]
    if not missing:
        return table
    return table.assign(**{c: _filled(table, c) for c in missing})


def with_eval_error(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``eval_error`` in every row (:func:`with_eval_columns` of that column only)."""
    return with_eval_columns(table, (ERROR,))


def _filled(table: pd.DataFrame, column: str) -> pd.Series:
    accuracy = table["test_accuracy"].astype(float)
    fallback = {ERROR: 1.0 - accuracy, VALUE: accuracy, METRIC: pd.Series(LEGACY_METRIC, index=table.index),
                HIGHER: pd.Series(True, index=table.index)}[column]
    if column not in table.columns:
        return fallback
    filled = table[column].where(table[column].notna(), fallback)
    return filled.astype(fallback.dtype) if fallback.dtype != object else filled


def eval_metric(table: pd.DataFrame) -> str:
    """The table's one evaluation metric (``accuracy`` for a table without ``eval_metric``); a
    table mixing metrics is refused in one line."""
    metrics = sorted(set(with_eval_columns(table)[METRIC].astype(str))) if len(table) else [LEGACY_METRIC]
    if len(metrics) > 1:
        raise PrunebenchError(f"sweep table mixes evaluation metrics {', '.join(metrics)}; analyse one task's "
                              "sweep at a time (one scaling fit cannot pool two errors)")
    return metrics[0]


def error_label(metric: str) -> str:
    """Axis label of ``eval_error`` for ``metric``: ``test error`` (1 − accuracy), ``1 - NDCG@10``,
    ``log perplexity ...``; an unknown metric: ``error (<metric>)``."""
    return ERROR_LABELS.get(metric, f"error ({metric})")


def value_label(metric: str) -> str:
    """Axis label of ``eval_value`` for ``metric`` (``test accuracy``, ``perplexity``, ``NDCG@10``)."""
    return VALUE_LABELS.get(metric, f"test {metric}")
