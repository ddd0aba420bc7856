"""Figures of the perceptron theory (Sorscher et al. 2022, Figs 1–3): theory curves as lines,
simulations as points with standard-error bars, on the same axes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from prunebench.theory.analysis import minimal_fractions, predict  # noqa: E402
from prunebench.theory.curves import summarise_simulations  # noqa: E402

FIGURE_NAMES = ("theory_crossover.png", "theory_frontier.png", "theory_imperfect.png")
COLORMAP = plt.get_cmap("viridis")


def _color(f: float, fractions) -> tuple:
    """Colour of fraction kept f on a log scale over ``fractions`` (f = 1 is yellow)."""
    lo, hi = np.log(min(fractions)), np.log(max(fractions))
    return COLORMAP(0.0 if hi == lo else 0.9 * (np.log(f) - lo) / (hi - lo))


def _sim_points(ax, summary: pd.DataFrame, color, label=None):
    if not summary.empty:
        ax.errorbar(summary["alpha_prune"], summary["eps_mean"], yerr=summary["eps_sem"], fmt="o", ms=4,
                    color=color, mec="k", mew=0.5, capsize=2, label=label, zorder=3)


def _select(frame: pd.DataFrame, **conditions) -> pd.DataFrame:
    mask = np.ones(len(frame), bool)
    for column, value in conditions.items():
        mask &= np.isclose(frame[column], value) if isinstance(value, float) else (frame[column] == value)
    return frame[mask]


def plot_crossover(curves, crossover, summary, path):
    """Fig. 1: ε vs α_prune for several f, keep easy and keep hard, and where keep-hard takes over."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    fixed = curves[curves["study"] == "fixed_f"]
    fractions = sorted(fixed["f"].unique())
    for ax, keep in zip(axes[:2], ("easy", "hard")):
        for f in fractions:
            line = _select(fixed, keep=keep, f=float(f)).sort_values("alpha_prune")
            ax.plot(line["alpha_prune"], line["eps"], color=_color(f, fractions), label=f"f = {f:g}")
            _sim_points(ax, _select(summary, study="fixed_f", keep=keep, f=float(f)), _color(f, fractions))
        ax.set(yscale="log", xlabel=r"$\alpha_{prune} = P_{prune}/N$", ylabel=r"test error $\varepsilon$",
               title=f"keep {keep} (θ = 0): theory lines, N-dim simulations")
        ax.legend(fontsize=8)
    _plot_crossover_map(axes[2], crossover)
    return _save(fig, path)


def _plot_crossover_map(ax, crossover):
    table = crossover.dropna().sort_values("f")
    ax.plot(table["f"], table["alpha_tot_star"], "k-o", ms=3, label=r"$\varepsilon_{hard} = \varepsilon_{easy}$")
    top = max(table["alpha_tot_star"].max() * 3, 10) if len(table) else 10
    ax.fill_between(table["f"], table["alpha_tot_star"], top, color="tab:red", alpha=0.15, label="keep hard better")
    ax.fill_between(table["f"], 0.1, table["alpha_tot_star"], color="tab:blue", alpha=0.15, label="keep easy better")
    ax.set(yscale="log", xlabel="fraction kept f", ylabel=r"initial data $\alpha_{tot} = P/N$",
           title="crossover: keep easy when data are scarce, hard when abundant")
    ax.legend(fontsize=8)


