"""Error bars of the empirical figures: the standard error of a mean ``eval_error`` (the task's
error, :mod:`prunebench.scaling.columns`; test error for image classification).

* several seeds at a point: the standard error over seeds, s / √k (s the sample standard
  deviation of the k seeds' test errors);
* one seed: the binomial standard error of a test accuracy measured on n_test images,
  √(p(1 − p)/n_test) (the sampling error of the test set alone, a lower bound on the run-to-run
  spread).

Every figure states which of the two its bars are (:func:`error_bar_note`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prunebench.scaling.analysis import seed_means
from prunebench.scaling.columns import ERROR, HIGHER, VALUE, eval_metric, error_label, value_label, with_eval_columns

POINT_KEYS = ("metric", "keep", "initial_size", "fraction_kept", "n_kept")


def with_standard_errors(runs: pd.DataFrame) -> pd.DataFrame:
    """:func:`~prunebench.scaling.analysis.seed_means` plus ``eval_error_se`` (the standard error of
    the mean ``eval_error``; alias ``test_error_se``) and ``se_kind`` (``seeds`` or ``binomial``)
    per point; NaN where one seed has no recorded ``n_test``."""
    runs = with_eval_columns(runs)
    means = seed_means(runs)
    keys = [c for c in POINT_KEYS if c in runs.columns]
    if means.empty:
        empty = pd.Series(dtype=float)
        return means.assign(eval_error_se=empty, test_error_se=empty, se_kind=pd.Series(dtype=str), n_test=empty)
    n_test = runs.groupby(keys, as_index=False).agg(n_test=("n_test", "min")) if "n_test" in runs.columns else None
    means = means.merge(n_test, on=keys, how="left") if n_test is not None else means.assign(n_test=np.nan)
    spread = runs.groupby(keys, as_index=False).agg(seed_sd=(ERROR, "std"))
    means = means.merge(spread, on=keys, how="left")
    several = means["n_seeds"] > 1
    p = means[ERROR].clip(0, 1)
    binomial = np.sqrt(p * (1 - p) / means["n_test"].astype(float))
    means["eval_error_se"] = np.where(several, means["seed_sd"] / np.sqrt(means["n_seeds"]), binomial)
    means["test_error_se"] = means["eval_error_se"]
    means["se_kind"] = np.where(several, "seeds", "binomial")
    return means.drop(columns="seed_sd")


def error_axis(sweep: pd.DataFrame) -> str:
    """The y label of an ``eval_error`` axis: the task metric's error (``test error`` for accuracy)."""
    return error_label(eval_metric(sweep))


def score_axis(sweep: pd.DataFrame) -> tuple[str, str]:
    """(column, y label) of a "higher is better" panel: ``eval_value`` (test accuracy, NDCG@10) when
    the task's error is 1 − value (a higher-is-better metric; its ``eval_error_se`` is the value's
    standard error too), else ``eval_error`` itself with its label."""
    table = with_eval_columns(sweep)
    if bool(table[HIGHER].all()):
        return VALUE, value_label(eval_metric(table))
    return ERROR, error_label(eval_metric(table))


def error_bar_note(*tables: pd.DataFrame) -> str:
    """What the error bars of a figure are, from the points drawn (one line)."""
    points = pd.concat([t[["se_kind", "n_seeds", "n_test"]] for t in tables if len(t)], ignore_index=True) \
        if any(len(t) for t in tables) else pd.DataFrame(columns=["se_kind", "n_seeds", "n_test"])
    kinds = set(points["se_kind"])
    parts = []
    if "seeds" in kinds:
        seeds = sorted(int(k) for k in points.loc[points["se_kind"] == "seeds", "n_seeds"].unique())
        parts.append(f"standard error over seeds (k = {', '.join(map(str, seeds))})")
    if "binomial" in kinds:
        sizes = sorted(int(n) for n in points.loc[points["se_kind"] == "binomial", "n_test"].dropna().unique())
        size_text = f"n_test = {', '.join(map(str, sizes))}" if sizes else "n_test unknown: no bars"
        parts.append(f"binomial standard error √(p(1−p)/n_test) of one seed ({size_text})")
    return "error bars: " + ("; ".join(parts) if parts else "none (no points)")
