"""Figures of the perceptron theory (Sorscher et al. 2022, Figs 1–3): theory curves as lines,
simulations as points with standard-error bars (over seeds), on the same axes.

Panels that are compared share their axes; the fraction kept f is a colour bar (log scale). The
θ = 0 Pareto frontier is the continuous minimum over f (:mod:`prunebench.theory.analysis`): drawn
solid where the optimum is interior (or f = 1), dotted where it is pinned at the lowest allowed f
(α_prune > 2, where ε_opt → 0 as f → 0).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from prunebench.theory.analysis import AT_FLOOR, AT_GRID_MIN, INTERIOR, minimal_fractions, predict  # noqa: E402
from prunebench.theory.curves import summarise_simulations  # noqa: E402

FIGURE_NAMES = ("theory_crossover.png", "theory_frontier.png", "theory_imperfect.png")
COLORMAP = plt.get_cmap("viridis")
PINNED = (AT_FLOOR, AT_GRID_MIN)
SIM_NOTE = "points: max-margin simulations, mean ± s.e. over seeds"
FIT_STYLES = {("f=1", "power_law"): ("tab:red", "--"), ("frontier", "exponential"): ("tab:cyan", ":"),
              ("frontier", "power_law"): ("tab:orange", "-.")}


def _norm(fractions) -> LogNorm:
    return LogNorm(vmin=min(fractions), vmax=max(fractions))


def _color(f: float, fractions) -> tuple:
    """Colour of fraction kept f on a log scale over ``fractions`` (f = 1 is yellow)."""
    lo, hi = np.log(min(fractions)), np.log(max(fractions))
    return COLORMAP(0.0 if hi == lo else 0.9 * (np.log(f) - lo) / (hi - lo))


def _fraction_colorbar(fig, ax, fractions) -> None:
    """Colour bar of the fraction kept f (the curves' colours)."""
    lo, hi = min(fractions), max(fractions)
    mappable = plt.cm.ScalarMappable(norm=_norm(fractions), cmap=matplotlib.colors.ListedColormap(
        [_color(f, fractions) for f in np.geomspace(lo, hi, 256)] if hi > lo else [_color(hi, fractions)]))
    fig.colorbar(mappable, ax=ax, label="fraction kept f", pad=0.02)


def _sim_points(ax, summary: pd.DataFrame, color, label=None):
    if not summary.empty:
        ax.errorbar(summary["alpha_prune"], summary["eps_mean"], yerr=summary["eps_sem"], fmt="o", ms=4,
                    color=color, mec="k", mew=0.5, capsize=2, label=label, zorder=3)


def _select(frame: pd.DataFrame, **conditions) -> pd.DataFrame:
    mask = np.ones(len(frame), bool)
    for column, value in conditions.items():
        mask &= np.isclose(frame[column], value) if isinstance(value, float) else (frame[column] == value)
    return frame[mask]


def plot_crossover(curves, crossover, summary):
    """Fig. 1: ε vs α_prune for several f, keep easy and keep hard (shared axes), and where keep-hard takes over."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    axes[1].sharex(axes[0])
    axes[1].sharey(axes[0])
    fixed = curves[curves["study"] == "fixed_f"]
    fractions = sorted(fixed["f"].unique())
    for ax, keep in zip(axes[:2], ("easy", "hard")):
        for f in fractions:
            line = _select(fixed, keep=keep, f=float(f)).sort_values("alpha_prune")
            ax.plot(line["alpha_prune"], line["eps"], color=_color(f, fractions), label=f"f = {f:g}")
            _sim_points(ax, _select(summary, study="fixed_f", keep=keep, f=float(f)), _color(f, fractions))
        ax.set(yscale="log", xlabel=r"$\alpha_{prune} = P_{prune}/N$", title=f"keep {keep}, θ = 0")
        ax.legend(fontsize=8)
    axes[0].set_ylabel(r"test error $\varepsilon$")
    _plot_crossover_map(axes[2], crossover)
    fig.suptitle(f"Perceptron theory (lines) and simulations; {SIM_NOTE}", fontsize=10)
    return fig


def _plot_crossover_map(ax, crossover):
    table = crossover.dropna().sort_values("f")
    ax.plot(table["f"], table["alpha_tot_star"], "k-o", ms=3, label=r"$\varepsilon_{hard} = \varepsilon_{easy}$")
    top = max(table["alpha_tot_star"].max() * 3, 10) if len(table) else 10
    ax.fill_between(table["f"], table["alpha_tot_star"], top, color="tab:red", alpha=0.15, label="keep hard better")
    ax.fill_between(table["f"], 0.1, table["alpha_tot_star"], color="tab:blue", alpha=0.15, label="keep easy better")
    ax.set(yscale="log", xlabel="fraction kept f", ylabel=r"initial data $\alpha_{tot} = P/N$",
           title="crossover: keep easy when data are scarce,\nkeep hard when abundant")
    ax.legend(fontsize=8)


def plot_frontier(curves, frontier, fits, summary):
    """Fig. 3A: keep-hard curves over f and the continuous Pareto frontier, log–log and semi-log
    (shared y), and a zoom on the α_prune range where the optimum over f is interior, with the
    frontier's fits there, the f grid's lower envelope, and f = 1 with its power law."""
    fig, axes = plt.subplots(1, 3, figsize=(18, 4.9), layout="constrained")
    axes[1].sharey(axes[0])
    grid_curves = curves[curves["study"] == "frontier"]
    fractions = sorted(grid_curves["f"].unique())
    front = frontier[frontier["study"] == "frontier"].sort_values("alpha_prune")
    study_fits = fits[fits["study"] == "frontier"]
    for ax, xscale in zip(axes[:2], ("log", "linear")):
        for f in fractions:
            line = _select(grid_curves, f=float(f)).sort_values("alpha_prune")
            ax.plot(line["alpha_prune"], line["eps"], color=_color(f, fractions), lw=0.8)
            _sim_points(ax, _select(summary, study="fixed_f", keep="hard", f=float(f)), _color(f, fractions))
        _plot_frontier_line(ax, front, "Pareto frontier (min over f)")
        for _, fit in study_fits[study_fits["target"] == "f=1"].iterrows():
            _plot_fit(ax, fit)
        _shade_pinned(ax, front)
        ax.set(xscale=xscale, yscale="log", xlabel=r"$\alpha_{prune}$")
    axes[0].set_ylabel(r"test error $\varepsilon$")
    axes[0].set_title("keep hard, θ = 0: log–log (power law = straight)")
    axes[1].set_title("semi-log (exponential = straight)")
    axes[0].legend(fontsize=7, loc="upper right")
    _fraction_colorbar(fig, axes[1], fractions)
    _panel_interior_zoom(axes[2], front, study_fits)
    floor = front.loc[front["optimum_at"] == AT_FLOOR, "f_opt"]
    note = f"; dotted: optimum pinned at the lowest f allowed ({floor.min():.0e})" if len(floor) else ""
    fig.suptitle(f"Lines: replica theory per f (colour bar); {SIM_NOTE}{note}", fontsize=9)
    return fig


def _panel_interior_zoom(ax, front, study_fits):
    """Semi-log zoom on the interior-optimum range: continuous frontier, grid envelope, fits, f = 1."""
    free = front[front["optimum_at"] == INTERIOR]
    if free.empty:
        ax.text(0.5, 0.5, "no interior optimum over f", ha="center", va="center", transform=ax.transAxes)
        return
    lo, hi = free["alpha_prune"].min(), free["alpha_prune"].max()
    shown = front[(front["alpha_prune"] >= lo / 1.3) & (front["alpha_prune"] <= hi * 1.05)]
    ax.plot(shown["alpha_prune"], shown["eps_f1"], "-", color="0.5", lw=1.5, label="f = 1 (no pruning)")
    ax.plot(shown["alpha_prune"], shown["eps_grid_opt"], "s", color="0.4", mfc="white", ms=4,
            label="lower envelope of the f grid")
    ax.plot(shown["alpha_prune"], shown["eps_opt"], "o-", color="k", ms=3, lw=2, alpha=0.7,
            label="Pareto frontier: continuous min over f")
    for _, fit in study_fits[study_fits["target"] == "frontier"].iterrows():
        if (fit["target"], fit["law"]) in FIT_STYLES:
            _plot_fit(ax, fit)
    ax.set(yscale="log", xlabel=r"$\alpha_{prune}$", ylabel=r"test error $\varepsilon$",
           title=f"zoom: the optimum over f is interior\nfor α_prune ∈ [{lo:.3g}, {hi:.3g}]; frontier fits there")
    ax.legend(fontsize=7, loc="lower left")


def _plot_frontier_line(ax, front, label, color="k", lw=2.5):
    """The frontier solid where its optimum is interior or f = 1, dotted where pinned to a bound of f."""
    free = front[~front["optimum_at"].isin(PINNED)]
    pinned = front[front["optimum_at"].isin(PINNED)]
    ax.plot(free["alpha_prune"], free["eps_opt"], "-", color=color, lw=lw, alpha=0.7, label=label)
    if len(pinned):
        joined = pd.concat([free[free["alpha_prune"] < pinned["alpha_prune"].min()].tail(1), pinned])
        ax.plot(joined["alpha_prune"], joined["eps_opt"], ":", color=color, lw=lw * 0.7, alpha=0.7,
                label=f"{label}: pinned at lowest f" if label else None)


def _shade_pinned(ax, front) -> None:
    pinned = front[front["optimum_at"] == AT_FLOOR]
    if len(pinned):
        start = pinned["alpha_prune"].min()
        ax.axvspan(start, front["alpha_prune"].max(), color="0.9", zorder=0)
        ax.text(start, 0.02, r" $\alpha_{prune} \geq$" + f" {start:.3g}: " + r"$\varepsilon_{opt} \to 0$ as $f \to 0$",
                transform=ax.get_xaxis_transform(), fontsize=7, color="0.3")


def _plot_fit(ax, fit, limit=None):
    """A fit row over its α range (clipped to ``limit``), labelled with its law, range and rms."""
    lo, hi = (fit["alpha_min"], fit["alpha_max"]) if limit is None else (max(fit["alpha_min"], limit[0]),
                                                                          min(fit["alpha_max"], limit[1]))
    alpha = np.geomspace(lo, hi, 100)
    what = "f = 1" if fit["target"] == "f=1" else "frontier"
    if fit["law"] == "power_law":
        law = rf"$\varepsilon = {fit['a']:.2g}\,\alpha^{{-{fit['rate']:.2f}}}$"
    else:
        law = rf"$\varepsilon = {fit['a']:.2g}\,e^{{-{fit['rate']:.3g}\alpha}}$"
    span = rf"$\alpha \in [{fit['alpha_min']:.3g}, {fit['alpha_max']:.3g}]$"
    color, style = FIT_STYLES[(fit["target"], fit["law"])]
    ax.plot(alpha, predict(fit, alpha), ls=style, color=color, lw=3,
            label=f"{what} fit: {law}, {span}, rms log = {fit['rms_log']:.3f}", zorder=4)


def plot_imperfect(curves, frontier, summary, show_theta=None):
    """Fig. 2: an imperfect probe (θ > 0) ends exponential scaling; optimal and minimal f versus θ."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5), layout="constrained")
    axes[0, 1].sharex(axes[0, 0])
    axes[0, 1].sharey(axes[0, 0])
    imperfect = curves[curves["study"] == "imperfect"]
    thetas = sorted(imperfect["theta"].unique())
    theta_show = _closest(thetas, show_theta if show_theta is not None else thetas[len(thetas) // 2])
    _panel_fixed_theta(fig, axes[0, 0], imperfect, summary, theta_show)
    _panel_frontiers(axes[0, 1], frontier, thetas)
    _panel_optimal_fraction(axes[1, 0], frontier, thetas)
    _panel_minimal_fraction(axes[1, 1], frontier)
    fig.suptitle(f"Imperfect pruning metric (probe at angle θ to the teacher); {SIM_NOTE}", fontsize=10)
    return fig


def _closest(values, target):
    return float(values[int(np.argmin(np.abs(np.asarray(values) - target)))])


def _panel_fixed_theta(fig, ax, imperfect, summary, theta):
    curves = _select(imperfect, theta=theta)
    fractions = sorted(curves["f"].unique())
    for f in fractions:
        line = _select(curves, f=float(f)).sort_values("alpha_prune")
        ax.plot(line["alpha_prune"], line["eps"], color=_color(f, fractions), lw=1)
        _sim_points(ax, _select(summary, study="imperfect", theta=theta, f=float(f)), _color(f, fractions))
    ax.set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune}$", ylabel=r"test error $\varepsilon$",
           title=f"keep hard, imperfect probe θ = {theta:.3g} rad")
    _fraction_colorbar(fig, ax, fractions)


def _theta_colors(thetas):
    return {theta: plt.get_cmap("plasma")(0.85 * k / max(len(thetas) - 1, 1)) for k, theta in enumerate(thetas)}


def _panel_frontiers(ax, frontier, thetas):
    colors = _theta_colors(thetas)
    perfect = frontier[frontier["study"] == "frontier"].sort_values("alpha_prune")
    _plot_frontier_line(ax, perfect, "θ = 0 (perfect metric)", lw=2)
    for theta in thetas:
        front = _select(frontier, study="imperfect", theta=theta).sort_values("alpha_prune")
        ax.plot(front["alpha_prune"], front["eps_opt"], color=colors[theta], lw=1.5, label=f"θ = {theta:.3g}")
    last = frontier[frontier["study"] == "imperfect"].sort_values("alpha_prune")
    ax.plot(last["alpha_prune"], last["eps_f1"], color="0.5", ls="--", label="f = 1 (no pruning)")
    ax.set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune}$", ylabel=r"Pareto-optimal $\varepsilon$",
           title="frontier over f: a power law again for θ > 0")
    ax.legend(fontsize=8)


