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
With J = cos(πε)·T + sin(πε)(sinψ·v + cosψ·w) we maximise κ(log ε, ψ) by a Newton ascent whose
gradient −(F_R ∇R + F_y ∇y)/F_κ vanishes exactly where SI eqs. (1) and (3) hold; it starts from
a coarse search or, along a curve, from the extrapolated previous solution (continuation).

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
ETA_CUTS = (-3.0, 0.0, 3.0)  # fixed η pieces, so that φ(η) is resolved wherever the kink lies
EPS_MIN, EPS_MAX = 1e-9, 0.5  # range of ε = arccos(R)/π searched
N_EPS_GRID = 64  # log-ε grid for locating the maximum of κ(ε)
KINK_WIDTH = 8.0  # half-width, in units of the smoothing scale, of the quadrature piece around a kink
N_Z = 64  # Gauss–Legendre nodes per margin piece, θ = 0 (four pieces around the kink)
N_Z_FIELD = 24  # per margin piece and sign, θ > 0 (four pieces around the kink)
N_ETA = 12  # nodes per η piece (seven pieces: around the kink and at ETA_CUTS)
N_Z_COARSE, N_ETA_COARSE = 10, 6  # cold-start grid search for θ > 0
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


def _kink_nodes(lo, hi, kink, width, n: int, extra_cuts=()) -> tuple[np.ndarray, np.ndarray]:
    """Nodes on [lo, hi] cut at kink − width, kink, kink + width and ``extra_cuts`` (clipped, sorted).

    The integrands have a kink smoothed over ``width`` (the ramp (κ − t)₊ averaged over ξ);
    a piece of its own keeps the quadrature exact to many digits even when the width → 0.
    """
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    kink, width = np.asarray(kink, float), np.asarray(width, float)
    cuts = np.broadcast_arrays(kink - width, kink, kink + width, *extra_cuts, lo)[:-1]
    cuts = np.sort(np.clip(np.stack(cuts, -1), lo[..., None], hi[..., None]), -1)
    edges = np.concatenate([np.broadcast_to(lo, cuts.shape[:-1])[..., None], cuts,
                            np.broadcast_to(hi, cuts.shape[:-1])[..., None]], -1)
    nodes, weights = _nodes(edges[..., :-1], edges[..., 1:], n)  # (..., pieces, n)
    return nodes.reshape(*nodes.shape[:-2], -1), weights.reshape(*weights.shape[:-2], -1)


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
    """Quadrature over the probe margin z ~ p(z) and the teacher-field noise η with u = T·x > 0.

    z runs over both signs of the kept |z| interval, cut around |z| = κ/ρ where the ramp (κ − t)₊
    has its kink when t hardly depends on η (b → 0); η runs over [max(−z cotθ, −ETA_SPAN), ETA_SPAN]
    (that is u > 0), cut around its own kink η = (κ − ρz)/b.
    """

    def __init__(self, f: float, keep: str, theta: float, n_z: int | None = None, n_eta: int | None = None):
        self.cos, self.sin = math.cos(theta), math.sin(theta)
        self.support = abs_margin_support(f, keep)
        self.n_z, self.n_eta = n_z or N_Z_FIELD, n_eta or N_ETA

    def _z_nodes(self, rho, b, sigma2, kappa):
        """Signed z nodes and p(z) weights per batch row, (B, 2·4·n_z)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            kink = np.where(rho > 0, kappa / rho, self.support[1])
            width = np.where(rho > 0, KINK_WIDTH * np.sqrt(sigma2 + b * b) / rho, 0.0)
        strip = ETA_SPAN * self.sin / max(self.cos, 1e-300)  # |z| where the cut u > 0 leaves the η range
        lo, hi = self.support
        z_pos, w_pos = _kink_nodes(lo, hi, kink, width, self.n_z, (strip, lo + 1.0, lo + 3.0))
        z = np.concatenate([-z_pos[..., ::-1], z_pos], -1)
        return z, _density_weights(z, np.concatenate([w_pos[..., ::-1], w_pos], -1))

    def moments(self, R, y, kappa) -> dict[str, np.ndarray]:
        """Averages over z, η (u > 0) and ξ of the ramp (κ − t)₊ moments; batched over R, y, κ.

        e2 = E[(κ−t)₊² 1(u>0)], e1 = E[(κ−t)₊ 1(u>0)], u_e1 = E[u (κ−t)₊ 1(u>0)],
        v_e1 = E[(v·x)(κ−t)₊ 1(u>0)], p = P(t < κ, u > 0), mass = P(u > 0), t = E[t 1(u>0)].
        """
        R, y, kappa = (np.atleast_1d(np.asarray(v, float)) for v in (R, y, kappa))
        rho, b = R * self.cos + y * self.sin, R * self.sin - y * self.cos
        sigma2 = np.maximum(1.0 - R * R - y * y, 0.0)
        z, w_z = self._z_nodes(rho, b, sigma2, kappa)
        rho, b, kappa, sigma = rho[:, None, None], b[:, None, None], kappa[:, None, None], np.sqrt(sigma2)[:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            eta_lo = np.clip(-self.cos * z / self.sin, -ETA_SPAN, ETA_SPAN)
            kink = np.where(b[..., 0] != 0, (kappa[..., 0] - rho[..., 0] * z) / b[..., 0], ETA_SPAN)
            width = np.where(b[..., 0] != 0, KINK_WIDTH * sigma[..., 0] / np.abs(b[..., 0]), 0.0)
        eta, w_eta = _kink_nodes(eta_lo, ETA_SPAN, kink, width, self.n_eta, ETA_CUTS)
        weights = (w_z[..., None] * w_eta) * _normal_pdf(eta)
        z = z[..., None]
        mean_t = rho * z + b * eta
        e2, e1, p = _ramp_moments(kappa - mean_t, sigma)
        total = lambda x: np.sum(x, axis=(-2, -1))  # noqa: E731
        w_e1 = weights * e1
        return {"e2": total(weights * e2), "e1": total(w_e1), "p": total(weights * p),
                "u_e1": total(w_e1 * (self.cos * z + self.sin * eta)),  # u = T·x
                "v_e1": total(w_e1 * (self.sin * z - self.cos * eta)),  # v·x
                "mass": total(weights), "t": total(weights * mean_t), "sigma2": sigma2}


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


def _coarse_kappa(quad: FieldQuadrature, alpha: float, log_eps, psi) -> np.ndarray:
    R, y = _student(np.ravel(log_eps), np.ravel(psi))
    return _kappa_given(quad, alpha, R, y, tol=1e-6, max_iter=40)


def _grid_start(f: float, keep: str, theta: float, alpha: float, full: bool = False) -> np.ndarray:
    """A cold start (log ε, ψ, κ) from coarse quadrature: coordinate search (ε at ψ = 0, then ψ, then
    ε and ψ again), or with ``full`` the best point of a 16 × 13 grid."""
    quad = FieldQuadrature(f, keep, theta, N_Z_COARSE, N_ETA_COARSE)
    log_eps_axis, psi_axis = np.linspace(math.log(1e-7), math.log(0.49), 18), np.linspace(-1.4, 1.4, 13)
    if full:
        log_eps, psi = (a.ravel() for a in np.meshgrid(log_eps_axis, psi_axis))
        kappas = _coarse_kappa(quad, alpha, log_eps, psi)
        best = int(np.argmax(kappas))
        return np.array([log_eps[best], psi[best], kappas[best]])
    psi_best, x = 0.0, None
    for _ in range(2):
        kappas = _coarse_kappa(quad, alpha, log_eps_axis, np.full_like(log_eps_axis, psi_best))
        log_eps_best = log_eps_axis[int(np.argmax(kappas))]
        kappas_psi = _coarse_kappa(quad, alpha, np.full_like(psi_axis, log_eps_best), psi_axis)
        psi_best = psi_axis[int(np.argmax(kappas_psi))]
        x = np.array([log_eps_best, psi_best, kappas_psi.max()])
    return x


def _kappa_gradient(quad: FieldQuadrature, alpha: float, p: np.ndarray, kappa_start):
    """κ and ∇κ at a batch of p = (log ε, ψ) rows: ∇κ = −(F_R ∇R + F_y ∇y)/F_κ on F = 0.

    ∇κ = 0 is the stationarity of the max-margin solution, SI eqs. (1) and (3).
    """
    p = np.atleast_2d(p)
    R, y = _student(p[:, 0], p[:, 1])
    kappa = _kappa_given(quad, alpha, R, y, start=kappa_start)
    _, F_kappa, F_R, F_y = free_energy_terms(quad, alpha, R, y, kappa)
    eps, psi = np.exp(p[:, 0]), p[:, 1]
    angle = np.pi * eps
    dR_dlog_eps = -angle * np.sin(angle)
    dy_dlog_eps, dy_dpsi = angle * np.cos(angle) * np.sin(psi), np.sin(angle) * np.cos(psi)
    gradient = -np.stack([F_R * dR_dlog_eps + F_y * dy_dlog_eps, F_y * dy_dpsi], -1) / F_kappa[:, None]
    return kappa, gradient


def _ascend(quad: FieldQuadrature, alpha: float, start: np.ndarray, max_iter: int = 200,
            step_tol: float = 1e-8) -> np.ndarray | None:
    """Maximise κ(log ε, ψ) by Newton ascent (exact gradient, finite-difference Hessian) with
    backtracking on κ; gradient ascent where the Hessian is not negative definite.

    Returns (log ε, ψ, κ) at the maximum, or None if it leaves the domain or does not converge.
    """
    p, kappa = np.asarray(start[:2], float), float(start[2])
    h = 1e-5
    for iteration in range(max_iter):
        stencil = np.vstack([p, p + [h, 0.0], p + [0.0, h]])
        kappas, gradients = _kappa_gradient(quad, alpha, stencil, kappa)
        kappa, gradient = kappas[0], gradients[0]
        hessian = (gradients[1:] - gradient).T / h
        hessian = 0.5 * (hessian + hessian.T)
        step = _ascent_direction(gradient, hessian)
        small_step = np.all(np.abs(step) <= step_tol * (1.0 + np.abs(p)))
        noise_floor = iteration >= 10 and abs(gradient @ step) <= 1e-12 * abs(kappa)  # gain below round-off
        if small_step or noise_floor:
            return np.array([*p, kappa])
        trial = _line_search(quad, alpha, p, kappa, step)
        if trial is None:  # no ascent left at quadrature round-off: converged if the step is small
            return np.array([*p, kappa]) if np.all(np.abs(step) <= 1e-5 * (1.0 + np.abs(p))) else None
        p, kappa = trial
    return None


def _ascent_direction(gradient, hessian):
    """Newton step for the maximum, −H⁻¹g, with H's eigenvalues replaced by −max(|λ|, floor)
    (saddle-free Newton): an ascent direction with curvature scaling even where H is indefinite."""
    eigenvalues, vectors = np.linalg.eigh(hessian)
    curvature = np.maximum(np.abs(eigenvalues), 1e-3 * np.abs(eigenvalues).max() + 1e-300)
    return vectors @ ((vectors.T @ gradient) / curvature)


def _line_search(quad, alpha, p, kappa, step):
    """Backtrack along ``step`` until κ does not decrease (round-off tolerance); None if impossible."""
    for t in 0.5 ** np.arange(30):
        trial = p + t * step
        if not _in_domain(trial):
            continue
        (kappa_trial,), _ = _kappa_gradient(quad, alpha, trial, kappa)
        if kappa_trial >= kappa - 1e-12 * abs(kappa) - 1e-16:
            return trial, kappa_trial
    return None


def _in_domain(p) -> bool:
    """ε in range; ψ is free: ψ and π − ψ are the same student (σ → −σ), so a maximum with σ = 0
    (J in the teacher–probe plane, Λ = 0) is an interior point at ψ = ±π/2."""
    return bool(np.all(np.isfinite(p)) and math.log(EPS_MIN) <= p[0] <= math.log(EPS_MAX))


def solve_general(alpha: float, f: float, keep: str, theta: float, guess=None) -> tuple[np.ndarray, str]:
    """Max-margin (log ε, ψ, κ) for θ > 0: the maximum of κ on F = 0, i.e. SI eqs. (1)–(3).

    Ascends from ``guess`` (continuation along a curve), else from a coarse coordinate search,
    else from the best point of a full coarse grid.
    """
    quad = FieldQuadrature(f, keep, theta)
    starts = [("continuation", lambda: np.asarray(guess, float))] if guess is not None else []
    starts += [("search", lambda: _grid_start(f, keep, theta, alpha)),
               ("grid", lambda: _grid_start(f, keep, theta, alpha, full=True))]
    for name, make_start in starts:
        with np.errstate(all="ignore"):
            x = _ascend(quad, alpha, make_start())
        if x is not None:
            return x, f"ascent({name})"
    raise RuntimeError(f"theory solver did not converge at alpha={alpha}, f={f}, keep={keep}, theta={theta}")


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
    """Solutions along increasing α_tot; each θ > 0 point starts from the previous two
    (linear extrapolation in log α: continuation)."""
    points: list[TheoryPoint] = []
    for alpha_tot in np.sort(np.asarray(alpha_tots, float)):
        points.append(solve_point(alpha_tot, f, keep, theta, guess=_extrapolate(points, alpha_tot)))
    return points


def _extrapolate(points: list[TheoryPoint], alpha_tot: float):
    """Guess (log ε, ψ, κ) at ``alpha_tot`` from the last two θ > 0 solutions (or the last one)."""
    if not points or points[-1].method == "theta0":
        return None
    last = general_state(points[-1])
    if len(points) < 2:
        return last
    previous = general_state(points[-2])
    t = math.log(alpha_tot / points[-1].alpha_tot) / math.log(points[-1].alpha_tot / points[-2].alpha_tot)
    guess = last + min(t, 1.0) * (last - previous)
    guess[0] = min(guess[0], math.log(0.45))
    guess[1] = float(np.clip(guess[1], -math.pi / 2, math.pi / 2))
    return guess
