"""Calibrated "beyond power law" tests of a Pareto frontier, and the frontier's exponent interval.

Three one-sided tests, each a weighted linear regression in log space — y = ln max(ε, 0.5/n_test),
weights w = n_test·ε̃/(1 − ε̃), the inverse binomial variance of ln ε (delta method) — with a
t statistic on n − p residual degrees of freedom (the dispersion is estimated, so seed noise on
top of the binomial draw is allowed):

* ``curvature``: y = b₀ + b₁u + b₂u², u = ln P − mean; H₁: b₂ < 0 (the log–log frontier bends
  down, as an exponential does; Sorscher et al. 2022, Fig. 3);
* ``vs_full_data``: the frontier and the f = 1 runs pooled, y = b₀ + b₁u + g(b₂ + b₃u), g = 1 on
  the frontier; H₁: b₃ < 0 (the frontier falls faster than the unpruned power law);
* ``vs_random``: the same against the random-pruning frontier.

A frontier is a minimum over noisy runs, so the nominal level is not the false-positive rate. The
rate is *measured*: ``null_rates`` simulates pure power laws ε = a·P^(−ν) (a, ν of the f = 1 fit)
at the sweep's own design (initial sizes, fractions kept, seeds, n_test), draws every run as a
binomial count with the measured over-dispersion φ, re-selects both frontiers in each repeat and
counts how often each test rejects at ``ALPHA``. A random-pruning frontier is such a power law,
so at the configured design it is called "beyond power law" only at that measured rate.

``frontier_interval`` is a parametric bootstrap-t for the frontier exponent (Efron & Tibshirani
1993, §12.5): the bootstrap world replaces each f's cell means by that f's fitted power law, runs
are redrawn from it with the same noise model, the frontier is re-selected inside every replicate,
and t* = (ν* − ν_w)/se* (ν_w: the world's own noiseless frontier exponent) gives
[ν̂ − t*_{1−α/2}·se, ν̂ − t*_{α/2}·se].
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from prunebench.scaling.columns import ERROR, with_eval_error
from prunebench.scaling.frontier import pareto_frontier
from prunebench.scaling.laws import error_floor, fit_family

ALPHA = 0.05
MIN_SIZES = 5
CAN_CONCLUDE = ("a rejection says the frontier bends down in log-log (curvature) or falls faster than the f = 1 / "
                "random curve more often than pure power laws do at this design (false-positive rate measured by "
                "simulation and stored with the verdict)")
CANNOT_CONCLUDE = ("it does not identify the frontier as exponential, says nothing outside the measured sizes, and "
                   "a non-rejection is not evidence for a power law (few sizes give the tests little power)")


def _log_response(errors, n_test) -> tuple[np.ndarray, np.ndarray]:
    """(y = ln max(ε, 0.5/n), w = n·ε̃/(1 − ε̃))."""
    n_test = np.broadcast_to(np.asarray(n_test, float), np.shape(errors))
    clipped = np.clip(np.asarray(errors, float), error_floor(n_test), 1 - error_floor(n_test))
    return np.log(clipped), n_test * clipped / (1 - clipped)


def _one_sided_p(design: np.ndarray, y: np.ndarray, weights: np.ndarray, column: int) -> dict | None:
    """Weighted least squares; P(T ≤ t) of the coefficient in ``column`` (H₁: it is negative)."""
    dof = len(y) - design.shape[1]
    if dof < 1:
        return None
    root = np.sqrt(weights)
    beta, *_ = np.linalg.lstsq(design * root[:, None], y * root, rcond=None)
    resid = (y - design @ beta) * root
    sigma2 = float(resid @ resid) / dof
    try:
        cov = sigma2 * np.linalg.inv((design * weights[:, None]).T @ design)
    except np.linalg.LinAlgError:
        return None
    se = float(np.sqrt(max(cov[column, column], 1e-300)))
    t = float(beta[column] / se)
    return {"coefficient": float(beta[column]), "t": t, "dof": dof, "p_value": float(stats.t.cdf(t, dof))}


def curvature_test(sizes, errors, n_test) -> dict | None:
    """H₁: b₂ < 0 in y = b₀ + b₁u + b₂u²; None with fewer than ``MIN_SIZES`` distinct sizes."""
    sizes = np.asarray(sizes, float)
    if len(np.unique(sizes)) < MIN_SIZES:
        return None
    u = np.log(sizes) - np.log(sizes).mean()
    y, w = _log_response(errors, n_test)
    return _one_sided_p(np.column_stack([np.ones_like(u), u, u ** 2]), y, w, 2)


def slope_difference_test(sizes, errors, n_test, ref_sizes, ref_errors, ref_n_test) -> dict | None:
    """H₁: b₃ < 0 (steeper log–log slope than the reference); None unless each curve has ≥ 2 sizes
    and the pair ≥ ``MIN_SIZES`` distinct sizes."""
    sizes, ref_sizes = np.asarray(sizes, float), np.asarray(ref_sizes, float)
    if min(len(np.unique(sizes)), len(np.unique(ref_sizes))) < 2 or \
            len(np.unique(np.concatenate([sizes, ref_sizes]))) < MIN_SIZES:
        return None
    log_p = np.log(np.concatenate([ref_sizes, sizes]))
    u = log_p - log_p.mean()
    group = np.concatenate([np.zeros(len(ref_sizes)), np.ones(len(sizes))])
    y, w = _log_response(np.concatenate([ref_errors, errors]),
                         np.concatenate([np.broadcast_to(ref_n_test, ref_sizes.shape),
                                         np.broadcast_to(n_test, sizes.shape)]))
    return _one_sided_p(np.column_stack([np.ones_like(u), u, group, group * u]), y, w, 3)


# ----------------------------------------------------------------------------------------------
# Noise model and frontier re-selection shared by the null simulation and the bootstrap
# ----------------------------------------------------------------------------------------------

def draw_runs(cells: pd.DataFrame, dispersion: float, rng) -> pd.DataFrame:
    """One run per (cell, seed): k ~ Binomial(n_test, μ·e^η), η ~ N(0, (φ − 1)(1 − μ)/(n_test μ)),
    so Var(ε̂) ≈ φ·μ(1 − μ)/n_test. ``cells`` has initial_size, fraction_kept, n_kept, mean_error,
    n_test, n_seeds."""
    repeated = cells.loc[cells.index.repeat(cells["n_seeds"].astype(int))].reset_index(drop=True)
    mean, n = repeated["mean_error"].to_numpy(float), repeated["n_test"].to_numpy(float)
    mean = np.clip(mean, 0.5 / n, 1 - 0.5 / n)
    extra = np.sqrt(max(dispersion - 1.0, 0.0) * (1 - mean) / (n * mean))
    prob = np.clip(mean * np.exp(rng.normal(0.0, 1.0, len(mean)) * extra), 0.0, 1.0)
    repeated[ERROR] = rng.binomial(n.astype(int), prob) / n
    return repeated


def frontier_of_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs at the (N, f) cells on the Pareto frontier of their seed means."""
    runs = with_eval_error(runs)
    means = runs.groupby(["initial_size", "fraction_kept", "n_kept"], as_index=False)[ERROR].mean()
    chosen = pareto_frontier(means)[["initial_size", "fraction_kept"]]
    return runs.merge(chosen, on=["initial_size", "fraction_kept"])


