"""Exact hard-margin, bias-free max-margin perceptron (the SVM solution of SI A.1) as a QP.

    minimise ½‖w‖²  subject to  y_μ x_μ·w ≥ 1 for every example μ;   κ = 1/‖w‖.

Two solvers:

* ``"ipm"`` (default): a primal–dual interior-point method (Mehrotra predictor–corrector) on the
  N×N normal equations (I + Gᵀ diag(λ/s) G), batched over seeds. It costs O(P N²) per iteration,
  where a general sparse solver fills in the dense P×N constraint block.
* ``"clarabel"``: the Clarabel conic interior-point solver, one problem at a time.

Either answer is certified by weak duality: w is rescaled onto the feasible set, any λ ≥ 0 gives
the lower bound d(λ) = Σλ − ½‖Gᵀλ‖² ≤ ½‖w*‖², and the relative gap bounds the distance to the
optimum (strong convexity: ‖w − w*‖² ≤ 2·gap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prunebench.errors import PrunebenchError

SOLVERS = ("ipm", "clarabel")
GAP_TOL = 1e-8  # relative duality gap accepted as optimal (‖w − w*‖/‖w*‖ ≤ √(2·gap))
STEP_TO_BOUNDARY = 0.99


@dataclass
class MaxMarginResult:
    """Student directions (unit norm), margins and optimality certificates, one row per problem."""

    w: np.ndarray  # (S, N) unit-norm max-margin directions
    kappa: np.ndarray  # (S,) achieved margin min_μ y_μ x_μ·w
    kappa_upper: np.ndarray  # (S,) dual upper bound on the max margin
    rel_gap: np.ndarray  # (S,) relative duality gap (primal − dual)/primal
    n_support: np.ndarray  # (S,) number of active constraints (support vectors)
    iterations: np.ndarray  # (S,) solver iterations


def max_margin(X, y, solver: str = "ipm") -> MaxMarginResult:
    """Max-margin directions for a batch of separable data sets X (S, P, N) with labels y (S, P)."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    if X.ndim == 2:
        X, y = X[None], y[None]
    G = y[..., None] * X
    if solver == "ipm":
        w, lam, iterations = _interior_point(G)
        w, lam = _polish_active_set(G, w, lam)
    elif solver == "clarabel":
        w, lam, iterations = _clarabel_batch(G)
    else:
        raise PrunebenchError(f"unknown max-margin solver {solver!r}; use one of {', '.join(SOLVERS)}")
    return _certify(G, w, lam, iterations)


def _certify(G, w, lam, iterations) -> MaxMarginResult:
    """Rescale w onto {Gw ≥ 1}, bound the optimum from below with the dual, and check the gap."""
    margins = _apply(G, w)
    w_feasible = w / margins.min(-1, keepdims=True)
    primal = 0.5 * np.sum(w_feasible**2, -1)
    lam = np.maximum(lam, 0.0)
    dual = lam.sum(-1) - 0.5 * np.sum(_apply_t(G, lam) ** 2, -1)
    rel_gap = (primal - dual) / primal
    if np.any(~np.isfinite(rel_gap)) or np.any(rel_gap > GAP_TOL):
        raise RuntimeError(f"max-margin QP not solved to optimality: relative duality gap {np.max(rel_gap):.2e}")
    norm = np.linalg.norm(w_feasible, axis=-1)
    n_support = np.sum(_apply(G, w_feasible) < 1 + 1e-6, -1)
    return MaxMarginResult(w_feasible / norm[:, None], 1.0 / norm, 1.0 / np.sqrt(2.0 * np.maximum(dual, 1e-300)),
                           rel_gap, n_support, np.asarray(iterations))


