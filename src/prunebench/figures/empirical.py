"""The paper's empirical panels, from the sweep table and the scaling summary.

* ``fig1_keep_hard_minus_easy.png``: Δ = ε(keep hard) − ε(keep easy) over initial size N × fraction
  kept f, one heatmap per metric (Fig. 1-style; blue = keeping hard examples is better).
* ``fig3_error_vs_pruned_size.png``: test error vs pruned size P = f·N, log–log, one curve per f,
  for the panel metric (keep hard, keep easy) and random, with the f = 1 power law.
* ``fig3_pareto_frontier.png``: the Pareto frontier over f (lower envelope) vs the f = 1 power law.
* ``fig5_metric_benchmark.png``: test accuracy vs fraction kept at the largest N, every metric vs
  random (the ImageNet benchmark figure, on the configured dataset).
* ``scaling_fits.png``: every fitted family on the f = 1 data and on the panel metric's frontier.
* ``fixed_compute_vs_fixed_epochs.png`` (when both protocols ran): accuracy vs f under both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prunebench.figures.names import figure_names
from prunebench.figures.style import (
    DIRECTION_NOTE, FRACTION_LABEL, INITIAL_SIZE_LABEL, KEEP_TITLES, RANDOM_COLOR, SIZE_LABEL, fraction_colors,
    metric_colors, new_figure, save,
)
from prunebench.scaling.analysis import baseline_rows, seed_means, strategy_rows
from prunebench.scaling.frontier import hard_minus_easy, pareto_frontier
from prunebench.scaling.laws import FORMULAS, predict
from prunebench.sweep.plan import RANDOM_METRIC, sweep_settings

FAMILY_STYLES = {"power_law": "--", "power_law_floor": "-.", "exponential": ":", "exponential_floor": (0, (5, 1, 1, 1))}


def panel_metric(config: dict, sweep: pd.DataFrame) -> str:
    """``sweep.panel_metric``, else the first non-random metric of the sweep."""
    chosen = sweep_settings(config)["panel_metric"]
    if chosen:
        return chosen
    metrics = [m for m in sweep_settings(config)["metrics"] if m != RANDOM_METRIC]
    return metrics[0] if metrics else RANDOM_METRIC


def primary_protocol(sweep: pd.DataFrame) -> str:
    return "fixed_epochs" if "fixed_epochs" in set(sweep["protocol"]) else sorted(set(sweep["protocol"]))[0]


def make_empirical_figures(config: dict, sweep: pd.DataFrame, scaling: dict, outdir) -> list:
    """Write every empirical figure of :func:`figure_names` into ``outdir``; return the paths."""
    from pathlib import Path

    outdir = Path(outdir)
    metric, protocol = panel_metric(config, sweep), primary_protocol(sweep)
    tag = f"{config['name']} scale, {protocol}"
    makers = {
        "fig1_keep_hard_minus_easy.png": lambda: plot_hard_minus_easy(sweep, protocol, tag),
        "fig3_error_vs_pruned_size.png": lambda: plot_error_vs_pruned_size(sweep, scaling, protocol, metric, tag),
        "fig3_pareto_frontier.png": lambda: plot_frontier(sweep, scaling, protocol, metric, tag),
        "fig5_metric_benchmark.png": lambda: plot_metric_benchmark(sweep, protocol, tag),
        "scaling_fits.png": lambda: plot_scaling_fits(sweep, scaling, protocol, metric, tag),
        "fixed_compute_vs_fixed_epochs.png": lambda: plot_protocols(sweep, tag=config["name"]),
    }
    return [save(makers[name](), outdir / name) for name in figure_names(config)]


# ----------------------------------------------------------------------------------------------
# Fig. 1: keep hard − keep easy
# ----------------------------------------------------------------------------------------------

def plot_hard_minus_easy(sweep: pd.DataFrame, protocol: str, tag: str):
    """Heatmaps of Δ = ε_hard − ε_easy (percentage points) over N × f, one per metric."""
    runs = sweep[(sweep["protocol"] == protocol) & sweep["keep"].isin(["easy", "hard"])]
    metrics = sorted(runs["metric"].unique()) or ["(none)"]
    deltas = {m: hard_minus_easy(seed_means(runs[runs["metric"] == m])) for m in metrics}
    limit = max([float(np.nanmax(np.abs(d["delta"]))) * 100 for d in deltas.values() if len(d)] + [1e-3])
    fig, axes = new_figure(len(metrics), width=4.2, height=3.6)
    image = None
    for index, (ax, metric) in enumerate(zip(axes, metrics)):
        image = _delta_heatmap(ax, deltas[metric], limit) or image
        ax.set_title(f"{metric}")
        if index:
            ax.set_ylabel("")
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.9)
        bar.set_label("test error: keep hard − keep easy (pp)\n< 0 (blue): keeping hard examples is better")
    fig.suptitle(f"Keep hard vs keep easy ({tag}; {DIRECTION_NOTE})", fontsize=9)
    return fig


def _delta_heatmap(ax, delta: pd.DataFrame, limit: float):
    """One N × f heatmap with every cell annotated (pp)."""
    if delta.empty:
        ax.text(0.5, 0.5, "no keep easy/hard runs", ha="center", va="center", transform=ax.transAxes)
        return None
    grid = delta.pivot(index="initial_size", columns="fraction_kept", values="delta") * 100
    grid = grid.sort_index(ascending=False)[sorted(grid.columns, reverse=True)]
    image = ax.imshow(grid.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [f"{f:g}" for f in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{int(n)}" for n in grid.index])
    ax.set_xlabel(FRACTION_LABEL)
    ax.set_ylabel(INITIAL_SIZE_LABEL)
    for (row, col), value in np.ndenumerate(grid.to_numpy()):
        if np.isfinite(value):
            ax.text(col, row, f"{value:+.1f}", ha="center", va="center", fontsize=8,
                    color="white" if abs(value) > 0.6 * limit else "black")
    return image


# ----------------------------------------------------------------------------------------------
# Fig. 3: error vs pruned size, frontier
# ----------------------------------------------------------------------------------------------

def plot_error_vs_pruned_size(sweep, scaling, protocol: str, metric: str, tag: str):
    """Log–log ε vs P per f; panels keep hard, keep easy (panel metric) and random."""
    panels = [(metric, k) for k in ("hard", "easy") if _has(sweep, protocol, metric, k)]
    panels += [(RANDOM_METRIC, RANDOM_METRIC)] if _has(sweep, protocol, RANDOM_METRIC, RANDOM_METRIC) else []
    panels = panels or [("none", "all")]
    colors = fraction_colors(sweep["fraction_kept"].unique())
    fig, axes = new_figure(len(panels))
    for ax, (name, keep) in zip(axes, panels):
        means = seed_means(strategy_rows(sweep, protocol, name, keep))
        for f, rows in means.groupby("fraction_kept"):
            ax.errorbar(rows["n_kept"], rows["test_error"], yerr=rows["test_error_std"], marker="o", ms=4,
                        color=colors[f], label=f"f = {f:g}", capsize=2, lw=1.4 if f == 1 else 1.1)
        _draw_fit(ax, (scaling or {}).get("full_data"), "power_law", means["n_kept"], "f = 1 power law")
        _log_axes(ax, f"{name}: {KEEP_TITLES.get(keep, keep)}" if name != RANDOM_METRIC else "random")
    axes[0].legend(title="fraction kept", fontsize=7, title_fontsize=7)
    fig.suptitle(f"Test error vs pruned dataset size ({tag}; {DIRECTION_NOTE})", fontsize=9)
    return fig


def plot_frontier(sweep, scaling, protocol: str, metric: str, tag: str):
    """Pareto frontiers over f (keep hard, keep easy, random) vs the f = 1 data and power law."""
    fig, axes = new_figure(1, width=5.6, height=4.4)
    ax = axes[0]
    base = seed_means(baseline_rows(sweep))
    ax.plot(base["n_kept"], base["test_error"], "o", color="black", label="f = 1 (no pruning)")
    full = (scaling or {}).get("full_data")
    span = sweep["n_kept"]
    _draw_fit(ax, full, "power_law", span, _fit_label("f = 1 power law", full, "power_law", "nu", "ν"))
    styles = {"hard": "tab:blue", "easy": "tab:orange", RANDOM_METRIC: RANDOM_COLOR}
    for name, keep in [(metric, "hard"), (metric, "easy"), (RANDOM_METRIC, RANDOM_METRIC)]:
        if not _has(sweep, protocol, name, keep):
            continue
        frontier = pareto_frontier(seed_means(strategy_rows(sweep, protocol, name, keep)))
        label = f"frontier {name} {keep}" if name != RANDOM_METRIC else "frontier random"
        ax.plot(frontier["n_kept"], frontier["test_error"], "s-", color=styles[keep], ms=4, label=label)
        for row in frontier.itertuples() if keep == "hard" else ():
            ax.annotate(f"{row.fraction_kept:g}", (row.n_kept, row.test_error), fontsize=6,
                        xytext=(2, 3), textcoords="offset points", color=styles[keep])
        fit = _frontier_summary(scaling, protocol, name, keep)
        if fit:  # the selected family, or the power law when too few points select none
            family = fit.get("best") or "power_law"
            _draw_fit(ax, fit, family, frontier["n_kept"], f"  fit: {family}", color=styles[keep])
    _log_axes(ax, "Pareto frontier over f vs the f = 1 power law")
    ax.legend(fontsize=7)
    fig.suptitle(f"{tag}; numbers on points = fraction kept f; {DIRECTION_NOTE}", fontsize=8)
    return fig


# ----------------------------------------------------------------------------------------------
# Fig. 5: metric benchmark, fits, protocols
# ----------------------------------------------------------------------------------------------

def plot_metric_benchmark(sweep: pd.DataFrame, protocol: str, tag: str, initial_size: int | None = None):
    """Accuracy vs fraction kept at the largest N: every metric (keep hard | keep easy) vs random."""
    initial_size = initial_size or int(sweep["initial_size"].max())
    runs = sweep[(sweep["initial_size"] == initial_size) & ((sweep["protocol"] == protocol) | (sweep["metric"] == "none"))]
    means = seed_means(runs)
    base = means[means["metric"] == "none"]
    colors = metric_colors(means["metric"].unique())
    fig, axes = new_figure(2)
    for ax, keep in zip(axes, ("hard", "easy")):
        random = _with_base(means[means["metric"] == RANDOM_METRIC], base)
        ax.plot(random["fraction_kept"], random["test_accuracy"], "o-", color=RANDOM_COLOR, lw=2, label="random")
        spread = random["test_error_std"].fillna(0)
        ax.fill_between(random["fraction_kept"], random["test_accuracy"] - spread, random["test_accuracy"] + spread,
                        color=RANDOM_COLOR, alpha=0.15, lw=0)
        for metric, rows in means[(means["keep"] == keep)].groupby("metric"):
            rows = _with_base(rows, base)
            ax.plot(rows["fraction_kept"], rows["test_accuracy"], "o-", ms=4, color=colors[metric], label=metric)
        ax.set_xlabel(FRACTION_LABEL)
        ax.set_ylabel("test accuracy")
        ax.set_title(KEEP_TITLES[keep], fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Pruning metrics vs random at N = {initial_size} ({tag}; {DIRECTION_NOTE})", fontsize=9)
    return fig


def plot_scaling_fits(sweep, scaling, protocol: str, metric: str, tag: str):
    """Data and every fitted family: f = 1 runs, and the panel metric's keep-hard frontier."""
    base = baseline_rows(sweep)
    curves = [("f = 1 (no pruning)", base, (scaling or {}).get("full_data"))]
    keep = "hard" if _has(sweep, protocol, metric, "hard") else RANDOM_METRIC
    name = metric if keep == "hard" else RANDOM_METRIC
    if _has(sweep, protocol, name, keep):
        on_frontier = _frontier_runs(sweep, protocol, name, keep)
        curves.append((f"frontier: {name} keep {keep}", on_frontier, _frontier_summary(scaling, protocol, name, keep)))
    fig, axes = new_figure(len(curves), width=5.0, height=4.0)
    for ax, (title, runs, summary) in zip(axes, curves):
        ax.plot(runs["n_kept"], runs["test_error"], "o", color="black", ms=4, label="runs")
        for family, fit in ((summary or {}).get("fits") or {}).items():
            if fit.get("rss") is None or not np.isfinite(fit.get("aic") or np.inf):
                continue
            weight = (summary.get("weights") or {}).get(family)
            best = " (best)" if family == summary.get("best") else ""
            label = f"{FORMULAS[family]}{best}" + (f", w={weight:.2f}" if weight is not None else "")
            _draw_fit(ax, summary, family, runs["n_kept"], label, linestyle=FAMILY_STYLES[family])
        _log_axes(ax, title)
        ax.legend(fontsize=6, title=f"criterion: {(scaling or {}).get('criterion', 'bic')} weights", title_fontsize=6)
    fig.suptitle(f"Scaling-law fits ({tag})", fontsize=9)
    return fig


