"""Shared figure style: Agg backend, colours per fraction kept and per metric, label texts, saving."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SIZE_LABEL = "pruned dataset size P = f·N (examples)"
INITIAL_SIZE_LABEL = "initial dataset size N (examples)"
FRACTION_LABEL = "fraction kept f (prune_ratio = 1 − f)"
DIRECTION_NOTE = "scores: higher = harder; keep hard = keep highest scores"
KEEP_TITLES = {"hard": "keep hard (highest scores)", "easy": "keep easy (lowest scores)", "random": "random subset",
               "all": "no pruning (f = 1)"}
RANDOM_COLOR = "0.2"


def fraction_colors(fractions) -> dict:
    """One viridis colour per f < 1 (small f dark), f = 1 black."""
    pruned = sorted(f for f in fractions if f < 1)
    cmap = plt.get_cmap("viridis")
    colors = {f: cmap(0.85 * i / max(len(pruned) - 1, 1)) for i, f in enumerate(pruned)}
    colors[1.0] = "black"
    return colors


def metric_colors(metrics) -> dict:
    """One tab10 colour per metric; random is dark grey."""
    cmap = plt.get_cmap("tab10")
    others = [m for m in sorted(metrics) if m != "random"]
    colors = {m: cmap(i % 10) for i, m in enumerate(others)}
    colors["random"] = RANDOM_COLOR
    return colors


def save(fig, path: str | os.PathLike) -> Path:
    """Save a PNG deterministically (no timestamp metadata) and close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def new_figure(n_panels: int, width: float = 4.6, height: float = 3.8):
    """A row of ``n_panels`` axes (always returned as a list)."""
    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, height), squeeze=False)
    return fig, list(axes[0])
