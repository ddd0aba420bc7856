"""Replica theory of the max-margin perceptron trained on pruned data (Sorscher et al. 2022, SI A).

Setup (SI A.1): inputs x ~ N(0, I_N), labels sign(T·x), and each example scored by its margin
z = J_probe·x along a probe at angle θ to the teacher T. Keep-hard keeps the fraction f with the
smallest |z|, keep-easy the largest, so α_prune = f·α_tot examples per dimension remain. The
student J is the max-margin (hard-margin SVM, no bias) solution on them and ε = arccos(R)/π.

Coordinates. With J_probe = cosθ·T + sinθ·v (v ⊥ T), write J = R·T + y·v + σ·w (w ⊥ T, v), so
σ² = 1 − R² − y², ρ = J·J_probe = R cosθ + y sinθ and Λ² = sin²θ·σ² (SI eq. 4). Given z the
teacher field is u = T·x = z cosθ + η sinθ and the student field t = J·x = ρz + bη + σξ, with
b = R sinθ − y cosθ and η, ξ ~ N(0, 1) independent; the teacher-label factor H(Γ/(√(1−ρ²)Λ)) of
SI eqs. (2)–(3) (Γ of eq. 5) is the η-integral over u > 0, and the Gaussian G(t, z) the ξ-average.

Free energy (Gardner volume at q → 1):

    F(R, y, κ) = Λ²/sin²θ − 2α E[(κ − t)₊² 1(u > 0)]                          SI eq. (2)

F = 0 is SI eq. (2); the max-margin solution maximises κ on that surface, and its stationarity
conditions ∂F/∂R = ∂F/∂y = 0 are SI eqs. (1) and (3) (with the reference's three corrections:
t-integrals up to κ, Gaussian G(t, z), and (z − ρt)). The ξ-average is closed form, η and z are
integrated by Gauss–Legendre quadrature, split at the kink t = κ so that σ → 0 stays accurate.

θ = 0 reduces to two unknowns (reference §1.3): F₀(R, κ) = 1 − R² − α E[(κ − h)₊²] with
h = R|z| + √(1 − R²)ξ, eq. (i); its R-stationarity is eq. (ii). For each R we solve F₀ = 0 for κ
(Newton, monotone because F₀ is concave in κ) and maximise κ(R), R = cos(πε), over ε.
With f = 1 nothing is pruned, so keep and θ do not matter and the θ = 0 reduction is used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, special

from prunebench.errors import PrunebenchError

KEEP_RULES = ("easy", "hard")
Z_SPAN = 10.0  # margin quadrature runs this far past the cut (φ(10) ≈ 8e-23)
ETA_SPAN = 9.0  # η quadrature on [−9, 9] (tail mass 2e-19)
EPS_MIN, EPS_MAX = 1e-9, 0.5  # range of ε = arccos(R)/π searched
N_EPS_GRID = 64  # log-ε grid for locating the maximum of κ(ε)
KINK_WIDTH = 8.0  # half-width, in units of the smoothing scale, of the quadrature piece around a kink
N_Z = 96  # Gauss–Legendre nodes per margin piece (θ = 0: four pieces around the kink)
N_ETA = 24  # nodes per η piece (four pieces around the kink)
N_Z_COARSE, N_ETA_COARSE = 40, 6  # cold-start grid search for θ > 0
NEWTON_TOL = 1e-13
SQRT_2PI = math.sqrt(2.0 * math.pi)


class TheoryInputError(PrunebenchError, ValueError):
    """An impossible (α_tot, f, keep, θ) for the perceptron theory or simulation."""


@dataclass(frozen=True)
class TheoryPoint:
    """Solution of the saddle-point equations at one (α_tot, f, keep, θ)."""

    alpha_tot: float
    f: float
    keep: str
    theta: float
    alpha_prune: float
    eps: float
    kappa: float
    R: float
    rho: float
    method: str

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- validation


def validate_point(alpha_tot, f, keep, theta) -> tuple[float, float, str, float]:
    """Check and normalise one input point; raise :class:`TheoryInputError` naming the fix."""
    alpha_tot, f, theta = _finite("alpha_tot", alpha_tot), _finite("f", f), _finite("theta", theta)
    if alpha_tot <= 0:
        raise TheoryInputError(f"alpha_tot must be > 0 (examples per dimension), got {alpha_tot}")
    if not 0 < f <= 1:
        raise TheoryInputError(f"f (fraction kept) must be in (0, 1], got {f}")
    if keep not in KEEP_RULES:
        raise TheoryInputError(f"keep must be 'easy' or 'hard', got {keep!r}")
    if not 0 <= theta <= math.pi / 2 + 1e-12:
        raise TheoryInputError(f"theta (probe angle, radians) must be in [0, pi/2], got {theta}")
    return alpha_tot, f, keep, min(theta, math.pi / 2)


def _finite(name: str, value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TheoryInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise TheoryInputError(f"{name} must be finite, got {value!r}")
    return number


# --------------------------------------------------------------------------- quadrature helpers


@lru_cache(maxsize=None)
def _legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(n)


def _nodes(lo, hi, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes/weights on [lo, hi] (arrays broadcast; nodes on a new last axis)."""
    x, w = _legendre(n)
    lo, hi = np.asarray(lo, float)[..., None], np.asarray(hi, float)[..., None]
    half = (hi - lo) / 2.0
    return lo + half * (x + 1.0), half * w


