"""Pareto frontier over f, optimal fraction kept, and the scaling fits of the theory curves.

* Pareto frontier, θ = 0 (Sorscher et al. 2022, Fig. 3A): ε_opt(α_prune) = min over f of
  ε(α_tot = α_prune/f, f, keep hard), minimised over f *continuously*: the grid of fractions
  brackets the minimum, then ``scipy.optimize.minimize_scalar`` (bounded Brent on log f) with the
  replica solver refines it inside [f_floor, 1]. Each row says where the optimum lies
  (``optimum_at``): ``interior``, ``f=1`` (no pruning is best) or ``f_floor`` (pinned to the lowest
  allowed f). For α_prune > 2 (the perceptron capacity) the θ = 0 optimum is pinned at any floor:
  ε grows with f (ε ∝ f at fixed α_prune), so ε_opt → 0 as f → 0 and the frontier there is set by
  the floor, not by the theory.
* Pareto frontier, θ > 0 (SI A.7): grid minimiser refined by a parabola in (log f, log ε); an
  optimum on the first or last grid fraction is flagged the same way (``grid_min`` / ``f=1``).
* Fits, least squares on log ε: a power law ε = a·α^(−ν) to random pruning (f = 1) over the
  study's α range, and an exponential ε = b·exp(−α/λ) and a power law to the frontier, only on
  its ``interior`` points (never on points pinned to a bound of f).
* f_min(θ) := f_opt at the largest α_prune of the grid (where the frontier has become a power law).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize

from prunebench.theory.curves import _run

FRONTIER_STUDIES = ("frontier", "imperfect")
INTERIOR, NO_PRUNING, AT_FLOOR, AT_GRID_MIN = "interior", "f=1", "f_floor", "grid_min"
LOG_F_TOL = 1e-3  # xatol of the bounded minimisation, in log f (0.1% in f)
PINNED_TOL = 1e-2  # an optimum closer than this (in log f) to a bound is pinned to it
FAILED_ERROR = 1.0  # ε given to a point the solver cannot solve: above any real ε (≤ 0.5), finite for Brent


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


def minimise_over_fraction(error_at, fractions, f_floor: float, errors=None) -> dict:
    """Continuous argmin over f ∈ [f_floor, 1] of ``error_at(f)`` (ε at fixed α_prune).

    The grid ``fractions`` (sorted, in [f_floor, 1]; ``errors`` its ε if already known) brackets
    the minimum (its neighbours on either side, the floor below the first one);
    ``scipy.optimize.minimize_scalar`` (bounded Brent) refines it in log f (NaN errors are solved). Returns ``f_opt``,
    ``eps_opt``, ``eps_grid_opt`` (the grid's best ε) and ``optimum_at``.
    """
    grid = np.asarray(fractions, float)
    known = np.full(len(grid), np.nan) if errors is None else np.asarray(errors, float)
    errors = np.array([e if np.isfinite(e) else error_at(f) for f, e in zip(grid, known)])
    best = int(np.argmin(errors))
    lo = math.log(grid[best - 1]) if best > 0 else math.log(f_floor)
    hi = math.log(grid[best + 1]) if best < len(grid) - 1 else 0.0
    result = optimize.minimize_scalar(lambda log_f: error_at(math.exp(log_f)), bounds=(lo, hi),
                                      method="bounded", options={"xatol": LOG_F_TOL})
    better = result.fun <= errors[best]
    log_f, eps = (float(result.x), float(result.fun)) if better else (math.log(grid[best]), errors[best])
    where = INTERIOR
    if log_f - math.log(f_floor) < PINNED_TOL:
        where = AT_FLOOR
    elif -log_f < PINNED_TOL:
        where = NO_PRUNING
    return {"f_opt": math.exp(log_f), "eps_opt": float(eps), "eps_grid_opt": float(errors[best]), "optimum_at": where}


def keep_hard_error(alpha_prune: float, theta: float):
    """f ↦ ε(α_tot = α_prune/f, f, keep hard, θ) from the replica solver; a point where the θ > 0
    solver does not converge (very small f at large α_tot) counts as :data:`FAILED_ERROR`, so it is
    never the optimum."""
    from prunebench.theory.solver import solve_point

    def error_at(f: float) -> float:
        try:
            return solve_point(alpha_prune / f, f, "hard", theta).eps
        except RuntimeError:
            return FAILED_ERROR

    return error_at


def _theta0_frontier_row(task) -> dict:
    alpha_prune, fractions, f_floor, known = task
    error_at = keep_hard_error(alpha_prune, 0.0)
    optimum = minimise_over_fraction(error_at, fractions, f_floor, known)
    eps_f1 = known[-1] if np.isfinite(known[-1]) else error_at(1.0)  # fractions end at f = 1
    return {"study": "frontier", "theta": 0.0, "alpha_prune": float(alpha_prune), "method": "continuous",
            **optimum, "eps_f1": float(eps_f1)}


def continuous_frontier(alpha_prunes, fractions, f_floor: float, workers: int = 1, dense_alphas=(),
                        curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """θ = 0 keep-hard Pareto frontier ε_opt(α_prune) = min_f ε(α_prune/f, f), f continuous in
    [f_floor, 1], at the study's ``alpha_prunes`` and at the extra ``dense_alphas`` (rows flagged
    ``dense``: they refine the frontier, not the f = 1 curve's sampling). Grid values already in
    the frontier study's ``curves`` are re-used instead of solved again."""
    fractions = tuple(np.unique(np.append(np.clip(np.asarray(fractions, float), f_floor, 1.0), 1.0)))
    on_grid = np.unique(np.asarray(alpha_prunes, float))
    extra = np.setdiff1d(np.unique(np.asarray(dense_alphas, float)), on_grid)
    tasks = [(float(a), fractions, float(f_floor), _known_errors(curves, a, fractions))
             for a in np.concatenate([on_grid, extra])]
    frame = pd.DataFrame(_run(_theta0_frontier_row, tasks, workers))
    frame["dense"] = np.isin(frame["alpha_prune"], extra)
    return frame.sort_values("alpha_prune", ignore_index=True)


def _known_errors(curves: pd.DataFrame | None, alpha_prune: float, fractions) -> tuple:
    """ε of the θ = 0 frontier curves at (α_prune, each f), NaN where the table has no such point."""
    if curves is None or curves.empty:
        return tuple(np.full(len(fractions), np.nan))
    line = curves[(curves["study"] == "frontier") & (curves["keep"] == "hard") & (curves["theta"] == 0)
                  & np.isclose(curves["alpha_prune"], alpha_prune, rtol=1e-8)]
    known = []
    for f in fractions:
        match = line.loc[np.isclose(line["f"], f, rtol=1e-8), "eps"]
        known.append(float(match.iloc[0]) if len(match) else np.nan)
    return tuple(known)


def _refined_row(task) -> dict:
    row, fractions, errors, f_floor = task
    error_at = keep_hard_error(row["alpha_prune"], row["theta"])
    optimum = minimise_over_fraction(error_at, fractions, f_floor, errors)
    return {**row, **optimum, "method": "grid+continuous", "eps_grid_opt": row["eps_grid_opt"]}


def refine_below_grid(frontier: pd.DataFrame, curves: pd.DataFrame, f_floor: float, workers: int = 1) -> pd.DataFrame:
    """Rows of a grid frontier whose optimum sits on the grid's lowest f, minimised again over f
    continuously down to ``f_floor`` (bounded Brent below the grid's first two fractions)."""
    pinned = frontier["optimum_at"] == AT_GRID_MIN
    tasks = []
    for _, row in frontier[pinned].iterrows():
        line = curves[(curves["study"] == row["study"]) & np.isclose(curves["theta"], row["theta"])
                      & np.isclose(curves["alpha_prune"], row["alpha_prune"]) & (curves["keep"] == "hard")].sort_values("f")
        tasks.append((row.to_dict(), (f_floor, *line["f"]), (math.nan, *line["eps"]), f_floor))
    refined = pd.DataFrame(_run(_refined_row, tasks, workers)) if tasks else frontier[pinned]
    return pd.concat([frontier[~pinned], refined], ignore_index=True).sort_values(["study", "theta", "alpha_prune"],
                                                                                   ignore_index=True)


def pareto_frontier(curves: pd.DataFrame, studies=FRONTIER_STUDIES) -> pd.DataFrame:
    """Per (study, θ, α_prune) of the grid ``studies``: the frontier ε_opt, f_opt (grid minimiser
    refined by a parabola), and ε at f = 1; ``optimum_at`` names a grid edge it sits on."""
    rows = []
    grid_curves = curves[curves["study"].isin(list(studies)) & (curves["keep"] == "hard")]
    for (study, theta, alpha_prune), group in grid_curves.groupby(["study", "theta", "alpha_prune"]):
        group = group.sort_values("f")
        fractions, errors = group["f"].to_numpy(), group["eps"].to_numpy()
        f_opt, eps_opt, at_edge = optimal_fraction(fractions, errors)
        where = INTERIOR if not at_edge else (NO_PRUNING if f_opt == fractions[-1] else AT_GRID_MIN)
        rows.append({"study": study, "theta": theta, "alpha_prune": alpha_prune, "method": "grid", "f_opt": f_opt,
                     "eps_opt": eps_opt, "eps_grid_opt": float(errors.min()), "optimum_at": where,
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


def scaling_fits(frontier: pd.DataFrame, fit_ranges: dict, min_points: int = 3) -> pd.DataFrame:
    """Per (study, θ), on α_prune within ``fit_ranges[study] = (min, max)``: a power law to f = 1
    (on the study's α grid, not the ``dense`` frontier points),
    and an exponential and a power law to the frontier, fitted only on the frontier points whose
    optimum is interior (not pinned to f = 1 or to the lowest f), when there are ``min_points``."""
    rows = []
    for (study, theta), group in frontier.groupby(["study", "theta"]):
        lo, hi = fit_ranges[study]
        group = group[(group["alpha_prune"] >= lo) & (group["alpha_prune"] <= hi)]
        interior = group[group["optimum_at"] == INTERIOR]
        sampled = group[~group["dense"].eq(True)] if "dense" in group.columns else group
        plans = (("f=1", "eps_f1", fit_power_law, sampled),
                 ("frontier", "eps_opt", fit_exponential, interior),
                 ("frontier", "eps_opt", fit_power_law, interior))
        for target, column, fit, points in plans:
            if len(points) < min_points:
                continue
            alpha = points["alpha_prune"].to_numpy()
            rows.append({"study": study, "theta": theta, "target": target, **fit(alpha, points[column].to_numpy()),
                         "alpha_min": float(alpha.min()), "alpha_max": float(alpha.max()), "n_points": len(alpha)})
    return pd.DataFrame(rows)


def minimal_fractions(frontier: pd.DataFrame) -> pd.DataFrame:
    """f_min(θ): the optimal fraction kept at the largest α_prune of each θ's grid."""
    last = frontier.sort_values("alpha_prune").groupby(["study", "theta"]).tail(1)
    return last[["study", "theta", "alpha_prune", "f_opt", "eps_opt", "optimum_at"]].rename(
        columns={"f_opt": "f_min"}).reset_index(drop=True)