def _panel_optimal_fraction(ax, frontier, thetas):
    colors = _theta_colors(thetas)
    perfect = frontier[frontier["study"] == "frontier"].sort_values("alpha_prune")
    free = perfect[~perfect["optimum_at"].isin(PINNED)]
    ax.plot(free["alpha_prune"], free["f_opt"], "k-", lw=2, label="θ = 0")
    pinned = perfect[perfect["optimum_at"].isin(PINNED)]
    if len(pinned):
        ax.plot(pinned["alpha_prune"], pinned["f_opt"], "k:", lw=2, label="θ = 0, pinned at the lowest f allowed")
    for theta in thetas:
        front = _select(frontier, study="imperfect", theta=theta).sort_values("alpha_prune")
        ax.plot(front["alpha_prune"], front["f_opt"], color=colors[theta], label=f"θ = {theta:.3g}")
    ax.set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune}$", ylabel=r"optimal fraction kept $f_{opt}$",
           title="optimal f along the frontier")
    ax.legend(fontsize=8)


def _panel_minimal_fraction(ax, frontier):
    minimal = minimal_fractions(frontier[frontier["study"] == "imperfect"]).sort_values("theta")
    free = minimal["optimum_at"] == INTERIOR
    ax.plot(minimal["theta"], minimal["f_min"], "-", color="tab:purple")
    ax.plot(minimal.loc[free, "theta"], minimal.loc[free, "f_min"], "o", color="tab:purple", label="interior optimum")
    if (~free).any():
        ax.plot(minimal.loc[~free, "theta"], minimal.loc[~free, "f_min"], "o", mfc="white", color="tab:purple",
                label="at a bound of f (not an optimum)")
    ax.legend(fontsize=8)
    if len(minimal):
        ax.set_title(rf"$f_{{min}}(\theta)$: $f_{{opt}}$ at $\alpha_{{prune}}$ = {minimal['alpha_prune'].max():.3g}")
    ax.set(xlabel="probe angle θ (rad)", ylabel=r"$f_{min}$", yscale="log")


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return path


def theory_figures(curves, crossover, sims, frontier, fits, show_theta=None) -> dict:
    """{file name: figure} of the three theory figures (names in FIGURE_NAMES), not saved."""
    summary = summarise_simulations(sims) if len(sims) else pd.DataFrame(
        columns=["study", "theta", "keep", "f", "alpha_prune", "eps_mean", "eps_sem"])
    return {
        FIGURE_NAMES[0]: plot_crossover(curves, crossover, summary),
        FIGURE_NAMES[1]: plot_frontier(curves, frontier, fits, summary),
        FIGURE_NAMES[2]: plot_imperfect(curves, frontier, summary, show_theta),
    }


def write_figures(curves, crossover, sims, frontier, fits, outdir, show_theta=None) -> list[Path]:
    """All three theory figures under ``outdir``."""
    figures = theory_figures(curves, crossover, sims, frontier, fits, show_theta)
    return [_save(figure, Path(outdir) / name) for name, figure in figures.items()]
