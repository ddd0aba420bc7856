"""Scaling-law families for test error ε versus pruned dataset size P, fitted in log space.

Families (P is rescaled internally by P0 = geometric mean of the sizes, for conditioning; the
reported parameters are in raw units):

* ``power_law``          ε = a · P^(−ν)
* ``power_law_floor``    ε = a · P^(−ν) + c        (irreducible error c ≥ 0)
* ``exponential``        ε = a · exp(−P/λ)
* ``exponential_floor``  ε = a · exp(−P/λ) + c

Every fit is ``scipy.optimize.least_squares`` from several starts inside bounds, on one of two
residuals:

* ``binomial`` (when the test-set size n_test of every point is known, the sweep's case): the test
  error is a count k = ε·n_test out of n_test, and the residuals are the binomial deviance residuals
  (McCullagh & Nelder 1989, §4.4.3)

      r_i = sign(ε_i − μ_i) · sqrt(2 n_i [ε_i ln(ε_i/μ_i) + (1 − ε_i) ln((1 − ε_i)/(1 − μ_i))]),

  so Σ r_i² is the deviance and the fit is the maximum-likelihood fit; an error of 0 (no test
  mistakes) is a finite, low-weight observation instead of log(1e-6). Training-seed noise on top of
  the binomial draw is absorbed by the quasi-likelihood dispersion φ = deviance/(n − p).
* ``lognormal`` (no n_test): residuals of log ε, errors floored at ``MIN_ERROR``.

Parameter standard errors come from the Jacobian J of the residuals at the optimum,
Cov(θ) = φ·(JᵀJ)⁻¹ with φ = RSS/(n − p) (Seber & Wild 1989, §2.1); ``prunebench.scaling.intervals``
turns them into t intervals with n − p degrees of freedom. For the power law (log ε linear in ν)
and the exponential written with its rate k = 1/λ (log ε linear in k) these are the exact
regression intervals under log-normal noise. Model comparison uses the Gaussian profile
likelihood of the residuals (σ² = RSS/n):

    AIC  = n·ln(RSS/n) + 2k
    AICc = AIC + 2k(k+1)/(n−k−1)
    BIC  = n·ln(RSS/n) + k·ln n

with k = number of curve parameters + 1 (the noise variance). Lower is better. With n ≤ k + 1
observations the criteria are not computed (reported as inf): the fit is still given, but no family
is selected from so few points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import least_squares

FAMILIES = ("power_law", "power_law_floor", "exponential", "exponential_floor")
PARAM_NAMES = {
    "power_law": ("a", "nu"),
    "power_law_floor": ("a", "nu", "c"),
    "exponential": ("a", "lam"),
    "exponential_floor": ("a", "lam", "c"),
}
FORMULAS = {
    "power_law": "eps = a * P**(-nu)",
    "power_law_floor": "eps = a * P**(-nu) + c",
    "exponential": "eps = a * exp(-P/lam)",
    "exponential_floor": "eps = a * exp(-P/lam) + c",
}
MIN_ERROR = 1e-6  # lognormal residuals only: errors are clipped here before taking logs


def error_floor(n_test) -> np.ndarray:
    """Half a test example, 0.5/n_test: the resolution of an error measured on n_test images, used
    wherever a log of an observed error is taken (starting values, the log-space tests)."""
    return 0.5 / np.asarray(n_test, float)


@dataclass
class Fit:
    """One fitted family: parameters in raw units, residual sum of squares (log space), criteria."""

    family: str
    params: dict
    n: int
    rss: float
    aic: float
    aicc: float
    bic: float
    ok: bool = True
    message: str = ""
    formula: str = field(default="")
    likelihood: str = "lognormal"
    dof: int = 0
    se: dict = field(default_factory=dict)

    def predict(self, sizes) -> np.ndarray:
        """ε(P) of this fit."""
        return predict(self.family, self.params, sizes)

    def to_dict(self) -> dict:
        return asdict(self)


def predict(family: str, params: dict, sizes) -> np.ndarray:
    """Evaluate a family at sizes ``P`` with raw-unit parameters."""
    sizes = np.asarray(sizes, dtype=float)
    floor = params.get("c", 0.0)
    if family.startswith("power_law"):
        return params["a"] * sizes ** (-params["nu"]) + floor
    if family.startswith("exponential"):
        return params["a"] * np.exp(-sizes / params["lam"]) + floor
    raise ValueError(f"unknown scaling family '{family}'; use one of {FAMILIES}")


def _log_model(family: str, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log ε of a family at rescaled sizes x = P/P0; θ holds (log a₀, ν or log λ₀[, c])."""
    if family.startswith("power_law"):
        core = np.exp(theta[0] - theta[1] * np.log(x))
    else:
        core = np.exp(theta[0] - x / np.exp(theta[1]))
    floor = theta[2] if family.endswith("_floor") else 0.0
    return np.log(core + floor + 1e-300)