def run_tests(frontier: pd.DataFrame, full_data: pd.DataFrame, random_frontier: pd.DataFrame | None) -> dict:
    """The three tests (``None`` where not computable; ``vs_random`` None without a random frontier)."""
    def columns(table):
        table = with_eval_error(table)
        return table["n_kept"].to_numpy(float), table[ERROR].to_numpy(float), table["n_test"].to_numpy(float)
    out = {"curvature": curvature_test(*columns(frontier)),
           "vs_full_data": slope_difference_test(*columns(frontier), *columns(full_data)),
           "vs_random": None}
    if random_frontier is not None:
        out["vs_random"] = slope_difference_test(*columns(frontier), *columns(random_frontier))
    return out


def power_law_cells(design: pd.DataFrame, a: float, nu: float) -> pd.DataFrame:
    """The design's cells with mean error a·P^(−ν) (clipped to (0, 1))."""
    cells = design.copy()
    cells["mean_error"] = np.clip(a * cells["n_kept"].to_numpy(float) ** (-nu), 1e-6, 1 - 1e-6)
    return cells


def null_p_values(design: pd.DataFrame, a: float, nu: float, dispersion: float, *, n_null: int,
                  seed: int) -> dict[str, list[float]]:
    """p-values of the three tests in ``n_null`` simulated sweeps under a pure power law at ``design``
    (cells with f < 1 of one strategy and the f = 1 cells; the random strategy shares the design)."""
    rng = np.random.default_rng(seed)
    cells = power_law_cells(design, a, nu)
    is_full = np.isclose(cells["fraction_kept"], 1.0)
    p_values = {"curvature": [], "vs_full_data": [], "vs_random": []}
    for _ in range(n_null):
        full = draw_runs(cells[is_full].reset_index(drop=True), dispersion, rng)
        strategy = pd.concat([draw_runs(cells[~is_full].reset_index(drop=True), dispersion, rng), full])
        random = pd.concat([draw_runs(cells[~is_full].reset_index(drop=True), dispersion, rng), full])
        tests = run_tests(frontier_of_runs(strategy), full, frontier_of_runs(random))
        for name, test in tests.items():
            if test is not None:
                p_values[name].append(test["p_value"])
    return p_values


