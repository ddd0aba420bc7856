"""Heatmap of Spearman rank correlations between all metrics' scores (+ the matrix as CSV)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from prunebench.errors import PrunebenchError


def score_files(items) -> list[Path]:
    """Expand directories to their ``*.parquet`` files (sorted); keep files as given."""
    paths = []
    for item in items:
        item = Path(item)
        paths.extend(sorted(item.glob("*.parquet")) if item.is_dir() else [item])
    if len(paths) < 2:
        raise PrunebenchError(f"need at least two score tables for correlations, found {len(paths)} in {list(map(str, items))}")
    return paths


def spearman_matrix(paths, expected_ids=None) -> pd.DataFrame:
    """Spearman ρ between every pair of score tables (aligned by example id), labelled by file stem."""
    from scipy.stats import spearmanr

    from prunebench.metrics.storage import read_scores

    tables = [read_scores(p, expected_ids) for p in paths]
    reference = tables[0].ids
    for path, table in zip(paths, tables):
        if not np.array_equal(table.ids, reference):
            raise PrunebenchError(f"score file {path} scores other examples than {paths[0]}; recompute both for one config")
    names = [Path(p).stem for p in paths]
    scores = np.column_stack([t.scores for t in tables])
    rho = spearmanr(scores).statistic
    rho = np.atleast_2d(rho) if scores.shape[1] > 2 else np.array([[1.0, rho], [rho, 1.0]])
    constant = np.std(scores, axis=0) == 0
    rho[constant, :], rho[:, constant] = np.nan, np.nan  # a constant score has no ranking
    return pd.DataFrame(rho, index=names, columns=names)


def plot_correlations(paths, out_fig: str | os.PathLike, out_csv: str | os.PathLike, expected_ids=None,
                      title: str = "Spearman rank correlation of pruning scores") -> pd.DataFrame:
    """Write the matrix CSV and an annotated heatmap; returns the matrix."""
    matrix = spearman_matrix(paths, expected_ids)  # validate every table before importing matplotlib
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    matrix.to_csv(out_csv, float_format="%.4f")
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * n, 0.6 + 0.55 * n))
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(n), matrix.index)
    for i in range(n):
        for j in range(n):
            value = matrix.iat[i, j]
            text = "–" if np.isnan(value) else f"{value:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if not np.isnan(value) and abs(value) > 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Spearman ρ (scores: higher = harder)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    Path(out_fig).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_fig, dpi=150)
    plt.close(fig)
    return matrix
