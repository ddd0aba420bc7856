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
               "all": "no pruning (f = 1)", "low": "keep the low-score window", "medium": "keep the middle window",
               "high": "keep the high-score window"}
KEEP_ORDER = ("hard", "easy", "low", "medium", "high")  # panel order of the selection rules' keep labels
RANDOM_COLOR = "0.2"

# The one map from identifiers (scaling families, protocols, keep rules, criteria) to legend text.
LABELS = {
    "power_law": "power law",
    "power_law_floor": "power law + floor",
    "exponential": "exponential",
    "exponential_floor": "exponential + floor",
    "fixed_epochs": "fixed epochs",
    "fixed_compute": "fixed compute (f = 1 steps)",
    "hard": "keep hard",
    "easy": "keep easy",
    "random": "random",
    "none": "no pruning (f = 1)",
    "bic": "BIC",
    "aic": "AIC",
    "aicc": "AICc",
}
# The formula of each scaling family (P = pruned dataset size), as the legends write it.
FORMULA_TEXT = {
    "power_law": r"$\varepsilon = aP^{-\nu}$",
    "power_law_floor": r"$\varepsilon = aP^{-\nu} + c$",
    "exponential": r"$\varepsilon = a\,e^{-P/\lambda}$",
    "exponential_floor": r"$\varepsilon = a\,e^{-P/\lambda} + c$",
}
# Each scaling family its own colour, line style and marker, so coinciding fits stay distinguishable.
FAMILY_STYLES = {
    "power_law": {"color": "tab:red", "ls": "--", "marker": "v"},
    "power_law_floor": {"color": "tab:purple", "ls": "-.", "marker": "^"},
    "exponential": {"color": "tab:blue", "ls": ":", "marker": "s"},
    "exponential_floor": {"color": "tab:green", "ls": (0, (6, 2, 1, 2)), "marker": "D"},
}


def label(identifier: str) -> str:
    """Legend text of an identifier (:data:`LABELS`); metric names are shown as registered."""
    return LABELS.get(identifier, identifier)


def strategy_label(metric: str, keep: str) -> str:
    """``el2n keep hard``, ``random``, ``no pruning (f = 1)``."""
    return label(metric) if metric in ("random", "none") or keep in ("random", "all") else f"{metric} {label(keep)}"


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


def suptitle(fig, text: str, fontsize: float = 8):
    """A figure title wrapped to the figure's width (no line runs past its edges)."""
    import textwrap

    chars = max(20, int(fig.get_figwidth() * 72 / (0.6 * fontsize)))
    lines = [wrapped for line in text.split("\n") for wrapped in textwrap.wrap(line, chars) or [""]]
    return fig.suptitle("\n".join(lines), fontsize=fontsize)


def new_figure(n_panels: int, width: float = 4.6, height: float = 3.8, sharex=False, sharey=False):
    """A row of ``n_panels`` axes (always returned as a list); compared panels share their axes."""
    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, height), squeeze=False, sharex=sharex,
                             sharey=sharey, layout="constrained")
    return fig, list(axes[0])
