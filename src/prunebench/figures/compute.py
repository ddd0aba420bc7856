"""The task's score (test accuracy) versus total compute at the largest initial size N (``accuracy_vs_compute.png``).

Every method trained on (a part of) the N = N_max initial examples is one point per f at its mean
total cost and mean score over seeds (:func:`~prunebench.figures.uncertainty.score_axis`: test
accuracy for image classification):

    total cost = training cost + scoring cost,

in optimizer steps (``total_steps`` = ``train_steps`` + ``score_probe_steps``; left panel) and in
seconds (``total_wall_time_s`` = ``train_wall_time_s`` + ``score_wall_time_s``; right panel). The
scoring cost is what the score probes of the point's initial subset cost (0 for random, RS2,
InfoBatch, the compressed schedule and full data). Methods: static pruning (each metric and keep
rule over f, fixed epochs), dynamic pruning (InfoBatch, Qin et al. 2024), RS2 with and without
replacement (Okanovic et al. 2024), the compressed schedule (all N for the steps of the static run
at f) and full data (f = 1). A method without rows is skipped and named under the figure.
Vertical error bars: standard error over seeds (binomial standard error at one seed,
:mod:`prunebench.figures.uncertainty`); horizontal bars: the standard error of the steps over seeds.
Seconds are the fastest seed's (:data:`COST_STATISTIC`): other jobs on the machine only add time.

The cost column names come from ``prunebench.sweep.aggregate.COST_TOTALS`` (through
:data:`COST_UNITS`); a table written before the totals existed gets them from their parts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prunebench.figures.style import DIRECTION_NOTE, label, metric_colors, new_figure, suptitle
from prunebench.figures.uncertainty import error_bar_note, score_axis, with_standard_errors
from prunebench.sweep.aggregate import COST_TOTALS

# unit: (total column, its parts (training, scoring), axis label); the names are the sweep table's
# (prunebench.sweep.aggregate.COST_TOTALS, the one place they are defined)
COST_UNITS = {
    unit: (total, COST_TOTALS[total], axis) for unit, total, axis in (
        ("steps", "total_steps", "total optimizer steps (scoring + training)"),
        ("seconds", "total_wall_time_s", "total seconds (scoring + training)"))
}
# how a point's seeds are summarised per unit: steps are deterministic (mean = every seed's); wall
# time grows with whatever else runs on the machine (seen: 64 s alone, up to 850 s beside another
# training job), so the seconds of a point are its fastest seed's, as `timeit` reports the minimum
COST_STATISTIC = {"steps": "mean", "seconds": "min"}
# method name: (protocol, metric, keep or None = every keep of the protocol), drawing style
METHODS = {
    "full data": (("fixed_epochs", "none", "all"), {"color": "black", "marker": "*", "ms": 11}),
    "InfoBatch (dynamic)": (("infobatch", "infobatch", "dynamic"), {"color": "tab:olive", "marker": "P", "ms": 8}),
    "RS2 without replacement": (("rs2", "rs2", "without-replacement"), {"color": "tab:cyan", "marker": "o", "ls": "-."}),
    "RS2 with replacement": (("rs2", "rs2", "with-replacement"), {"color": "tab:cyan", "marker": "x", "ls": ":"}),
    "compressed schedule": (("compressed_schedule", "full-data", "compressed"),
                            {"color": "tab:brown", "marker": "D", "ls": "--"}),
}
STATIC_PROTOCOL = "fixed_epochs"


def total_cost(rows: pd.DataFrame, unit: str) -> pd.Series:
    """The rows' total cost in ``unit`` (:data:`COST_UNITS`): the total column, else the sum of its parts
    (a missing scoring part counts 0)."""
    total, (train, score), _ = COST_UNITS[unit]
    if total in rows.columns and rows[total].notna().all():
        return rows[total].astype(float)
    scoring = rows[score].astype(float).fillna(0.0) if score in rows.columns else 0.0
    return rows[train].astype(float) + scoring


def method_rows(sweep: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{method label: its rows at N_max} for the methods that have rows (static: one per metric/keep)."""
    at_max = sweep[sweep["initial_size"] == sweep["initial_size"].max()]
    out = {}
    static = at_max[(at_max["protocol"] == STATIC_PROTOCOL) & (at_max["metric"] != "none")]
    for (metric, keep), rows in static.groupby(["metric", "keep"]):
        out[f"{metric} {label(keep)}" if keep != "random" else label(metric)] = rows
    for name, ((protocol, metric, keep), _) in METHODS.items():
        rows = at_max[(at_max["protocol"] == protocol) & (at_max["metric"] == metric) & (at_max["keep"] == keep)]
        if len(rows):
            out[name] = rows
    return out


def cost_points(rows: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Per f: the seed means of :func:`with_standard_errors` (eval_value, eval_error, test_accuracy
    and ``eval_error_se``), mean cost and its standard error over seeds."""
    rows = rows.assign(cost=total_cost(rows, unit).to_numpy())
    points = with_standard_errors(rows)
    cost = rows.groupby("fraction_kept", as_index=False).agg(cost=("cost", COST_STATISTIC[unit]),
                                                             cost_sd=("cost", "std"), k=("cost", "size"))
    points = points.merge(cost, on="fraction_kept").sort_values("fraction_kept")
    if COST_STATISTIC[unit] == "min":  # a minimum has no standard error: no horizontal bar
        return points.assign(cost_se=0.0)
    return points.assign(cost_se=(points["cost_sd"] / np.sqrt(points["k"])).fillna(0.0))


def missing_methods(sweep: pd.DataFrame) -> list[str]:
    """The non-static methods of :data:`METHODS` without rows at N_max (named under the figure)."""
    present = method_rows(sweep)
    return [name for name in METHODS if name not in present]


def plot_accuracy_vs_compute(sweep: pd.DataFrame, tag: str):
    """The task's score (:func:`score_axis`: test accuracy for image classification) at N_max vs
    total cost (steps; seconds), one curve per method over f."""
    groups, (column, ylabel) = method_rows(sweep), score_axis(sweep)
    fig, axes = new_figure(2, width=5.4, height=4.2, sharey=True)
    colors = metric_colors({rows["metric"].iloc[0] for rows in groups.values()})
    drawn = []
    for ax, unit in zip(axes, COST_UNITS):
        for name, rows in groups.items():
            points = cost_points(rows, unit)
            drawn.append(points)
            style = dict(METHODS[name][1]) if name in METHODS else _static_style(rows, colors)
            ax.errorbar(points["cost"], points[column], xerr=points["cost_se"], yerr=points["eval_error_se"],
                        label=name, capsize=2, lw=1.2, **style)
        ax.set_xscale("log")
        ax.set_xlabel(COST_UNITS[unit][2])
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel(f"{ylabel} at the largest N")
    axes[1].legend(fontsize=7, loc="best")
    n_max = int(sweep["initial_size"].max())
    missing = missing_methods(sweep)
    note = f"; no rows (skipped): {', '.join(missing)}" if missing else ""
    suptitle(fig, f"accuracy vs total compute at N = {n_max} ({tag}); points over fraction kept f; "
                  f"{error_bar_note(*drawn)}; seconds: the fastest seed's (wall time grows with other load); "
                  f"{DIRECTION_NOTE}{note}")
    return fig


def _static_style(rows: pd.DataFrame, colors: dict) -> dict:
    metric, keep = rows["metric"].iloc[0], rows["keep"].iloc[0]
    return {"color": colors.get(metric, "0.5"), "marker": {"hard": "v", "easy": "^"}.get(keep, "s"),
            "ls": {"hard": "-", "easy": "--"}.get(keep, ":")}