def _interior_point(G, max_iter: int = 100, tol: float = 1e-11, residual_tol: float = 1e-7):
    """Mehrotra predictor–corrector for min ½‖w‖² s.t. Gw − s = 1, s ≥ 0 (multipliers λ), batched.

    Newton system reduced to (I + Gᵀ D G) Δw = rhs with D = λ/s, solved by batched Cholesky.
    """
    n_sets, n_points, n_dim = G.shape
    w = np.zeros((n_sets, n_dim))
    s, lam = np.ones((n_sets, n_points)), np.ones((n_sets, n_points))
    iterations = np.full(n_sets, max_iter)
    active = np.ones(n_sets, bool)
    for it in range(max_iter):
        Gw = _apply(G, w)
        r_dual = w - _apply_t(G, lam)
        r_primal = Gw - s - 1.0
        mu = np.sum(s * lam, -1) / n_points
        scale = 1.0 + np.sum(w * w, -1)
        residual = np.maximum(np.abs(r_primal).max(-1), np.abs(r_dual).max(-1) / np.sqrt(scale))
        done = (mu * n_points <= tol * scale) & (residual <= residual_tol)
        iterations[active & done] = it
        active &= ~done
        if not active.any():
            break
        normal_matrix = np.eye(n_dim) + np.swapaxes(G * (lam / s)[..., None], -1, -2) @ G
        try:
            chol = np.linalg.cholesky(normal_matrix)
        except np.linalg.LinAlgError:  # only at round-off level; the duality certificate decides
            break
        newton = lambda rc: _newton_direction(G, chol, s, lam, r_dual, r_primal, rc)  # noqa: E731
        dw, ds, dlam = newton(-s * lam)
        sigma = (_complementarity(s, lam, ds, dlam) / (mu * n_points)) ** 3
        dw, ds, dlam = newton(-s * lam - ds * dlam + (sigma * mu)[:, None])
        step = STEP_TO_BOUNDARY * np.minimum(_max_step(s, ds), _max_step(lam, dlam))
        step = np.where(active, step, 0.0)[:, None]
        w, s, lam = w + step * dw, s + step * ds, lam + step * dlam
    return w, lam, iterations


def _polish_active_set(G, w, lam, slack_tols=(1e-8, 1e-6, 1e-4)):
    """Exact KKT point on the IPM's active set: w = G_Aᵀλ_A with G_A w = 1 (least squares).

    Active sets are tried from tight to loose; the first feasible one (λ_A ≥ 0, all margins ≥ 1
    up to round-off) is kept, and :func:`_certify` then shows a gap at round-off level.
    """
    w, lam = w.copy(), lam.copy()
    margins = _apply(G, w)
    for k in range(G.shape[0]):
        for slack_tol in slack_tols:
            active = np.flatnonzero(margins[k] <= (1 + slack_tol) * margins[k].min())
            lam_active = np.linalg.lstsq(G[k, active] @ G[k, active].T, np.ones(active.size), rcond=None)[0]
            w_polished = G[k, active].T @ lam_active
            if lam_active.min() >= 0 and (G[k] @ w_polished).min() >= 1 - 1e-10:
                w[k], lam[k] = w_polished, 0.0
                lam[k, active] = lam_active
                break
    return w, lam


def _newton_direction(G, chol, s, lam, r_dual, r_primal, rc):
    """(Δw, Δs, Δλ) solving Δw − GᵀΔλ = −r_d, GΔw − Δs = −r_p, λΔs + sΔλ = rc."""
    D = lam / s
    rhs = -r_dual + _apply_t(G, -D * r_primal + rc / s)
    dw = _cholesky_solve(chol, rhs)
    dlam = D * (-r_primal - _apply(G, dw)) + rc / s
    return dw, (rc - s * dlam) / lam, dlam


def _apply(G, w):
    """G w for a batch: (S, P, N), (S, N) -> (S, P)."""
    return (G @ w[..., None])[..., 0]


def _apply_t(G, lam):
    """Gᵀ λ for a batch: (S, P, N), (S, P) -> (S, N)."""
    return (lam[:, None, :] @ G)[:, 0, :]


def _cholesky_solve(chol, rhs):
    half = np.linalg.solve(chol, rhs[..., None])
    return np.linalg.solve(np.swapaxes(chol, -1, -2), half)[..., 0]


def _max_step(value, delta):
    """Largest step in (0, 1] keeping value + step·delta ≥ 0 (per row)."""
    with np.errstate(divide="ignore"):
        ratios = np.where(delta < 0, -value / delta, np.inf)
    return np.minimum(1.0, ratios.min(-1))


def _complementarity(s, lam, ds, dlam):
    step = np.minimum(_max_step(s, ds), _max_step(lam, dlam))[:, None]
    return np.sum((s + step * ds) * (lam + step * dlam), -1)


def _clarabel_batch(G):
    """Solve each problem with Clarabel: min ½‖w‖², −Gw + s = −1, s ∈ R₊^P."""
    import clarabel
    from scipy import sparse

    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-12
    ws, lams, iterations = [], [], []
    for g in G:
        n_points, n_dim = g.shape
        problem = clarabel.DefaultSolver(sparse.identity(n_dim, format="csc"), np.zeros(n_dim),
                                         sparse.csc_matrix(-g), -np.ones(n_points),
                                         [clarabel.NonnegativeConeT(n_points)], settings)
        solution = problem.solve()
        ws.append(np.asarray(solution.x))
        lams.append(np.asarray(solution.z))
        iterations.append(solution.iterations)
    return np.array(ws), np.array(lams), np.array(iterations)