def plot_frontier(curves, frontier, fits, summary, path):
    """Fig. 3A: keep-hard curves over f, their Pareto frontier with an exponential fit, f = 1 with a power law."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    grid_curves = curves[curves["study"] == "frontier"]
    fractions = sorted(grid_curves["f"].unique())
    front = frontier[frontier["study"] == "frontier"].sort_values("alpha_prune")
    study_fits = fits[fits["study"] == "frontier"]
    for ax, xscale in zip(axes, ("log", "linear")):
        for f in fractions:
            line = _select(grid_curves, f=float(f)).sort_values("alpha_prune")
            ax.plot(line["alpha_prune"], line["eps"], color=_color(f, fractions), lw=0.8,
                    label=f"f = {f:.2g}" if xscale == "log" else None)
            _sim_points(ax, _select(summary, study="fixed_f", keep="hard", f=float(f)), _color(f, fractions))
        ax.plot(front["alpha_prune"], front["eps_opt"], "k-", lw=2.5, alpha=0.6, label="Pareto frontier")
        for _, fit in study_fits.iterrows():
            if (fit["target"], fit["law"]) in {("f=1", "power_law"), ("frontier", "exponential")}:
                _plot_fit(ax, fit)
        ax.set(xscale=xscale, yscale="log", xlabel=r"$\alpha_{prune}$", ylabel=r"test error $\varepsilon$")
    axes[0].set_title("keep hard, θ = 0: log–log (power law = straight)")
    axes[1].set_title("semi-log (exponential = straight)")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].legend(fontsize=8)
    return _save(fig, path)


def _plot_fit(ax, fit, color=None):
    alpha = np.geomspace(fit["alpha_min"], fit["alpha_max"], 100)
    if fit["law"] == "power_law":
        label, style = rf"{fit['target']}: $\varepsilon = {fit['a']:.2g}\,\alpha^{{-{fit['rate']:.2f}}}$", "--"
    else:
        label, style = rf"{fit['target']}: $\varepsilon = {fit['a']:.2g}\,e^{{-{fit['rate']:.3g}\alpha}}$", ":"
    ax.plot(alpha, predict(fit, alpha), style, color=color or ("tab:red" if fit["law"] == "power_law" else "tab:cyan"),
            lw=3, label=label, zorder=4)


def plot_imperfect(curves, frontier, summary, path, show_theta=None):
    """Fig. 2: an imperfect probe (θ > 0) ends exponential scaling; optimal and minimal f versus θ."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    imperfect = curves[curves["study"] == "imperfect"]
    thetas = sorted(imperfect["theta"].unique())
    theta_show = _closest(thetas, show_theta if show_theta is not None else thetas[len(thetas) // 2])
    _panel_fixed_theta(axes[0, 0], imperfect, summary, theta_show)
    _panel_frontiers(axes[0, 1], frontier, thetas)
    _panel_optimal_fraction(axes[1, 0], frontier, thetas)
    _panel_minimal_fraction(axes[1, 1], frontier)
    return _save(fig, path)


def _closest(values, target):
    return float(values[int(np.argmin(np.abs(np.asarray(values) - target)))])


def _panel_fixed_theta(ax, imperfect, summary, theta):
    curves = _select(imperfect, theta=theta)
    fractions = sorted(curves["f"].unique())
    for f in fractions:
        line = _select(curves, f=float(f)).sort_values("alpha_prune")
        ax.plot(line["alpha_prune"], line["eps"], color=_color(f, fractions), lw=1, label=f"f = {f:.2g}")
        _sim_points(ax, _select(summary, study="imperfect", theta=theta, f=float(f)), _color(f, fractions))
    ax.set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune}$", ylabel=r"test error $\varepsilon$",
           title=f"keep hard with an imperfect probe, θ = {theta:.3g} rad")
    ax.legend(fontsize=7, ncol=2)


def _theta_colors(thetas):
    return {theta: plt.get_cmap("plasma")(0.85 * k / max(len(thetas) - 1, 1)) for k, theta in enumerate(thetas)}


def _panel_frontiers(ax, frontier, thetas):
    colors = _theta_colors(thetas)
    perfect = frontier[frontier["study"] == "frontier"].sort_values("alpha_prune")
    ax.plot(perfect["alpha_prune"], perfect["eps_opt"], "k-", lw=2, label="θ = 0 (perfect metric)")
    for theta in thetas:
        front = _select(frontier, study="imperfect", theta=theta).sort_values("alpha_prune")
        ax.plot(front["alpha_prune"], front["eps_opt"], color=colors[theta], lw=1.5, label=f"θ = {theta:.3g}")
    last = frontier[frontier["study"] == "imperfect"].sort_values("alpha_prune")
    ax.plot(last["alpha_prune"], last["eps_f1"], color="0.5", ls="--", label="f = 1 (no pruning)")
    ax.set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune}$", ylabel=r"Pareto-optimal $\varepsilon$",
           title="frontier over f: exponential for θ = 0, back to a power law for θ > 0")
    ax.legend(fontsize=8)


def _panel_optimal_fraction(ax, frontier, thetas):
    colors = _theta_colors(thetas)
    perfect = frontier[frontier["study"] == "frontier"].sort_values("alpha_prune")
    ax.plot(perfect["alpha_prune"], perfect["f_opt"], "k-", lw=2, label="θ = 0")
    for theta in thetas:
        front = _select(frontier, study="imperfect", theta=theta).sort_values("alpha_prune")
        ax.plot(front["alpha_prune"], front["f_opt"], color=colors[theta], label=f"θ = {theta:.3g}")
    ax.set(xscale="log", yscale="log", xlabel=r"$\alpha_{prune}$", ylabel=r"optimal fraction kept $f_{opt}$",
           title="optimal f along the frontier")
    ax.legend(fontsize=8)


def _panel_minimal_fraction(ax, frontier):
    minimal = minimal_fractions(frontier[frontier["study"] == "imperfect"]).sort_values("theta")
    ax.plot(minimal["theta"], minimal["f_min"], "o-", color="tab:purple")
    if len(minimal):
        ax.set_title(rf"$f_{{min}}(\theta)$: $f_{{opt}}$ at $\alpha_{{prune}}$ = {minimal['alpha_prune'].max():.3g}")
    ax.set(xlabel="probe angle θ (rad)", ylabel=r"$f_{min}$", yscale="log")


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_figures(curves, crossover, sims, frontier, fits, outdir, show_theta=None) -> list[Path]:
    """All three theory figures under ``outdir`` (names in FIGURE_NAMES)."""
    summary = summarise_simulations(sims) if len(sims) else pd.DataFrame(
        columns=["study", "theta", "keep", "f", "alpha_prune", "eps_mean", "eps_sem"])
    outdir = Path(outdir)
    return [
        plot_crossover(curves, crossover, summary, outdir / FIGURE_NAMES[0]),
        plot_frontier(curves, frontier, fits, summary, outdir / FIGURE_NAMES[1]),
        plot_imperfect(curves, frontier, summary, outdir / FIGURE_NAMES[2], show_theta),
    ]