def plot_protocols(sweep: pd.DataFrame, tag: str):
    """Accuracy vs f at the largest N: fixed compute (solid) vs fixed epochs (dashed)."""
    largest = int(sweep["initial_size"].max())
    runs = sweep[sweep["initial_size"] == largest]
    compute_strategies = runs[runs["protocol"] == "fixed_compute"][["metric", "keep"]].drop_duplicates()
    base = seed_means(runs[runs["metric"] == "none"])
    colors = metric_colors(runs["metric"].unique())
    fig, axes = new_figure(1, width=5.6, height=4.2)
    ax = axes[0]
    for metric, keep in compute_strategies.itertuples(index=False):
        color = colors.get(metric, "tab:red")
        for protocol, style in (("fixed_compute", "-"), ("fixed_epochs", "--")):
            rows = _with_base(seed_means(runs[(runs["protocol"] == protocol) & (runs["metric"] == metric)
                                              & (runs["keep"] == keep)]), base)
            ax.plot(rows["fraction_kept"], rows["test_accuracy"], "o", ls=style, color=color, ms=4,
                    alpha=1.0 if keep != "easy" else 0.6, label=f"{metric} {keep}, {protocol}")
    ax.set_xlabel(FRACTION_LABEL)
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)
    ax.set_title(f"Fixed compute (f=1 steps) vs fixed epochs, N = {largest} ({tag})", fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def _has(sweep, protocol, metric, keep) -> bool:
    return bool(((sweep["protocol"] == protocol) & (sweep["metric"] == metric) & (sweep["keep"] == keep)).any())


def _with_base(rows: pd.DataFrame, base: pd.DataFrame) -> pd.DataFrame:
    """Seed means of a strategy plus the f = 1 point, sorted by f."""
    return pd.concat([rows, base], ignore_index=True).sort_values("fraction_kept")


def _frontier_runs(sweep, protocol, metric, keep) -> pd.DataFrame:
    runs = strategy_rows(sweep, protocol, metric, keep)
    frontier = pareto_frontier(seed_means(runs))
    return runs.merge(frontier[["initial_size", "fraction_kept"]], on=["initial_size", "fraction_kept"])


def _frontier_summary(scaling, protocol, metric, keep) -> dict | None:
    frontiers = (((scaling or {}).get("protocols") or {}).get(protocol) or {}).get("frontiers") or []
    return next((fr for fr in frontiers if fr["metric"] == metric and fr["keep"] == keep), None)


def _fit_label(prefix: str, summary, family: str, param: str, symbol: str) -> str:
    """``prefix: ν = 0.31 [0.28, 0.35]`` from a curve summary's bootstrap (or the point fit)."""
    boot = (((summary or {}).get("bootstrap") or {}).get(family) or {}).get("params", {}).get(param)
    if boot and boot.get("estimate") is not None:
        interval = f" [{boot['low']:.2f}, {boot['high']:.2f}]" if boot.get("low") is not None else ""
        return f"{prefix}: {symbol} = {boot['estimate']:.2f}{interval}"
    return prefix


def _draw_fit(ax, summary, family: str, sizes, label: str, color="black", linestyle="--") -> None:
    """The fitted curve of ``family`` over the range of ``sizes`` (nothing when the fit failed)."""
    fit = (((summary or {}).get("fits") or {}).get(family)) if summary else None
    if not fit or any(v is None for v in fit["params"].values()) or len(sizes) == 0:
        return
    grid = np.geomspace(float(np.min(sizes)), float(np.max(sizes)), 100)
    ax.plot(grid, predict(family, fit["params"], grid), color=color, ls=linestyle, lw=1, label=label)


def _log_axes(ax, title: str) -> None:
    """Log–log axes with plain-number ticks at 1, 2, 5 × 10^k (no crowded minor labels)."""
    from matplotlib import ticker

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ticker.FuncFormatter(lambda value, _pos: f"{value:g}"))
        axis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(SIZE_LABEL)
    ax.set_ylabel("test error")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
