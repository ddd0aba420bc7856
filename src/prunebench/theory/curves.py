"""Data products of the perceptron theory: theory curves, the easy/hard crossover, and simulations.

Each function takes the ``theory:`` section of a config (see workflow/schemas/theory.schema.yaml)
and returns a pandas DataFrame; the CLI writes them to results/theory/*.csv.

Studies (the figures of Sorscher et al. 2022, §3 and SI A):

* ``fixed_f``   θ = 0, keep easy and keep hard, ε versus α_prune for a few f (Fig. 1);
* ``frontier``  θ = 0, keep hard, a grid of f: the Pareto frontier against f = 1 (Fig. 3A);
* ``imperfect`` θ > 0, keep hard, a grid of f per θ: the breakdown of exponential scaling (Fig. 2).
"""

from __future__ import annotations

import ctypes
import math
from concurrent.futures import ProcessPoolExecutor
from itertools import product

import numpy as np
import pandas as pd
from scipy import optimize
from threadpoolctl import threadpool_limits

from prunebench.seeding import derive_seed
from prunebench.theory.simulate import simulate_point
from prunebench.theory.solver import solve_curve, solve_point

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt options
CURVE_COLUMNS = ["study", "theta", "keep", "f", "alpha_tot", "alpha_prune", "eps", "kappa", "R", "rho", "method"]


def grid(spec) -> np.ndarray:
    """A list of values, or {min, max, num[, spacing: log|linear]} (log-spaced by default)."""
    if isinstance(spec, dict):
        spacing = np.geomspace if spec.get("spacing", "log") == "log" else np.linspace
        return spacing(float(spec["min"]), float(spec["max"]), int(spec["num"]))
    return np.asarray(spec, float)


def fraction_grid(spec) -> np.ndarray:
    """Fractions kept, sorted, always including f = 1 (the unpruned reference)."""
    return np.unique(np.append(grid(spec), 1.0))


def curve_tasks(cfg: dict) -> list[tuple]:
    """(study, θ, keep, f, α_prune grid) for every theory curve of the config.

    The simulated fractions and angles are added to the grids, so every simulated point has its
    theory curve.
    """
    sim = cfg.get("simulation") or {}
    sim_fixed, sim_imperfect = sim.get("fixed_f") or {}, sim.get("imperfect") or {}
    sim_fractions = _union(sim_fixed.get("fractions", []), sim_imperfect.get("fractions", []))
    tasks = []
    fixed = cfg["fixed_f"]
    for f, keep in product(_union(fraction_grid(fixed["fractions"]), sim_fixed.get("fractions", [])), ("easy", "hard")):
        tasks.append(("fixed_f", 0.0, keep, f, grid(fixed["alpha_prune"])))
    frontier = cfg["frontier"]
    for f in _union(fraction_grid(frontier["fractions"]), sim_fractions):
        tasks.append(("frontier", 0.0, "hard", f, grid(frontier["alpha_prune"])))
    imperfect = cfg["imperfect"]
    thetas = _union(grid(imperfect["thetas"]), sim_imperfect.get("thetas", []))
    for theta, f in product(thetas, _union(fraction_grid(imperfect["fractions"]), sim_imperfect.get("fractions", []))):
        tasks.append(("imperfect", float(theta), "hard", float(f), grid(imperfect["alpha_prune"])))
    return tasks


def _union(values, extra) -> np.ndarray:
    return np.unique(np.round(np.concatenate([grid(values), grid(extra)]), 12)) if len(extra) else grid(values)


def _curve_rows(task) -> list[dict]:
    study, theta, keep, f, alpha_prune = task
    points = solve_curve(np.asarray(alpha_prune) / f, f, keep, theta)
    return [{"study": study, **point.as_dict()} for point in points]


def _run(function, tasks, workers: int) -> list:
    """``function`` over ``tasks`` in ``workers`` processes, each set up by :func:`_configure_process`."""
    if workers <= 1 or len(tasks) <= 1:
        _configure_process()
        return [function(task) for task in tasks]
    with ProcessPoolExecutor(max_workers=workers, initializer=_configure_process) as pool:
        return list(pool.map(function, tasks))


def _configure_process() -> None:
    """Single-threaded BLAS (the matrices are tiny), and glibc malloc thresholds raised to 256 MiB:
    by default every freed quadrature temporary (~0.5 MB) goes back to the OS and its pages fault
    in again on the next pass, which doubled the run time of the curves."""
    threadpool_limits(1)
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to tune
        return
    for option in (M_TRIM_THRESHOLD, M_MMAP_THRESHOLD):
        libc.mallopt(option, 1 << 28)