def _kink_nodes(lo, hi, kink, width, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes on [lo, hi] cut at kink − width, kink, kink + width (clipped into [lo, hi]).

    The integrands have a kink smoothed over ``width`` (the ramp (κ − t)₊ averaged over ξ);
    a piece of its own keeps the quadrature exact to many digits even when the width → 0.
    """
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    kink, width = np.asarray(kink, float), np.asarray(width, float)
    edges = [lo, *(np.clip(kink + k * width, lo, hi) for k in (-1, 0, 1)), hi]
    pieces = [_nodes(a, b, n) for a, b in zip(edges[:-1], edges[1:])]
    return np.concatenate([x for x, _ in pieces], -1), np.concatenate([w for _, w in pieces], -1)


def _normal_pdf(a):
    with np.errstate(over="ignore"):
        return np.exp(-0.5 * np.square(a)) / SQRT_2PI


def _ramp_moments(d, sigma):
    """ξ-averages for ξ ~ N(0, 1): E[(d − σξ)₊²], E[(d − σξ)₊], P(σξ < d) (closed forms, ref §1.3).

    Written as (d² + σ²)Φ(a) + dσφ(a), dΦ(a) + σφ(a), Φ(a) with a = d/σ, which stays finite as σ → 0.
    """
    with np.errstate(divide="ignore", over="ignore"):
        a = d / np.maximum(sigma, 1e-300)
    cdf, sigma_pdf = special.ndtr(a), sigma * _normal_pdf(a)
    return (d * d + sigma * sigma) * cdf + d * sigma_pdf, d * cdf + sigma_pdf, cdf


def margin_cut(f: float, keep: str) -> float:
    """γ of the pruned margin law (SI A.1): keep-hard f = 1 − 2H(γ), keep-easy f = 2H(γ)."""
    if f >= 1:
        return math.inf if keep == "hard" else 0.0
    return float(-special.ndtri((1 - f) / 2)) if keep == "hard" else float(-special.ndtri(f / 2))


def abs_margin_support(f: float, keep: str) -> tuple[float, float]:
    """Interval of |z| kept: [0, γ] (keep-hard) or [γ, γ + Z_SPAN] (keep-easy, f = 1: [0, Z_SPAN])."""
    if f >= 1:
        return 0.0, Z_SPAN
    gamma = margin_cut(f, keep)
    return (0.0, gamma) if keep == "hard" else (gamma, gamma + Z_SPAN)


def _density_weights(z, w):
    """Weights of the truncated-Gaussian margin law p(z) ∝ φ(z) (SI A.1), normalised to 1."""
    weights = w * _normal_pdf(z)
    return weights / weights.sum(-1, keepdims=True)


# --------------------------------------------------------------------------- θ = 0 reduction


def _theta0_terms(R, kappa, alpha, support):
    """F₀ = 1 − R² − αE[(κ−h)₊²] (eq. i) and ∂F₀/∂κ, ∂F₀/∂R at fixed κ (∂F₀/∂R = 0 is eq. ii).

    The |z| quadrature is split at the kink |z| = κ/R (sharp when ε → 0).
    """
    s = np.sqrt(1.0 - R * R)
    with np.errstate(divide="ignore", invalid="ignore"):
        kink, width = np.where(R > 0, kappa / R, support[1]), np.where(R > 0, KINK_WIDTH * s / R, 0.0)
    z, w = _kink_nodes(support[0], support[1], kink, width, N_Z)
    w = _density_weights(z, w)
    e2, e1, p = _ramp_moments(kappa[..., None] - R[..., None] * z, s[..., None])
    mean = lambda x: np.sum(w * x, -1)  # noqa: E731
    F = s * s - alpha * mean(e2)
    F_kappa = -2.0 * alpha * mean(e1)
    F_R = -2.0 * R + 2.0 * alpha * (mean(z * e1) + R * mean(p))
    return F, F_kappa, F_R


def _theta0_start(R, alpha, support):
    """A κ with F₀ < 0 (Jensen: E[(κ−h)₊²] ≥ (κ − R E|z|)²), from which Newton descends monotonically."""
    z, w = _nodes(*support, 2 * N_Z)
    mean_abs_z = np.sum(_density_weights(z, w) * z)
    return R * mean_abs_z + 1.1 * np.sqrt(1.0 - R * R) / math.sqrt(alpha) + 1e-12


def _newton_kappa(terms, kappa, tol: float = NEWTON_TOL, max_iter: int = 100):
    """Solve F(κ) = 0 for κ by Newton from the right (F concave decreasing ⇒ monotone convergence).

    ``terms(index, κ)`` returns (F, ∂F/∂κ, ...) for the batch entries ``index``; converged entries
    are dropped from later iterations.
    """
    kappa = np.array(kappa, float)
    active = np.arange(kappa.size)
    for _ in range(max_iter):
        F, F_kappa, *_ = terms(active, kappa[active])
        step = F / F_kappa
        kappa[active] -= step
        active = active[np.abs(step) > tol * (1.0 + np.abs(kappa[active]))]
        if active.size == 0:
            break
    return kappa


def _theta0_kappa(R, alpha, support):
    """κ(R): the largest margin compatible with overlap R, F₀(R, κ) = 0 (eq. i), vectorised over R."""
    R = np.asarray(R, float)
    return _newton_kappa(lambda i, k: _theta0_terms(R[i], k, alpha, support), _theta0_start(R, alpha, support))


def _theta0_slope(eps, alpha, support) -> float:
    """∂F₀/∂R at κ = κ(R), R = cos(πε): zero at the max-margin solution (eq. ii); < 0 below it in ε."""
    R = np.array([math.cos(math.pi * eps)])
    kappa = _theta0_kappa(R, alpha, support)
    return float(_theta0_terms(R, kappa, alpha, support)[2][0])


def _solve_theta0(alpha: float, f: float, keep: str) -> tuple[float, float]:
    """Max-margin (ε, κ) at θ = 0: maximise κ(R) on a log-ε grid, then root of eq. (ii) by brentq."""
    support = abs_margin_support(f, keep)
    eps_grid = np.geomspace(EPS_MIN, EPS_MAX, N_EPS_GRID)
    kappas = _theta0_kappa(np.cos(np.pi * eps_grid), alpha, support)
    best = int(np.argmax(kappas))
    lo, hi = eps_grid[max(best - 1, 0)], eps_grid[min(best + 1, N_EPS_GRID - 1)]
    slope = lambda e: _theta0_slope(e, alpha, support)  # noqa: E731
    if slope(lo) < 0 < slope(hi):
        eps = optimize.brentq(slope, lo, hi, xtol=1e-15, rtol=1e-13)
    else:  # maximum at the edge of the ε range: maximise directly
        eps = _maximise_1d(lambda e: _theta0_kappa(np.array([math.cos(math.pi * e)]), alpha, support)[0], lo, hi)
    kappa = float(_theta0_kappa(np.array([math.cos(math.pi * eps)]), alpha, support)[0])
    return float(eps), kappa


def _maximise_1d(func, lo: float, hi: float) -> float:
    result = optimize.minimize_scalar(lambda x: -func(math.exp(x)), bounds=(math.log(lo), math.log(hi)),
                                      method="bounded", options={"xatol": 1e-12})
    return math.exp(result.x)


# --------------------------------------------------------------------------- θ > 0: three unknowns


class FieldQuadrature:
    """Quadrature over the probe margin z ~ p(z) and the teacher-field noise η for u = T·x > 0.

    Holds the z nodes (both signs) and the η range [max(−z cotθ, −ETA_SPAN), ETA_SPAN] per z.
    """

    def __init__(self, f: float, keep: str, theta: float, n_z: int | None = None, n_eta: int | None = None):
        n_z, n_eta = n_z or N_Z, n_eta or N_ETA
        self.cos, self.sin = math.cos(theta), math.sin(theta)
        lo, hi = abs_margin_support(f, keep)
        z_pos, w_pos = _nodes(lo, hi, n_z)
        z = np.concatenate([-z_pos[::-1], z_pos])
        self.z, self.w_z = z, _density_weights(z, np.concatenate([w_pos[::-1], w_pos]))
        with np.errstate(divide="ignore"):
            eta_lo = np.maximum(-self.cos * z / self.sin, -ETA_SPAN)
        self.eta_lo = np.minimum(eta_lo, ETA_SPAN)
        self.n_eta = n_eta

    def moments(self, R, y, kappa) -> dict[str, np.ndarray]:
        """Averages over z, η (u > 0) and ξ of the ramp (κ − t)₊ moments; batched over R, y, κ.

        e2 = E[(κ−t)₊² 1(u>0)], e1 = E[(κ−t)₊ 1(u>0)], u_e1 = E[u (κ−t)₊ 1(u>0)],
        v_e1 = E[(v·x)(κ−t)₊ 1(u>0)], p = P(t < κ, u > 0), mass = P(u > 0), t = E[t 1(u>0)].
        """
        R, y, kappa = (np.asarray(v, float)[..., None] for v in (R, y, kappa))
        rho, b = R * self.cos + y * self.sin, R * self.sin - y * self.cos
        sigma2 = np.maximum(1.0 - R * R - y * y, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            kink = np.where(b != 0, (kappa - rho * self.z) / b, ETA_SPAN)
            width = np.where(b != 0, KINK_WIDTH * np.sqrt(sigma2) / np.abs(b), 0.0)
        eta, w_eta = _kink_nodes(self.eta_lo, ETA_SPAN, kink, width, self.n_eta)
        weights = (self.w_z[:, None] * w_eta) * _normal_pdf(eta)
        z = self.z[:, None]
        mean_t = rho[..., None] * z + b[..., None] * eta
        e2, e1, p = _ramp_moments(kappa[..., None] - mean_t, np.sqrt(sigma2)[..., None])
        total = lambda x: np.sum(x, axis=(-2, -1))  # noqa: E731
        w_e1 = weights * e1
        return {"e2": total(weights * e2), "e1": total(w_e1), "p": total(weights * p),
                "u_e1": total(w_e1 * (self.cos * z + self.sin * eta)),  # u = T·x
                "v_e1": total(w_e1 * (self.sin * z - self.cos * eta)),  # v·x
                "mass": total(weights), "t": total(weights * mean_t), "sigma2": sigma2[..., 0]}


def free_energy_terms(quad: FieldQuadrature, alpha: float, R, y, kappa) -> tuple:
    """F (SI eq. 2) and its partial derivatives ∂F/∂κ, ∂F/∂R, ∂F/∂y; the last two vanish at the
    max-margin point (SI eqs. 1 and 3 in the (R, y) coordinates)."""
    R, y = np.asarray(R, float), np.asarray(y, float)
    m = quad.moments(R, y, kappa)
    F = m["sigma2"] - 2.0 * alpha * m["e2"]
    F_kappa = -4.0 * alpha * m["e1"]
    F_R = -2.0 * R + 4.0 * alpha * (m["u_e1"] + R * m["p"])
    F_y = -2.0 * y + 4.0 * alpha * (m["v_e1"] + y * m["p"])
    return F, F_kappa, F_R, F_y


def _student(log_eps, psi):
    """(R, y) of J = cos(πε)·T + sin(πε)(sinψ·v + cosψ·w): the Gram constraint holds by construction."""
    eps = np.exp(log_eps)
    return np.cos(np.pi * eps), np.sin(np.pi * eps) * np.sin(psi)


def _kappa_given(quad: FieldQuadrature, alpha: float, R, y, tol: float = NEWTON_TOL, max_iter: int = 100,
                 start=None):
    """κ(R, y) solving F = 0 by Newton, batched; by default from a start where F < 0 (Cauchy–Schwarz)."""
    R, y = np.atleast_1d(np.asarray(R, float)), np.atleast_1d(np.asarray(y, float))
    if start is None:
        m = quad.moments(R, y, np.zeros_like(R))
        start = (m["t"] + 1.1 * np.sqrt(m["mass"] * m["sigma2"] / (2 * alpha))) / m["mass"] + 1e-9
    start = np.broadcast_to(start, R.shape)
    return _newton_kappa(lambda i, k: free_energy_terms(quad, alpha, R[i], y[i], k), start, tol, max_iter)


def _grid_start(f: float, keep: str, theta: float, alpha: float) -> np.ndarray:
    """Best (log ε, ψ, κ) on a coarse grid with coarse quadrature: a global cold start."""
    quad = FieldQuadrature(f, keep, theta, N_Z_COARSE, N_ETA_COARSE)
    log_eps, psi = np.meshgrid(np.linspace(math.log(1e-5), math.log(0.49), 14), np.linspace(-1.4, 1.4, 11))
    R, y = _student(log_eps.ravel(), psi.ravel())
    kappas = _kappa_given(quad, alpha, R, y, tol=1e-6, max_iter=30)
    best = int(np.argmax(kappas))
    return np.array([log_eps.ravel()[best], psi.ravel()[best], kappas[best]])


def _stationarity(quad: FieldQuadrature, alpha: float):
    """Residuals (F, ∂F/∂R, ∂F/∂y) of SI eqs. (1)–(3) as a function of (log ε, ψ, κ)."""

    def residuals(x):
        R, y = _student(x[0], x[1])
        F, _, F_R, F_y = free_energy_terms(quad, alpha, R, y, x[2])
        return np.array([F, F_R, F_y], float)

    return residuals


def _polish(quad: FieldQuadrature, alpha: float, guess: np.ndarray) -> np.ndarray | None:
    """Root of the stationarity system from ``guess``; None unless it is a clean interior solution."""
    residuals = _stationarity(quad, alpha)
    with np.errstate(all="ignore"):
        sol = optimize.root(residuals, guess, method="hybr", options={"xtol": 1e-13})
    log_eps, psi, kappa = sol.x
    ok = (np.all(np.isfinite(sol.x)) and np.max(np.abs(residuals(sol.x))) < 1e-9
          and math.log(EPS_MIN) <= log_eps <= math.log(EPS_MAX) and abs(psi) < math.pi / 2)
    return sol.x if ok else None


def _is_local_max(quad: FieldQuadrature, alpha: float, x: np.ndarray, step: float = 1e-3) -> bool:
    """κ at x is not beaten by κ at the four neighbours (log ε ± step, ψ ± step)."""
    offsets = np.array([[step, 0], [-step, 0], [0, step], [0, -step]])
    R, y = _student(x[0] + offsets[:, 0], x[1] + offsets[:, 1])
    return bool(np.all(_kappa_given(quad, alpha, R, y, start=x[2]) <= x[2] + 1e-10))


def _maximise_kappa(quad: FieldQuadrature, alpha: float, guess: np.ndarray) -> np.ndarray:
    """Direct maximisation of κ(log ε, ψ) (gradient −(F_R, F_y)·∂(R, y)/F_κ): the robust fallback."""

    def negative_kappa(p):
        R, y = _student(p[0], p[1])
        kappa = _kappa_given(quad, alpha, R, y)
        _, F_kappa, F_R, F_y = free_energy_terms(quad, alpha, R, y, kappa)
        eps = math.exp(p[0])
        dR = np.array([-np.pi * eps * math.sin(np.pi * eps), 0.0])
        dy = np.array([np.pi * eps * math.cos(np.pi * eps) * math.sin(p[1]), math.sin(np.pi * eps) * math.cos(p[1])])
        return -float(kappa[0]), (F_R * dR + F_y * dy) / F_kappa

    bounds = [(math.log(EPS_MIN), math.log(EPS_MAX)), (-1.55, 1.55)]
    res = optimize.minimize(negative_kappa, guess[:2], jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 500})
    return np.array([res.x[0], res.x[1], -res.fun])


def solve_general(alpha: float, f: float, keep: str, theta: float, guess=None) -> tuple[np.ndarray, str]:
    """Max-margin (log ε, ψ, κ) for θ > 0 from SI eqs. (1)–(3).

    Tries the root of the stationarity system from ``guess`` (continuation), then from a coarse
    global grid; falls back to maximising κ directly (and polishes its result).
    """
    quad = FieldQuadrature(f, keep, theta)
    if guess is not None:
        x = _polish(quad, alpha, np.asarray(guess, float))
        if x is not None and _is_local_max(quad, alpha, x):
            return x, "root(continuation)"
    start = _grid_start(f, keep, theta, alpha)
    x = _polish(quad, alpha, start)
    if x is not None and _is_local_max(quad, alpha, x):
        return x, "root(grid)"
    best = _maximise_kappa(quad, alpha, start)
    x = _polish(quad, alpha, best)
    if x is not None and x[2] >= best[2] - 1e-9:
        return x, "maximise+root"
    return best, "maximise"


# --------------------------------------------------------------------------- public API


def solve_point(alpha_tot, f, keep="hard", theta=0.0, guess=None) -> TheoryPoint:
    """Test error ε = arccos(R)/π and (κ, R, ρ) of the max-margin student (SI A.2).

    ``guess`` is an optional (log ε, ψ, κ) for θ > 0 (continuation along a curve); see
    :func:`solve_curve`.
    """
    alpha_tot, f, keep, theta = validate_point(alpha_tot, f, keep, theta)
    alpha = f * alpha_tot
    if f >= 1 or theta == 0:
        eps, kappa = _solve_theta0(alpha, f, keep)
        R = math.cos(math.pi * eps)
        rho, method = R * math.cos(theta), "theta0"
    else:
        x, method = solve_general(alpha, f, keep, theta, guess)
        (R,), (y,) = _student(np.array([x[0]]), np.array([x[1]]))
        eps, kappa = math.exp(x[0]), float(x[2])
        rho = R * math.cos(theta) + y * math.sin(theta)
    return TheoryPoint(alpha_tot, f, keep, theta, alpha, float(eps), float(kappa), float(R), float(rho), method)


def general_state(point: TheoryPoint) -> np.ndarray:
    """(log ε, ψ, κ) of a θ > 0 solution, to seed the next point of a continuation."""
    sin_pe = math.sin(math.pi * point.eps)
    y = (point.rho - point.R * math.cos(point.theta)) / math.sin(point.theta)
    return np.array([math.log(point.eps), math.asin(np.clip(y / sin_pe, -1, 1)), point.kappa])


def solve_curve(alpha_tots, f, keep="hard", theta=0.0) -> list[TheoryPoint]:
    """Solutions along increasing α_tot, each θ > 0 point seeded by its neighbour (continuation)."""
    points, guess = [], None
    for alpha_tot in np.sort(np.asarray(alpha_tots, float)):
        point = solve_point(alpha_tot, f, keep, theta, guess=guess)
        guess = general_state(point) if point.method not in ("theta0",) else None
        points.append(point)
    return points
