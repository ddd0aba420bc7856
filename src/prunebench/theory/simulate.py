"""Finite-N simulation of the pruning theory (SI A.1): Gaussian inputs, teacher labels, a probe at
angle θ, margin-based pruning and the exact max-margin student.

The teacher is T = e₁ and the probe J_probe = cosθ·e₁ + sinθ·e₂. The inputs are isotropic, so this
is the general case up to a rotation; it lets us draw the two scored coordinates of all P_tot
examples and the other N − 2 coordinates only for the f·P_tot examples kept.
"""

from __future__ import annotations

import math

import numpy as np
from threadpoolctl import threadpool_limits

from prunebench.theory.maxmargin import max_margin
from prunebench.theory.solver import TheoryInputError, validate_point

MAX_BATCH_BYTES = 2e8  # seeds are batched while the kept design matrices fit in this many bytes


def pruned_dataset(alpha_tot, f, keep, theta, n_dim, seed):
    """One pruned data set: X (P_keep, N) and labels y = sign(T·x), kept by probe margin |z| (SI A.1)."""
    rng = np.random.default_rng(seed)
    n_total = int(round(alpha_tot * n_dim))
    n_keep = int(round(f * n_total))
    if n_keep < 1:
        raise TheoryInputError(f"alpha_tot*f*n_dim = {alpha_tot * f * n_dim:.3g} keeps no example; raise n_dim or alpha_tot")
    teacher_field, other = rng.standard_normal((2, n_total))
    margin = abs(math.cos(theta) * teacher_field + math.sin(theta) * other)
    order = np.argsort(margin, kind="stable")
    kept = order[:n_keep] if keep == "hard" else order[n_total - n_keep:]
    rest = rng.standard_normal((n_keep, n_dim - 2))
    X = np.column_stack([teacher_field[kept], other[kept], rest])
    return X, np.where(teacher_field[kept] > 0, 1.0, -1.0)


def simulate_point(alpha_tot, f, keep, theta, n_dim: int, seeds, solver: str = "ipm") -> list[dict]:
    """Max-margin students for each seed: ε = arccos(R)/π, κ, R = J·T, ρ = J·J_probe (one dict per seed)."""
    alpha_tot, f, keep, theta = validate_point(alpha_tot, f, keep, theta)
    if int(n_dim) < 3:
        raise TheoryInputError(f"n_dim must be at least 3, got {n_dim}")
    seeds = [int(s) for s in seeds]
    n_keep = int(round(f * round(alpha_tot * n_dim)))
    batch = max(1, int(MAX_BATCH_BYTES // (8 * max(n_keep, 1) * n_dim)))
    rows = []
    for start in range(0, len(seeds), batch):
        rows += _simulate_batch(alpha_tot, f, keep, theta, int(n_dim), seeds[start:start + batch], solver)
    return rows


def _simulate_batch(alpha_tot, f, keep, theta, n_dim, seeds, solver):
    data = [pruned_dataset(alpha_tot, f, keep, theta, n_dim, seed) for seed in seeds]
    with threadpool_limits(1):  # small batched linear algebra: threads only add contention
        result = max_margin(np.stack([X for X, _ in data]), np.stack([y for _, y in data]), solver)
    R = np.clip(result.w[:, 0], -1.0, 1.0)
    rho = math.cos(theta) * result.w[:, 0] + math.sin(theta) * result.w[:, 1]
    n_keep = data[0][0].shape[0]
    return [
        {"alpha_tot": alpha_tot, "f": f, "keep": keep, "theta": theta, "n_dim": n_dim, "seed": seed,
         "n_keep": n_keep, "alpha_prune": n_keep / n_dim, "eps": float(np.arccos(R[k]) / np.pi),
         "kappa": float(result.kappa[k]), "R": float(R[k]), "rho": float(rho[k]),
         "n_support": int(result.n_support[k]), "rel_gap": float(result.rel_gap[k]), "solver": solver}
        for k, seed in enumerate(seeds)
    ]
