"""Pareto frontier over f, optimal fraction kept, and the scaling fits of the theory curves.

* Pareto frontier (Sorscher et al. 2022, Fig. 3A): at each α_prune, the lowest ε over the grid of
  fractions kept f (keep hard); f_opt is the minimiser, refined by a parabola in log f.
* Fits, least squares on log ε: a power law ε = a·α^(−ν) to random pruning (f = 1) and an
  exponential ε = b·exp(−α/λ) to the frontier, each over its α_prune range of the config.
* Imperfect metric (SI A.7): per θ, the frontier, f_opt(α_prune), and f_min(θ) := f_opt at the
  largest α_prune of the grid (the fraction where the frontier has turned into a power law).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

FRONTIER_STUDIES = ("frontier", "imperfect")


def optimal_fraction(fractions: np.ndarray, errors: np.ndarray) -> tuple[float, float, bool]:
    """(f_opt, ε_opt, at_edge): grid minimiser refined by a parabola in (log f, log ε)."""
    best = int(np.argmin(errors))
    at_edge = best in (0, len(fractions) - 1)
    if at_edge:
        return float(fractions[best]), float(errors[best]), True
    x, y = np.log(fractions[best - 1:best + 2]), np.log(errors[best - 1:best + 2])
    curvature, slope, _ = np.polyfit(x, y, 2)
    if curvature <= 0:
        return float(fractions[best]), float(errors[best]), False
    x_opt = float(np.clip(-slope / (2 * curvature), x[0], x[2]))
    return math.exp(x_opt), float(math.exp(np.polyval(np.polyfit(x, y, 2), x_opt))), False


def pareto_frontier(curves: pd.DataFrame) -> pd.DataFrame:
    """Per (study, θ, α_prune): the frontier ε_opt, f_opt, and ε at f = 1, for the grid studies."""
    rows = []
    grid_curves = curves[curves["study"].isin(list(FRONTIER_STUDIES)) & (curves["keep"] == "hard")]
    for (study, theta, alpha_prune), group in grid_curves.groupby(["study", "theta", "alpha_prune"]):
        group = group.sort_values("f")
        f_opt, eps_opt, at_edge = optimal_fraction(group["f"].to_numpy(), group["eps"].to_numpy())
        rows.append({"study": study, "theta": theta, "alpha_prune": alpha_prune, "f_opt": f_opt,
                     "eps_opt": eps_opt, "f_opt_at_grid_edge": at_edge,
                     "eps_f1": float(group.loc[group["f"] == 1.0, "eps"].iloc[0])})
    return pd.DataFrame(rows)


def fit_power_law(alpha, eps) -> dict:
    """ε = a·α^(−ν), least squares on log ε."""
    slope, intercept = np.polyfit(np.log(alpha), np.log(eps), 1)
    return {"law": "power_law", "a": math.exp(intercept), "rate": -slope, "rms_log": _rms(np.log(eps) - intercept - slope * np.log(alpha))}


def fit_exponential(alpha, eps) -> dict:
    """ε = b·exp(−α/λ), least squares on log ε; ``rate`` is 1/λ."""
    slope, intercept = np.polyfit(alpha, np.log(eps), 1)
    return {"law": "exponential", "a": math.exp(intercept), "rate": -slope, "rms_log": _rms(np.log(eps) - intercept - slope * np.asarray(alpha))}


def _rms(residuals) -> float:
    return float(np.sqrt(np.mean(np.square(residuals))))


def predict(fit: dict, alpha) -> np.ndarray:
    """Evaluate a fit row of :func:`scaling_fits` at α_prune."""
    alpha = np.asarray(alpha, float)
    if fit["law"] == "power_law":
        return fit["a"] * alpha ** (-fit["rate"])
    return fit["a"] * np.exp(-fit["rate"] * alpha)


def scaling_fits(frontier: pd.DataFrame, fit_ranges: dict) -> pd.DataFrame:
    """Per (study, θ), on α_prune within ``fit_ranges[study] = (min, max)``: a power law to f = 1,
    and an exponential and a power law to the frontier. The exponential is fitted where f_opt lies
    inside the f grid (where the frontier is made by lowering f, SI A.6), when there are 3 such points."""
    rows = []
    for (study, theta), group in frontier.groupby(["study", "theta"]):
        lo, hi = fit_ranges[study]
        group = group[(group["alpha_prune"] >= lo) & (group["alpha_prune"] <= hi)]
        interior = group[~group["f_opt_at_grid_edge"].astype(bool)]
        plans = (("f=1", "eps_f1", fit_power_law, group),
                 ("frontier", "eps_opt", fit_exponential, interior if len(interior) >= 3 else group),
                 ("frontier", "eps_opt", fit_power_law, group))
        for target, column, fit, points in plans:
            if len(points) < 2:
                continue
            alpha = points["alpha_prune"].to_numpy()
            rows.append({"study": study, "theta": theta, "target": target, **fit(alpha, points[column].to_numpy()),
                         "alpha_min": float(alpha.min()), "alpha_max": float(alpha.max()), "n_points": len(alpha)})
    return pd.DataFrame(rows)


def minimal_fractions(frontier: pd.DataFrame) -> pd.DataFrame:
    """f_min(θ): the optimal fraction kept at the largest α_prune of each θ's grid."""
    last = frontier.sort_values("alpha_prune").groupby(["study", "theta"]).tail(1)
    return last[["study", "theta", "alpha_prune", "f_opt", "eps_opt", "f_opt_at_grid_edge"]].rename(
        columns={"f_opt": "f_min"}).reset_index(drop=True)