def null_rates(design: pd.DataFrame, a: float, nu: float, dispersion: float, *, n_null: int, seed: int) -> dict:
    """Measured rejection rates at ``ALPHA`` of the three tests under a pure power law at ``design``
    (:func:`null_p_values`)."""
    return rates_of(null_p_values(design, a, nu, dispersion, n_null=n_null, seed=seed))


def rates_of(p_values: dict[str, list[float]]) -> dict:
    """{test: fraction of null p-values below ALPHA} (None for a test never computed)."""
    return {name: (float(np.mean(np.asarray(ps) < ALPHA)) if ps else None) for name, ps in p_values.items()}


def calibrated_levels(p_values: dict[str, list[float]]) -> dict:
    """{test: the ALPHA-quantile of its null p-values}: rejecting at p below it has a measured
    false-positive rate of about ALPHA at this design (below ALPHA where the nominal test is liberal)."""
    return {name: (float(np.quantile(ps, ALPHA, method="inverted_cdf")) if ps else None)
            for name, ps in p_values.items()}


def smoothed_cells(cells: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The bootstrap world: each f's cell means replaced by that f's fitted power law (binomial fit
    of its runs), so replicates add noise to a curve rather than to noisy means; f with fewer than
    3 sizes keep their observed means."""
    world = cells.copy()
    for f, rows in with_eval_error(runs).groupby("fraction_kept"):
        if rows["n_kept"].nunique() < 3:
            continue
        fit = fit_family(rows["n_kept"], rows[ERROR], "power_law", rows["n_test"])
        at_f = np.isclose(world["fraction_kept"], f)
        world.loc[at_f, "mean_error"] = np.clip(fit.predict(world.loc[at_f, "n_kept"].to_numpy(float)), 1e-6, 1 - 1e-6)
    return world


def _frontier_nu(cells: pd.DataFrame) -> float:
    """ν of the power law fitted to the noiseless frontier of a world's cell means."""
    frontier = pareto_frontier(cells.rename(columns={"mean_error": ERROR}))
    if frontier["n_kept"].nunique() < 3:
        return float("nan")
    return fit_family(frontier["n_kept"], frontier[ERROR], "power_law", frontier["n_test"]).params["nu"]


def frontier_interval(cells: pd.DataFrame, runs: pd.DataFrame, point_runs: pd.DataFrame, dispersion: float, *,
                      n_boot: int, seed: int, confidence: float = 0.95) -> dict:
    """Parametric bootstrap-t interval of the frontier's power-law ν, re-selecting the frontier in
    every replicate (see the module docstring). ``cells``: the strategy's seed-mean cells; ``runs``:
    its runs; ``point_runs``: the runs on the observed frontier. The bootstrap world is
    ``smoothed_cells``; its own frontier exponent ν_w centres t* = (ν* − ν_w)/se*."""
    point_runs = with_eval_error(point_runs)
    point = fit_family(point_runs["n_kept"], point_runs[ERROR], "power_law", point_runs["n_test"])
    nu, se = point.params["nu"], point.se.get("nu", float("nan"))
    out = {"method": "parametric bootstrap-t, frontier re-selected in every replicate", "n_boot": n_boot,
           "confidence": confidence, "family": "power_law",
           "params": {"nu": {"estimate": nu, "low": float("nan"), "high": float("nan"), "se": se}}}
    world = smoothed_cells(cells, runs)
    world_nu = _frontier_nu(world)
    if not (np.isfinite(se) and se > 0 and np.isfinite(world_nu)) or n_boot < 10:
        return out
    rng = np.random.default_rng(seed)
    t_stars = []
    for _ in range(n_boot):
        replicate = frontier_of_runs(draw_runs(world, dispersion, rng))
        if replicate["n_kept"].nunique() < 3:
            continue
        boot = fit_family(replicate["n_kept"], replicate[ERROR], "power_law", replicate["n_test"])
        if boot.se.get("nu", 0) > 0:
            t_stars.append((boot.params["nu"] - world_nu) / boot.se["nu"])
    if len(t_stars) < 10:
        return out
    low_q, high_q = np.quantile(t_stars, [(1 - confidence) / 2, (1 + confidence) / 2])
    out["params"]["nu"].update(low=nu - high_q * se, high=nu - low_q * se)
    return {**out, "n_used": len(t_stars)}
