"""``class_balance.png``: what the paper's class-balancing ratio buys (Sorscher et al. 2022, §5).

For every metric and fraction kept f at the largest N, the paired difference over seeds

    Δ(f) = acc(fixed_epochs, class_balance c) − acc(unbalanced, class_balance 0),

same seed, same N-subset and scores, so the only change is the selection's per-class floor
``ceil(c·f·N_c)``. Left: mean top-1 accuracy; right: the worst class's accuracy (pruning can hurt
single classes badly: Vysogorets et al., DRoP, ICLR 2025). Error bars: standard error of the mean
paired difference over seeds, sd(Δ)/√n_seeds. Δ > 0: class balancing helps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prunebench.figures.style import FRACTION_LABEL, metric_colors, new_figure, suptitle

BALANCED, UNBALANCED = "fixed_epochs", "unbalanced"
PAIR_KEYS = ["initial_size", "metric", "keep", "fraction_kept", "seed"]
COLUMNS = {"test_accuracy": "mean top-1 accuracy", "worst_class_accuracy": "worst-class accuracy"}


def balance_pairs(sweep: pd.DataFrame) -> pd.DataFrame:
    """One row per (N, metric, keep, f, seed) both protocols ran: columns ``<c>_balanced`` and ``<c>_unbalanced``."""
    return sweep[sweep["protocol"] == BALANCED].merge(
        sweep[sweep["protocol"] == UNBALANCED], on=PAIR_KEYS, suffixes=("_balanced", "_unbalanced"))


def paired_balance_differences(sweep: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per (N, metric, keep, f): mean and standard error over seeds of balanced − unbalanced ``column``
    (only the seeds both protocols ran), with ``n_seeds``."""
    pairs = balance_pairs(sweep)
    pairs["delta"] = pairs[f"{column}_balanced"] - pairs[f"{column}_unbalanced"]
    grouped = pairs.groupby(PAIR_KEYS[:-1], as_index=False)["delta"]
    table = grouped.agg(delta_mean="mean", delta_sd="std", n_seeds="count")
    table["delta_se"] = table["delta_sd"] / np.sqrt(table["n_seeds"])
    return table.drop(columns="delta_sd")


def unbound_metrics(sweep: pd.DataFrame) -> list[str]:
    """Metrics whose balanced and unbalanced kept sets are identical at every (f, seed): the floor
    never binds (their global top-k already gives every class its floor), so Δ = 0 exactly."""
    if "kept_ids_hash" not in sweep.columns:
        return []
    pairs = balance_pairs(sweep)
    same = (pairs["kept_ids_hash_balanced"] == pairs["kept_ids_hash_unbalanced"]).groupby(pairs["metric"]).all()
    return sorted(same[same].index)


def plot_class_balance(sweep: pd.DataFrame, tag: str):
    """Two panels (mean, worst class) of Δ(f) per metric, ± the paired standard error; metrics
    whose kept sets never change (:func:`unbound_metrics`) are named under the panels, not drawn."""
    largest = int(sweep[sweep["protocol"] == UNBALANCED]["initial_size"].max())
    at_n = sweep[sweep["initial_size"] == largest]
    unbound = unbound_metrics(at_n)
    fig, axes = new_figure(2, sharex=True, sharey=True)
    colors = metric_colors(set(at_n[at_n["protocol"] == UNBALANCED]["metric"]) - set(unbound))
    seeds = 0
    for ax, (column, name) in zip(axes, COLUMNS.items()):
        table = paired_balance_differences(at_n, column)
        for (metric, keep), rows in table[~table["metric"].isin(unbound)].groupby(["metric", "keep"]):
            rows = rows.sort_values("fraction_kept")
            ax.errorbar(rows["fraction_kept"], 100 * rows["delta_mean"], yerr=100 * rows["delta_se"], fmt="o-",
                        ms=3, capsize=2, color=colors.get(metric, "0.5"), label=f"{metric} (keep {keep})")
            seeds = max(seeds, int(rows["n_seeds"].max()))
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xlabel(FRACTION_LABEL)
        ax.set_title(f"{name}: balanced − unbalanced", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Δ accuracy (points; > 0: balancing helps)")
    axes[0].legend(fontsize=6)
    if unbound:
        fig.supxlabel(f"identical kept sets with and without balancing at every f and seed (the floor never binds; "
                      f"Δ = 0, not drawn): {', '.join(unbound)}", fontsize=6, ha="left", x=0.06)
    suptitle(fig, f"Class balancing (per-class floor ceil(c·f·N_c)) vs plain global top-k, N = {largest} ({tag})\n"
                  f"paired over {seeds} seeds (same subset and scores); bars: standard error of the paired difference",
             fontsize=8)
    return fig
