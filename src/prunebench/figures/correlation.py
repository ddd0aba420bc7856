"""Heatmap of Spearman rank correlations between the metrics' scores (+ the matrix as CSV).

Estimators too noisy to rank anything at this scale (too few models, or a reliability below
:data:`prunebench.metrics.reliability.MIN_RELIABILITY` from their stored standard errors) are left
out of the figure and the CSV, with a one-line note each under the heatmap
(:func:`prunebench.metrics.reliability.usable_for_figures`).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from prunebench.errors import PrunebenchError

NOTE_LINE_INCHES = 0.16  # height of one "left out" note under the heatmap


def score_files(items) -> list[Path]:
    """Expand directories to their ``*.parquet`` files (sorted); keep files as given."""
    paths = []
    for item in items:
        item = Path(item)
        paths.extend(sorted(item.glob("*.parquet")) if item.is_dir() else [item])
    if len(paths) < 2:
        raise PrunebenchError(f"need at least two score tables for correlations, found {len(paths)} in {list(map(str, items))}")
    return paths


def read_aligned(paths, expected_ids=None) -> list:
    """The score tables of ``paths``, checked to score the same examples in the same order."""
    from prunebench.metrics.storage import read_scores

    tables = [read_scores(p, expected_ids) for p in paths]
    for path, table in zip(paths, tables):
        if not np.array_equal(table.ids, tables[0].ids):
            raise PrunebenchError(f"score file {path} scores other examples than {paths[0]}; recompute both for one config")
    return tables


def split_usable(paths, expected_ids=None) -> tuple[list[Path], list[str]]:
    """(score files usable for figures, one-line notes on those left out), in the given order."""
    from prunebench.metrics.reliability import usable_for_figures

    usable, notes = [], []
    for path, table in zip(paths, read_aligned(paths, expected_ids)):
        ok, reason = usable_for_figures(table)
        if ok:
            usable.append(Path(path))
        else:
            notes.append(reason)
    return usable, notes


def spearman_matrix(paths, expected_ids=None) -> pd.DataFrame:
    """Spearman ρ between every pair of score tables (aligned by example id), labelled by file stem."""
    from scipy.stats import spearmanr

    tables = read_aligned(paths, expected_ids)
    names = [Path(p).stem for p in paths]
    scores = np.column_stack([t.scores for t in tables])
    if scores.shape[1] == 1:
        rho = np.ones((1, 1))
    else:
        rho = spearmanr(scores).statistic
        rho = np.atleast_2d(rho) if scores.shape[1] > 2 else np.array([[1.0, rho], [rho, 1.0]])
    constant = np.std(scores, axis=0) == 0
    rho[constant, :], rho[:, constant] = np.nan, np.nan  # a constant score has no ranking
    return pd.DataFrame(rho, index=names, columns=names)


def plot_correlations(paths, out_fig: str | os.PathLike, out_csv: str | os.PathLike, expected_ids=None,
                      title: str = "Spearman rank correlation of pruning scores") -> pd.DataFrame:
    """Write the matrix CSV and an annotated heatmap of the usable tables; returns the matrix.

    The notes on the tables left out are printed under the heatmap and kept in ``matrix.attrs["left_out"]``.
    """
    usable, notes = split_usable(paths, expected_ids)  # every table is read and checked, then filtered
    if not usable:
        raise PrunebenchError(f"no score table is precise enough for the correlation figure: {'; '.join(notes)}")
    matrix = spearman_matrix(usable, expected_ids)
    matrix.attrs["left_out"] = notes
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    matrix.to_csv(out_csv, float_format="%.4f")
    n = len(matrix)
    note_height = NOTE_LINE_INCHES * len(notes)
    height = max(0.6 + 0.55 * n, 3.0) + note_height
    width = max(1.0 + 0.62 * n, 7.0 if notes else 5.0)  # a few metrics: room for the title and colour bar
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(matrix.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), matrix.columns, rotation=45, ha="right")
    ax.set_yticks(range(n), matrix.index)
    for i in range(n):
        for j in range(n):
            value = matrix.iat[i, j]
            text = "–" if np.isnan(value) else f"{value:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if not np.isnan(value) and abs(value) > 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Spearman ρ")
    heading = f"{title} (scores: higher = harder)"
    ax.set_title(textwrap.fill(heading, int(8 * width)), fontsize=9)  # ~8 characters per inch at 9 pt
    fig.tight_layout(rect=(0, note_height / height, 1, 1))
    for row, note in enumerate(notes):  # one line per estimator left out, under the heatmap
        fig.text(0.01, (len(notes) - row - 0.5) * NOTE_LINE_INCHES / height, note, fontsize=6, ha="left", va="center")
    Path(out_fig).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_fig, dpi=150, bbox_inches="tight", metadata={"Software": None})  # long row names stay inside
    plt.close(fig)
    return matrix