def _starts(family: str, x: np.ndarray, log_err: np.ndarray) -> list[np.ndarray]:
    """Starting points: a straight-line fit in the family's linear coordinates, plus floor guesses."""
    if family.startswith("power_law"):
        slope, intercept = np.polyfit(np.log(x), log_err, 1)
        base = [intercept, float(np.clip(-slope, 0.0, 5.0))]
    else:
        slope, intercept = np.polyfit(x, log_err, 1)
        base = [intercept, float(np.log(np.clip(-1.0 / slope if slope < 0 else 10.0, 1e-2, 1e3)))]
    if not family.endswith("_floor"):
        return [np.array(base)]
    err_min = float(np.exp(log_err.min()))
    return [np.array(base + [frac * err_min]) for frac in (0.0, 0.5, 0.9)]


def _bounds(family: str, log_err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on θ: exponents in a physical range, the floor below the smallest error."""
    if family.startswith("power_law"):
        lower, upper = [-50.0, 0.0 if family.endswith("_floor") else -5.0], [50.0, 10.0]
    else:
        lower, upper = [-50.0, np.log(1e-3)], [50.0, np.log(1e4)]
    if family.endswith("_floor"):
        lower.append(0.0)
        upper.append(float(np.exp(log_err.min())) * (1 - 1e-6))
    return np.array(lower), np.array(upper)


def _to_raw(family: str, theta: np.ndarray, size_scale: float) -> dict:
    """θ at rescaled sizes → raw-unit parameters (a, ν or λ, c)."""
    if family.startswith("power_law"):
        params = {"a": float(np.exp(theta[0]) * size_scale ** theta[1]), "nu": float(theta[1])}
    else:
        params = {"a": float(np.exp(theta[0])), "lam": float(np.exp(theta[1]) * size_scale)}
        params["rate"] = 1.0 / params["lam"]
    if family.endswith("_floor"):
        params["c"] = float(theta[2])
    return params


def information_criteria(rss: float, n: int, n_params: int) -> tuple[float, float, float]:
    """(AIC, AICc, BIC) of a least-squares fit with Gaussian residuals; k counts the variance."""
    k = n_params + 1
    log_like_term = n * np.log(max(rss, 1e-300) / n)
    aic = log_like_term + 2 * k
    aicc = aic + 2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else np.inf
    bic = log_like_term + k * np.log(n)
    return float(aic), float(aicc), float(bic)


def fit_family(sizes, errors, family: str, n_test=None) -> Fit:
    """Fit one family to (P, ε) observations (replicates allowed): binomial deviance when ``n_test``
    (scalar or per point) is given, else least squares in log space; with Jacobian standard errors."""
    if family not in FAMILIES:
        raise ValueError(f"unknown scaling family '{family}'; use one of {FAMILIES}")
    sizes, errors = np.asarray(sizes, float), np.asarray(errors, float)
    n_params = len(PARAM_NAMES[family])
    n_distinct = len(np.unique(sizes))
    if n_distinct <= n_params:
        return _failed(family, len(sizes), f"needs more than {n_params} distinct sizes, got {n_distinct}")
    size_scale = float(np.exp(np.mean(np.log(sizes))))
    x = sizes / size_scale
    counts = None if n_test is None else np.broadcast_to(np.asarray(n_test, float), errors.shape)
    floor = MIN_ERROR if counts is None else error_floor(counts)
    log_err = np.log(np.clip(errors, floor, None))
    residuals = _residual_function(family, x, errors, log_err, counts)
    lower, upper = _bounds(family, log_err)
    best = None
    for start in _starts(family, x, log_err):
        start = np.clip(start, lower + 1e-9, upper - 1e-9)
        result = least_squares(residuals, start, bounds=(lower, upper), method="trf", x_scale="jac", max_nfev=2000)
        if best is None or result.cost < best.cost:
            best = result
    rss = float(2 * best.cost)
    message = str(best.message)
    if len(x) > n_params + 2:
        aic, aicc, bic = information_criteria(rss, len(x), n_params)
    else:  # n - k - 1 <= 0: the noise variance is not estimable, criteria would only reward overfitting
        aic = aicc = bic = np.inf
        message += f"; {len(x)} points: too few for information criteria (need > {n_params + 2})"
    params = _to_raw(family, best.x, size_scale)
    return Fit(family, params, len(x), rss, aic, aicc, bic, ok=bool(best.success), message=message,
               formula=FORMULAS[family], likelihood="lognormal" if counts is None else "binomial",
               dof=len(x) - n_params, se=_standard_errors(family, best, rss, len(x), params))


def _residual_function(family, x, errors, log_err, counts):
    """θ → residuals: binomial deviance residuals (counts known) or log residuals."""
    if counts is None:
        return lambda theta: _log_model(family, theta, x) - log_err
    observed = np.clip(errors, 0.0, 1.0)

    def deviance_residuals(theta):
        mean = np.clip(np.exp(_log_model(family, theta, x)), 1e-12, 1 - 1e-12)
        terms = _xlogy_ratio(observed, mean) + _xlogy_ratio(1 - observed, 1 - mean)
        return np.sign(observed - mean) * np.sqrt(np.clip(2 * counts * terms, 0.0, None))
    return deviance_residuals


def _xlogy_ratio(y, mean):
    """y·ln(y/μ) with 0·ln 0 = 0."""
    return np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mean), 0.0)


def _standard_errors(family, result, rss, n, params) -> dict:
    """Standard errors of ν (power laws), the rate k = 1/λ (exponentials) and the floor c from
    Cov(θ) = φ·(JᵀJ)⁻¹, φ = RSS/(n − p); NaN when n ≤ p or JᵀJ is singular. In θ the second
    coordinate is ν itself or log λ₀, so se(k) = k·se(log λ₀) (exact: log ε is linear in k)."""
    n_params = len(result.x)
    if n <= n_params:
        return {}
    information = result.jac.T @ result.jac
    try:
        cov = np.linalg.inv(information) * rss / (n - n_params)
    except np.linalg.LinAlgError:
        return {}
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    out = {"nu": float(se[1])} if family.startswith("power_law") else {"rate": float(params["rate"] * se[1])}
    if family.endswith("_floor"):
        out["c"] = float(se[2])
    return out


def _failed(family: str, n: int, why: str) -> Fit:
    params = {name: float("nan") for name in PARAM_NAMES[family]}
    if family.startswith("exponential"):
        params["rate"] = float("nan")
    return Fit(family, params, n, float("nan"), np.inf, np.inf, np.inf, ok=False, message=why,
               formula=FORMULAS[family])


def fit_all(sizes, errors, families=FAMILIES, n_test=None) -> dict[str, Fit]:
    """Fit every family; ``{family: Fit}``. Binomial fits get quasi-likelihood criteria with one
    dispersion shared by all families (QAIC/QBIC, Burnham & Anderson 2002, §6.2):
    φ̂ = max(1, min_f RSS_f/(n − p_f)), criteria from RSS_f/φ̂ in place of n·ln(RSS/n)."""
    fits = {family: fit_family(sizes, errors, family, n_test) for family in families}
    if n_test is not None:
        _quasi_criteria(fits)
    return fits


def _quasi_criteria(fits: dict[str, Fit]) -> None:
    usable = [fit for fit in fits.values() if np.isfinite(fit.aic) and fit.dof > 0]
    if not usable:
        return
    dispersion = max(1.0, min(fit.rss / fit.dof for fit in usable))
    for fit in usable:
        k = len(PARAM_NAMES[fit.family]) + 1  # + the dispersion, as in the Gaussian criteria
        fit.aic = fit.rss / dispersion + 2 * k
        fit.aicc = fit.aic + 2 * k * (k + 1) / (fit.n - k - 1) if fit.n - k - 1 > 0 else np.inf
        fit.bic = fit.rss / dispersion + k * np.log(fit.n)


def select_family(fits: dict[str, Fit], criterion: str = "bic", parsimony: float = 2.0) -> str | None:
    """The family with the lowest criterion (``aic``, ``aicc`` or ``bic``) among finite fits, except
    that a family with fewer parameters within ``parsimony`` units of the lowest wins (a difference
    below 2 is not evidence, Burnham & Anderson 2002), and among equally many parameters the power
    law is the default hypothesis: another family must beat it by more than ``parsimony``."""
    scored = {name: getattr(fit, criterion) for name, fit in fits.items() if np.isfinite(getattr(fit, criterion))}
    if not scored:
        return None
    lowest = min(scored.values())
    close = [name for name, value in scored.items() if value <= lowest + parsimony]
    return min(close, key=lambda name: (len(PARAM_NAMES[name]), name != "power_law", scored[name]))


def criterion_weights(fits: dict[str, Fit], criterion: str = "bic") -> dict[str, float]:
    """Akaike/Schwarz weights w_i ∝ exp(−Δ_i/2) over the families with a finite criterion."""
    values = {name: getattr(fit, criterion) for name, fit in fits.items()}
    finite = {k: v for k, v in values.items() if np.isfinite(v)}
    if not finite:
        return {k: float("nan") for k in values}
    best = min(finite.values())
    raw = {k: float(np.exp(-(v - best) / 2)) if np.isfinite(v) else 0.0 for k, v in values.items()}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}
