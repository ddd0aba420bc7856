"""Pareto frontier over the fraction kept, and the keep-easy / keep-hard crossover size.

Pareto frontier. Every run at initial size N and fraction kept f trains on a pruned dataset of
size P = f·N. Over all (N, f) of one pruning strategy, the frontier is the lower envelope

    ε*(P) = min { ε(N, f) : f·N ≤ P },

kept only at the sizes where it strictly improves (so ε* decreases with P). Errors are means over
seeds. This is the curve the paper compares with the f = 1 power law (Fig. 3).

Crossover. At fixed f, Δ(N) = ε_hard(N) − ε_easy(N). The paper predicts Δ > 0 (keep easy wins) for
small N and Δ < 0 (keep hard wins) for large N. The crossover N* is where Δ changes sign, linearly
interpolated in log N between the bracketing sizes N_i, N_{i+1}:

    log N* = log N_i + Δ_i · (log N_{i+1} − log N_i) / (Δ_i − Δ_{i+1}).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prunebench.scaling.columns import ERROR


def error_column(table: pd.DataFrame) -> str:
    """The error column of a seed-mean table: ``eval_error``, or ``test_error`` in a table without it."""
    return ERROR if ERROR in table.columns else "test_error"


def pareto_frontier(table: pd.DataFrame, size_col: str = "n_kept", error_col: str | None = None) -> pd.DataFrame:
    """Rows of ``table`` on the lower envelope of error (``error_col``, default
    :func:`error_column`) versus size (sorted by size).

    ``table`` holds one row per (N, f) (average seeds first); every column is carried along, so
    the caller sees which f and N each frontier point came from.
    """
    error_col = error_col or error_column(table)
    ordered = table.sort_values([size_col, error_col], kind="mergesort").reset_index(drop=True)
    best_so_far, keep = np.inf, []
    for position, error in enumerate(ordered[error_col].to_numpy()):
        if error < best_so_far:
            keep.append(position)
            best_so_far = error
    return ordered.iloc[keep].reset_index(drop=True)


def crossover_size(sizes, delta) -> dict:
    """First sign change of Δ(N) = ε_hard − ε_easy, interpolated in log N.

    Returns ``{"size": N* or NaN, "direction": "easy->hard" | "hard->easy" | "none", "bracket": [N_i, N_i+1]}``.
    "easy->hard" means keep easy wins below N* and keep hard above it (the paper's prediction).
    A Δ of exactly 0 between opposite signs is the crossover itself.
    """
    order = np.argsort(np.asarray(sizes, float))
    sizes, delta = np.asarray(sizes, float)[order], np.asarray(delta, float)[order]
    nonzero = np.flatnonzero(delta != 0)
    for i, j in zip(nonzero[:-1], nonzero[1:]):
        if np.sign(delta[i]) == np.sign(delta[j]):
            continue
        direction = "easy->hard" if delta[i] > 0 else "hard->easy"
        if j - i > 1:
            return {"size": float(sizes[i + 1]), "direction": direction, "bracket": [float(sizes[i]), float(sizes[j])]}
        step = (np.log(sizes[j]) - np.log(sizes[i])) * delta[i] / (delta[i] - delta[j])
        return {"size": float(np.exp(np.log(sizes[i]) + step)), "direction": direction,
                "bracket": [float(sizes[i]), float(sizes[j])]}
    return {"size": float("nan"), "direction": "none", "bracket": []}


def hard_minus_easy(means: pd.DataFrame, error_col: str | None = None) -> pd.DataFrame:
    """Δ = ε_hard − ε_easy per (initial_size, fraction_kept), from a table of seed-averaged errors
    (``error_col``, default :func:`error_column`) with a ``keep`` column (one metric). Columns:
    initial_size, fraction_kept, easy, hard, delta."""
    wide = means.pivot_table(index=["initial_size", "fraction_kept"], columns="keep",
                             values=error_col or error_column(means))
    if not {"easy", "hard"} <= set(wide.columns):
        return pd.DataFrame(columns=["initial_size", "fraction_kept", "easy", "hard", "delta"])
    wide = wide[["easy", "hard"]].dropna().reset_index()
    wide.columns.name = None
    wide["delta"] = wide["hard"] - wide["easy"]
    return wide
