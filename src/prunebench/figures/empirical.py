"""The paper's empirical panels, from the sweep table and the scaling summary.

* ``fig1_keep_hard_minus_easy.png``: Δ = ε(keep hard) − ε(keep easy) over initial size N × fraction
  kept f, one heatmap per metric (Fig. 1-style; blue = keeping hard examples is better).
* ``fig3_error_vs_pruned_size.png``: test error vs pruned size P = f·N, log–log, one curve per f,
  for the panel metric (keep hard, keep easy) and random, with the f = 1 power law.
* ``fig3_pareto_frontier.png``: the Pareto frontier over f (lower envelope) vs the f = 1 power law.
* ``fig5_metric_benchmark.png``: test accuracy (the task's score) vs fraction kept at the largest N, every metric vs
  random (the ImageNet benchmark figure, on the configured dataset).
* ``scaling_fits.png``: every fitted family on the f = 1 data and on the panel metric's frontier.
* ``fixed_compute_vs_fixed_epochs.png`` (when both protocols ran): accuracy vs f under both.
* ``class_balance.png`` (when the ``unbalanced`` protocol ran): balanced − unbalanced accuracy, mean
  and worst class, per metric and f (:mod:`prunebench.figures.balance`).

Panels that are compared share their axes; legend text comes from one map
(:data:`prunebench.figures.style.LABELS`); every point carries the error bar of
:mod:`prunebench.figures.uncertainty` (standard error over seeds, or the binomial standard error
√(p(1−p)/n_test) at one seed), and each figure says which.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prunebench.figures.balance import plot_class_balance
from prunebench.figures.names import figure_names
from prunebench.figures.style import (
    DIRECTION_NOTE, FAMILY_STYLES, FORMULA_TEXT, FRACTION_LABEL, INITIAL_SIZE_LABEL, KEEP_ORDER, KEEP_TITLES, RANDOM_COLOR,
    SIZE_LABEL, fraction_colors, label, metric_colors, new_figure, save, strategy_label, suptitle,
)
from prunebench.figures.uncertainty import error_axis, error_bar_note, score_axis, with_standard_errors
from prunebench.scaling.columns import ERROR, with_eval_columns
from prunebench.scaling.analysis import baseline_rows, strategy_rows
from prunebench.scaling.frontier import pareto_frontier
from prunebench.scaling.laws import FORMULAS, predict
from prunebench.sweep.plan import RANDOM_METRIC, sweep_settings

FIT_MARKERS = 6  # markers drawn along each fitted curve (at offsets that differ per family)


def panel_metric(config: dict, sweep: pd.DataFrame) -> str:
    """``sweep.panel_metric``, else the first non-random metric of the sweep."""
    chosen = sweep_settings(config)["panel_metric"]
    if chosen:
        return chosen
    metrics = [m for m in sweep_settings(config)["metrics"] if m != RANDOM_METRIC]
    return metrics[0] if metrics else RANDOM_METRIC


def primary_protocol(sweep: pd.DataFrame) -> str:
    return "fixed_epochs" if "fixed_epochs" in set(sweep["protocol"]) else sorted(set(sweep["protocol"]))[0]


def make_empirical_figures(config: dict, sweep: pd.DataFrame, scaling: dict, outdir,
                           left_out: dict[str, str] | None = None) -> list:
    """Write every empirical figure of :func:`figure_names` into ``outdir``; return the paths."""
    from pathlib import Path

    figures = empirical_figures(config, sweep, scaling, left_out)
    return [save(figure, Path(outdir) / name) for name, figure in figures.items()]


def empirical_figures(config: dict, sweep: pd.DataFrame, scaling: dict, left_out: dict[str, str] | None = None) -> dict:
    """{file name: matplotlib figure} for every empirical figure of :func:`figure_names` (not saved).
    ``left_out``: {metric: one-line reason} of estimators too noisy to show in the benchmark figure
    (:func:`prunebench.metrics.reliability.usable_for_figures`)."""
    sweep = with_eval_columns(sweep)
    metric, protocol = panel_metric(config, sweep), primary_protocol(sweep)
    tag = f"{config['name']} scale, {label(protocol)}"
    makers = {
        "fig1_keep_hard_minus_easy.png": lambda: plot_hard_minus_easy(sweep, protocol, tag),
        "fig3_error_vs_pruned_size.png": lambda: plot_error_vs_pruned_size(sweep, scaling, protocol, metric, tag),
        "fig3_pareto_frontier.png": lambda: plot_frontier(sweep, scaling, protocol, metric, tag),
        "fig5_metric_benchmark.png": lambda: plot_metric_benchmark(sweep, protocol, tag, left_out=left_out),
        "scaling_fits.png": lambda: plot_scaling_fits(sweep, scaling, protocol, metric, tag),
        "fixed_compute_vs_fixed_epochs.png": lambda: plot_protocols(sweep, tag=config["name"]),
        "class_balance.png": lambda: plot_class_balance(sweep, tag=config["name"]),
    }
    return {name: makers[name]() for name in figure_names(config)}


# ----------------------------------------------------------------------------------------------
# Fig. 1: keep hard − keep easy
# ----------------------------------------------------------------------------------------------

def plot_hard_minus_easy(sweep: pd.DataFrame, protocol: str, tag: str):
    """Heatmaps of Δ = ε_hard − ε_easy ± its standard error over N × f, one per metric, on one colour
    scale and shared axes (percentage points for an error in [0, 1], the error's own units otherwise).
    For the percentile-window rule the two ends are the high and the low window."""
    hard, easy = extreme_keeps(sweep)
    runs = sweep[(sweep["protocol"] == protocol) & sweep["keep"].isin([easy, hard])]
    metrics = sorted(runs["metric"].unique()) or ["(none)"]
    means = {m: with_standard_errors(runs[runs["metric"] == m]) for m in metrics}
    scale, unit = (100, "pp") if runs.empty or float(runs[ERROR].max()) <= 1 else (1, "nats" if "nats" in error_axis(sweep) else "error units")
    deltas = {m: _delta_table(means[m], hard, easy) for m in metrics}
    limit = max([float(np.nanmax(np.abs(d["delta"]))) * scale for d in deltas.values() if len(d)] + [1e-3])
    fig, axes = new_figure(len(metrics), width=4.2, height=3.6, sharex=True, sharey=True)
    image = None
    for index, (ax, metric) in enumerate(zip(axes, metrics)):
        image = _delta_heatmap(ax, deltas[metric], limit, scale) or image
        ax.set_title(f"{metric}")
        if index:
            ax.set_ylabel("")
    names = {"hard": "keep hard", "easy": "keep easy", "high": "high window", "low": "low window"}
    if image is not None:
        bar = fig.colorbar(image, ax=axes, shrink=0.9)
        units = f"{error_axis(sweep)}: " if scale == 100 else ""
        bar.set_label(f"{units}{names[hard]} − {names[easy]} ({unit})\n< 0 (blue): {names[hard]} is better",
                      **({} if scale == 100 else {"fontsize": 8}))
    note = error_bar_note(*means.values()).replace("error bars", "± in cells")
    suptitle(fig, f"{names[hard].capitalize()} vs {names[easy]} ({tag}; {DIRECTION_NOTE})\n{note}", fontsize=8)
    return fig


def extreme_keeps(sweep: pd.DataFrame) -> tuple[str, str]:
    """The selection rule's two ends: (hard, easy) for top-k, (high, low) for the percentile window."""
    present = set(sweep["keep"])
    return ("high", "low") if {"high", "low"} <= present and not {"hard", "easy"} & present else ("hard", "easy")


def _delta_table(means: pd.DataFrame, hard: str = "hard", easy: str = "easy") -> pd.DataFrame:
    """Δ and its standard error √(se_hard² + se_easy²) per (N, f)."""
    cols = ["initial_size", "fraction_kept"]
    a, b = (means[means["keep"] == k][[*cols, ERROR, "eval_error_se"]] for k in (hard, easy))
    joined = a.merge(b, on=cols, suffixes=("_hard", "_easy"))
    return joined.assign(delta=joined[f"{ERROR}_hard"] - joined[f"{ERROR}_easy"],
                         delta_se=np.hypot(joined["eval_error_se_hard"], joined["eval_error_se_easy"]))


def _delta_heatmap(ax, delta: pd.DataFrame, limit: float, scale: float = 100):
    """One N × f heatmap with every cell annotated (Δ × ``scale``, ± standard error)."""
    if delta.empty:
        ax.text(0.5, 0.5, "no runs at both ends of the selection rule", ha="center", va="center",
                transform=ax.transAxes)
        return None
    grid = delta.pivot(index="initial_size", columns="fraction_kept", values="delta") * scale
    grid = grid.sort_index(ascending=False)[sorted(grid.columns, reverse=True)]
    errors = (delta.pivot(index="initial_size", columns="fraction_kept", values="delta_se") * scale).reindex_like(grid)
    image = ax.imshow(grid.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(grid.shape[1]), [f"{f:g}" for f in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{int(n)}" for n in grid.index])
    ax.set_xlabel(FRACTION_LABEL)
    ax.set_ylabel(INITIAL_SIZE_LABEL)
    for (row, col), value in np.ndenumerate(grid.to_numpy()):
        if np.isfinite(value):
            error = errors.to_numpy()[row, col]
            digits = 1 if scale == 100 else 3
            text = f"{value:+.{digits}f}" + (f"\n± {error:.{digits}f}" if np.isfinite(error) else "")
            ax.text(col, row, text, ha="center", va="center", fontsize=8,
                    color="white" if abs(value) > 0.6 * limit else "black")
    return image


# ----------------------------------------------------------------------------------------------
# Fig. 3: error vs pruned size, frontier
# ----------------------------------------------------------------------------------------------

def plot_error_vs_pruned_size(sweep, scaling, protocol: str, metric: str, tag: str):
    """Log–log ε vs P per f, ± standard error; panels keep hard, keep easy (panel metric) and
    random, on shared axes, each with the f = 1 power law."""
    panels = [(metric, k) for k in KEEP_ORDER if _has(sweep, protocol, metric, k)]  # hard, easy | low, medium, high
    panels += [(RANDOM_METRIC, RANDOM_METRIC)] if _has(sweep, protocol, RANDOM_METRIC, RANDOM_METRIC) else []
    panels = panels or [("none", "all")]
    colors = fraction_colors(sweep["fraction_kept"].unique())
    fig, axes = new_figure(len(panels), sharex=True, sharey=True)
    drawn = []
    for ax, (name, keep) in zip(axes, panels):
        means = with_standard_errors(strategy_rows(sweep, protocol, name, keep))
        drawn.append(means)
        for f, rows in means.groupby("fraction_kept"):
            ax.errorbar(rows["n_kept"], rows[ERROR], yerr=rows["eval_error_se"], marker="o", ms=4,
                        color=colors[f], label=f"f = {f:g}", capsize=2, lw=1.4 if f == 1 else 1.1)
        _draw_fit(ax, (scaling or {}).get("full_data"), "power_law", sweep["n_kept"], f"f = 1 {label('power_law')} fit")
        _log_axes(ax, f"{name}: {KEEP_TITLES.get(keep, keep)}" if name != RANDOM_METRIC else "random", error_axis(sweep))
        if ax is not axes[0]:
            ax.set_ylabel("")
    axes[0].legend(title="fraction kept", fontsize=7, title_fontsize=7)
    suptitle(fig, f"{error_axis(sweep).capitalize()} vs pruned dataset size ({tag}; {DIRECTION_NOTE})\n"
                  f"{error_bar_note(*drawn)}", fontsize=8)
    return fig


def plot_frontier(sweep, scaling, protocol: str, metric: str, tag: str):
    """Pareto frontiers over f (keep hard, keep easy, random) ± standard error, with the family the
    scaling summary selected (or the power law when it selected none), vs the f = 1 data and power law."""
    fig, axes = new_figure(1, width=6.2, height=4.6)
    ax = axes[0]
    base = with_standard_errors(baseline_rows(sweep))
    ax.errorbar(base["n_kept"], base[ERROR], yerr=base["eval_error_se"], fmt="o", color="black", capsize=2,
                label=label("none"))
    full = (scaling or {}).get("full_data")
    f1_label = _fit_label(f"f = 1 {label('power_law')} fit", full, "power_law", "nu", "ν")
    _draw_fit(ax, full, "power_law", sweep["n_kept"], f1_label)
    styles = {"hard": "tab:blue", "easy": "tab:orange", "low": "tab:orange", "medium": "tab:green", "high": "tab:blue",
              RANDOM_METRIC: RANDOM_COLOR}
    drawn = [base]
    for name, keep in [(metric, k) for k in KEEP_ORDER] + [(RANDOM_METRIC, RANDOM_METRIC)]:
        if not _has(sweep, protocol, name, keep):
            continue
        frontier = pareto_frontier(with_standard_errors(strategy_rows(sweep, protocol, name, keep)))
        drawn.append(frontier)
        ax.errorbar(frontier["n_kept"], frontier[ERROR], yerr=frontier["eval_error_se"], fmt="s-",
                    color=styles[keep], ms=4, capsize=2, label=f"frontier: {strategy_label(name, keep)}")
        for row in frontier.itertuples() if keep in ("hard", "high") else ():
            ax.annotate(f"{row.fraction_kept:g}", (row.n_kept, getattr(row, ERROR)), fontsize=6,
                        xytext=(2, 3), textcoords="offset points", color=styles[keep])
        fit = _frontier_summary(scaling, protocol, name, keep)
        if fit:
            family = fit.get("best") or "power_law"
            why = "selected" if fit.get("best") else "no family selected"
            _draw_fit(ax, fit, family, frontier["n_kept"], f"  fit: {label(family)} ({why})", color=styles[keep],
                      linestyle=FAMILY_STYLES[family]["ls"])
    _log_axes(ax, "Pareto frontier over f vs the f = 1 power law", error_axis(sweep))
    ax.legend(fontsize=7)
    suptitle(fig, f"{tag}; numbers on points = fraction kept f; {DIRECTION_NOTE}\n{error_bar_note(*drawn)}", fontsize=8)
    return fig


# ----------------------------------------------------------------------------------------------
# Fig. 5: metric benchmark, fits, protocols
# ----------------------------------------------------------------------------------------------

def plot_metric_benchmark(sweep: pd.DataFrame, protocol: str, tag: str, initial_size: int | None = None,
                          left_out: dict[str, str] | None = None):
    """The task's score (:func:`score_axis`: test accuracy for image classification) vs fraction
    kept at the largest N, ± standard error: every metric (keep hard | keep easy, shared axes) vs
    random. Metrics in ``left_out`` are not drawn; one line under the panels says why for each."""
    left_out, (column, ylabel) = left_out or {}, score_axis(sweep)
    initial_size = initial_size or int(sweep["initial_size"].max())
    runs = sweep[(sweep["initial_size"] == initial_size) & ((sweep["protocol"] == protocol) | (sweep["metric"] == "none"))
                 & ~sweep["metric"].isin(list(left_out))]
    means = with_standard_errors(runs)
    base = means[means["metric"] == "none"]
    colors = metric_colors(means["metric"].unique())
    keeps = benchmark_keeps(means)
    fig, axes = new_figure(len(keeps), sharex=True, sharey=True)
    for ax, keep in zip(axes, keeps):
        random = _with_base(means[means["metric"] == RANDOM_METRIC], base)
        ax.errorbar(random["fraction_kept"], random[column], yerr=random["eval_error_se"], fmt="o-",
                    color=RANDOM_COLOR, lw=2, capsize=2, label=label(RANDOM_METRIC))
        for metric, rows in means[(means["keep"] == keep)].groupby("metric"):
            rows = _with_base(rows, base)
            ax.errorbar(rows["fraction_kept"], rows[column], yerr=rows["eval_error_se"], fmt="o-", ms=4,
                        capsize=2, color=colors[metric], label=metric)
        ax.set_xlabel(FRACTION_LABEL)
        ax.set_title(KEEP_TITLES.get(keep, f"keep {keep}"), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[0].legend(fontsize=7)
    suptitle(fig, f"Pruning metrics vs random at N = {initial_size} ({tag}; {DIRECTION_NOTE})\n"
                  f"{error_bar_note(means)}", fontsize=8)
    if left_out:
        fig.supxlabel("\n".join(left_out[m] for m in sorted(left_out)), fontsize=6, ha="left", x=0.01)
    return fig


def benchmark_keeps(means: pd.DataFrame) -> list[str]:
    """One panel per keep label the sweep's selection rule produced (keep hard | keep easy for top-k,
    low | medium | high for the percentile window), in :data:`KEEP_ORDER`; hard | easy when none."""
    present = set(means["keep"]) - {RANDOM_METRIC, "all"}
    keeps = [k for k in KEEP_ORDER if k in present] + sorted(present - set(KEEP_ORDER))
    return keeps or ["hard", "easy"]


def plot_scaling_fits(sweep, scaling, protocol: str, metric: str, tag: str):
    """Data ± standard error and every fitted family (own colour, line style and marker; the
    selected one thick), on shared axes: f = 1 runs, and the panel metric's keep-hard frontier."""
    base = baseline_rows(sweep)
    curves = [("f = 1 (no pruning)", base, (scaling or {}).get("full_data"))]
    keep = "hard" if _has(sweep, protocol, metric, "hard") else RANDOM_METRIC
    name = metric if keep == "hard" else RANDOM_METRIC
    if _has(sweep, protocol, name, keep):
        on_frontier = _frontier_runs(sweep, protocol, name, keep)
        curves.append((f"frontier: {strategy_label(name, keep)}", on_frontier, _frontier_summary(scaling, protocol, name, keep)))
    fig, axes = new_figure(len(curves), width=5.4, height=4.4, sharex=True, sharey=True)
    criterion = label((scaling or {}).get("criterion", "bic"))
    drawn = []
    for ax, (title, runs, summary) in zip(axes, curves):
        points = with_standard_errors(runs)
        drawn.append(points)
        ax.errorbar(points["n_kept"], points[ERROR], yerr=points["eval_error_se"], fmt="o", color="black", ms=4,
                    capsize=2, label="runs (mean ± s.e.)", zorder=5)
        fitted, not_fitted = _usable_fits(summary)
        for order, family in enumerate(fitted):
            _draw_family(ax, summary, family, runs["n_kept"], criterion, order)
        _log_axes(ax, title, error_axis(sweep))
        if ax is not axes[0]:
            ax.set_ylabel("")
        ax.legend(fontsize=6, title=_fits_legend_title(summary, criterion, not_fitted), title_fontsize=6)
    suptitle(fig, f"Scaling-law fits ({tag}); thick line = family selected by {criterion}\n{error_bar_note(*drawn)}", fontsize=8)
    return fig


def _usable_fits(summary) -> tuple[list[str], list[str]]:
    """(families with a finite fit, families that could not be fitted), in FORMULAS order."""
    fits = (summary or {}).get("fits") or {}
    ok = [f for f in FORMULAS if f in fits and _finite_params(fits[f])]
    return ok, [f for f in FORMULAS if f in fits and f not in ok]


def _finite_params(fit: dict) -> bool:
    values = list((fit.get("params") or {}).values())
    return bool(values) and all(v is not None and np.isfinite(v) for v in values)


def _draw_family(ax, summary, family: str, sizes, criterion: str, order: int) -> None:
    """One fitted family: its style, thick when selected, markers at a family-specific offset."""
    best = family == summary.get("best")
    weight = (summary.get("weights") or {}).get(family)
    text = f"{label(family)}: {FORMULA_TEXT.get(family, FORMULAS[family])}"
    text += f", {criterion} w = {weight:.2f}" if weight is not None else ""
    text += "  ← selected" if best else ""
    style = FAMILY_STYLES[family]
    grid = np.geomspace(float(np.min(sizes)), float(np.max(sizes)), 120)
    ax.plot(grid, predict(family, summary["fits"][family]["params"], grid), color=style["color"], ls=style["ls"],
            marker=style["marker"], ms=4, markevery=(4 + 5 * order, 120 // FIT_MARKERS), lw=2.8 if best else 1.2,
            alpha=1.0 if best else 0.85, label=text, gid=f"fit:{family}", zorder=4 if best else 3)


def _fits_legend_title(summary, criterion: str, not_fitted: list[str]) -> str:
    n = (summary or {}).get("n_points")
    lines = [f"fits to {n} points" if n is not None else "fits"]
    if summary and not summary.get("best"):
        lines.append("no family selected: " + (summary.get("reason") or f"too few sizes for {criterion}").split(":")[0])
    if not_fitted:
        lines.append("not fitted: " + ", ".join(label(f) for f in not_fitted))
    return "\n".join(lines)


def plot_protocols(sweep: pd.DataFrame, tag: str):
    """The task's score (:func:`score_axis`) vs f at the largest N, ± standard error: fixed compute
    (solid, filled) vs fixed epochs (dashed, open markers)."""
    largest, (column, ylabel) = int(sweep["initial_size"].max()), score_axis(sweep)
    runs = sweep[sweep["initial_size"] == largest]
    compute_strategies = runs[runs["protocol"] == "fixed_compute"][["metric", "keep"]].drop_duplicates()
    base = with_standard_errors(runs[runs["metric"] == "none"])
    colors = metric_colors(runs["metric"].unique())
    fig, axes = new_figure(1, width=6.0, height=4.4)
    ax = axes[0]
    drawn = [base]
    for metric, keep in compute_strategies.itertuples(index=False):
        color = colors.get(metric, "tab:red")
        for protocol, style, marker in (("fixed_compute", "-", "o"), ("fixed_epochs", "--", "s")):
            rows = _with_base(with_standard_errors(runs[(runs["protocol"] == protocol) & (runs["metric"] == metric)
                                                        & (runs["keep"] == keep)]), base)
            drawn.append(rows)
            ax.errorbar(rows["fraction_kept"], rows[column], yerr=rows["eval_error_se"], fmt=marker, ls=style,
                        color=color, ms=4, capsize=2, mfc=color if marker == "o" else "white",
                        alpha=1.0 if keep != "easy" else 0.6,
                        label=f"{strategy_label(metric, keep)}, {label(protocol)}")
    ax.set_xlabel(FRACTION_LABEL)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)
    ax.set_title(f"Fixed compute (f = 1 steps) vs fixed epochs, N = {largest} ({tag})\n{error_bar_note(*drawn)}",
                 fontsize=8)
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
    frontier = pareto_frontier(with_standard_errors(runs))
    return runs.merge(frontier[["initial_size", "fraction_kept"]], on=["initial_size", "fraction_kept"])


def _frontier_summary(scaling, protocol, metric, keep) -> dict | None:
    frontiers = (((scaling or {}).get("protocols") or {}).get(protocol) or {}).get("frontiers") or []
    return next((fr for fr in frontiers if fr["metric"] == metric and fr["keep"] == keep), None)


def _fit_label(prefix: str, summary, family: str, param: str, symbol: str) -> str:
    """``prefix: ν = 0.31 [0.28, 0.35]`` from a curve summary's interval (``intervals``, or the
    older ``bootstrap``), else the point fit alone."""
    summary = summary or {}
    boot = ((summary.get("intervals") or summary.get("bootstrap") or {}).get(family) or {}).get("params", {}).get(param)
    if boot and boot.get("estimate") is not None:
        bounds = [boot.get("low"), boot.get("high")]
        finite = all(b is not None and np.isfinite(b) for b in bounds)
        interval = f" [{bounds[0]:.2f}, {bounds[1]:.2f}]" if finite else ""
        return f"{prefix}: {symbol} = {boot['estimate']:.2f}{interval}"
    value = ((((summary or {}).get("fits") or {}).get(family) or {}).get("params") or {}).get(param)
    return f"{prefix}: {symbol} = {value:.2f}" if value is not None else prefix


def _draw_fit(ax, summary, family: str, sizes, label_text: str, color="black", linestyle="--") -> None:
    """The fitted curve of ``family`` over the range of ``sizes`` (nothing when the fit failed)."""
    fit = (((summary or {}).get("fits") or {}).get(family)) if summary else None
    if not fit or not _finite_params(fit) or len(sizes) == 0:
        return
    grid = np.geomspace(float(np.min(sizes)), float(np.max(sizes)), 100)
    ax.plot(grid, predict(family, fit["params"], grid), color=color, ls=linestyle, lw=1, label=label_text,
            gid=f"fit:{family}")


def _log_axes(ax, title: str, ylabel: str = "test error") -> None:
    """Log–log axes with plain-number ticks at 1, 2, 5 × 10^k (no crowded minor labels), y label ``ylabel``."""
    from matplotlib import ticker

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ticker.FuncFormatter(lambda value, _pos: f"{value:g}"))
        axis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(SIZE_LABEL)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