def theory_curves(cfg: dict, workers: int = 1) -> pd.DataFrame:
    """ε, κ, R, ρ along every curve of the three studies (one row per point)."""
    tasks = sorted(curve_tasks(cfg), key=lambda t: -len(t[4]) * (1 + 5 * (t[1] > 0)))  # slow ones first
    rows = [row for rows in _run(_curve_rows, tasks, workers) for row in rows]
    frame = pd.DataFrame(rows)[CURVE_COLUMNS]
    return frame.sort_values(["study", "theta", "keep", "f", "alpha_tot"], ignore_index=True)


# --------------------------------------------------------------------------- crossover


def hard_minus_easy(alpha_tot: float, f: float) -> float:
    """ε(keep hard) − ε(keep easy) at θ = 0: > 0 where easy examples are the better ones to keep."""
    return solve_point(alpha_tot, f, "hard").eps - solve_point(alpha_tot, f, "easy").eps


def crossover_point(f: float, alpha_tots) -> dict:
    """The α_tot where keep-hard starts to beat keep-easy at this f (brentq inside the first sign change)."""
    gaps = [hard_minus_easy(a, f) for a in alpha_tots]
    for (a_lo, g_lo), (a_hi, g_hi) in zip(zip(alpha_tots, gaps), zip(alpha_tots[1:], gaps[1:])):
        if g_lo > 0 >= g_hi:
            alpha_star = optimize.brentq(hard_minus_easy, a_lo, a_hi, args=(f,), xtol=1e-6, rtol=1e-8)
            return {"f": f, "alpha_tot_star": alpha_star, "alpha_prune_star": f * alpha_star,
                    "eps_star": solve_point(alpha_star, f, "hard").eps}
    return {"f": f, "alpha_tot_star": math.nan, "alpha_prune_star": math.nan, "eps_star": math.nan}


def _crossover_row(task) -> dict:
    return crossover_point(*task)


def crossover_table(cfg: dict, workers: int = 1) -> pd.DataFrame:
    """Crossover α_tot*(f) from keep-easy to keep-hard (θ = 0), one row per f < 1."""
    spec = cfg["crossover"]
    alpha_tots = list(grid(spec["alpha_tot"]))
    tasks = [(float(f), alpha_tots) for f in grid(spec["fractions"]) if f < 1]
    return pd.DataFrame(_run(_crossover_row, tasks, workers))


# --------------------------------------------------------------------------- simulations


def simulation_tasks(cfg: dict, base_seed: int) -> list[tuple]:
    """(study, α_tot, f, keep, θ, N, seeds, solver) for every simulated point of the config."""
    sim = cfg["simulation"]
    n_dim, solver, replicates = int(sim["n_dim"]), sim.get("solver", "ipm"), int(sim["seeds"])
    points = []
    fixed = sim.get("fixed_f")
    if fixed:
        for f, keep, a in product(grid(fixed["fractions"]), ("easy", "hard"), grid(fixed["alpha_prune"])):
            points.append(("fixed_f", a / f, f, keep, 0.0))
    imperfect = sim.get("imperfect")
    if imperfect:
        for theta, f, a in product(grid(imperfect["thetas"]), grid(imperfect["fractions"]), grid(imperfect["alpha_prune"])):
            points.append(("imperfect", a / f, f, "hard", float(theta)))
    tasks = []
    for study, alpha_tot, f, keep, theta in points:
        key = derive_seed(base_seed, "theory-sim", study, f"{alpha_tot:.6g}", f"{f:.6g}", keep, f"{theta:.6g}", n_dim)
        seeds = [derive_seed(key, r) for r in range(replicates)]
        tasks.append((study, alpha_tot, f, keep, theta, n_dim, seeds, solver))
    return tasks


def _simulation_rows(task) -> list[dict]:
    study, alpha_tot, f, keep, theta, n_dim, seeds, solver = task
    return [{"study": study, **row} for row in simulate_point(alpha_tot, f, keep, theta, n_dim, seeds, solver)]


def simulation_table(cfg: dict, base_seed: int, workers: int = 1) -> pd.DataFrame:
    """One row per (point, seed): the simulated ε, κ, R, ρ and the QP certificate."""
    tasks = simulation_tasks(cfg, base_seed)
    return pd.DataFrame([row for rows in _run(_simulation_rows, tasks, workers) for row in rows])


def summarise_simulations(sims: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error over seeds of ε and κ per simulated point."""
    keys = ["study", "theta", "keep", "f", "alpha_tot", "alpha_prune", "n_dim"]
    grouped = sims.groupby(keys)
    summary = grouped[["eps", "kappa"]].mean().add_suffix("_mean")
    errors = grouped[["eps", "kappa"]].sem().fillna(0.0).add_suffix("_sem")
    return summary.join(errors).join(grouped.size().rename("n_seeds")).reset_index()
