"""Confidence intervals of scaling-law parameters: t intervals with n − p degrees of freedom.

For a fit with n observations and p curve parameters, standard error se(θ_j) from the Jacobian
covariance (``prunebench.scaling.laws``), the interval at confidence 1 − α is

    θ̂_j ± t_{1−α/2, n−p} · se(θ_j)

(Seber & Wild 1989, *Nonlinear Regression*, §5.1). It is exact for the power-law exponent ν
(log ε = log a − ν log P) and for the exponential rate k = 1/λ (log ε = log a − k P) under
log-normal noise, and first-order correct for the binomial quasi-likelihood fits; coverage is
measured on synthetic curves in ``tests/test_fit_coverage.py``. The λ interval is the k interval
mapped through λ = 1/k (upper end unbounded when the k interval reaches 0).

These replace the earlier percentile bootstrap over seeds, whose intervals covered the truth in
only 72–86% of repeats at nominal 95% (variance shrunk by (n−1)/n, uncentred residuals, percentiles
of 6 residuals).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from prunebench.scaling.laws import Fit

METHOD = "t interval, n - p degrees of freedom, Jacobian covariance with estimated dispersion"
INTERVAL_PARAMS = {"power_law": ("nu",), "power_law_floor": ("nu", "c"), "exponential": ("rate", "lam"),
                   "exponential_floor": ("rate", "lam", "c")}


def t_interval(estimate: float, se: float, dof: int, confidence: float = 0.95) -> dict:
    """``{estimate, low, high, se, dof}``: θ̂ ± t_{(1+confidence)/2, dof}·se (NaN ends when undefined)."""
    if dof < 1 or not np.isfinite(se) or not np.isfinite(estimate):
        return {"estimate": float(estimate), "low": float("nan"), "high": float("nan"), "se": float(se), "dof": dof}
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
    return {"estimate": float(estimate), "low": estimate - half, "high": estimate + half, "se": float(se), "dof": dof}


def fit_intervals(fit: Fit, confidence: float = 0.95) -> dict:
    """Intervals of a fit's interval parameters (ν; k and λ; c): ``{family, method, confidence, params}``."""
    params = {}
    for name in INTERVAL_PARAMS[fit.family]:
        if name == "lam":
            params[name] = _reciprocal(params["rate"], fit.params["lam"])
        else:
            params[name] = t_interval(fit.params[name], fit.se.get(name, float("nan")), fit.dof, confidence)
    return {"family": fit.family, "method": METHOD, "confidence": confidence, "likelihood": fit.likelihood,
            "params": params}


def _reciprocal(rate_interval: dict, lam: float) -> dict:
    """λ = 1/k: the k interval [k_lo, k_hi] maps to [1/k_hi, 1/k_lo] (∞ when k_lo ≤ 0)."""
    low_rate, high_rate = rate_interval["low"], rate_interval["high"]
    high = float("inf") if not low_rate > 0 else 1.0 / low_rate
    low = 1.0 / high_rate if high_rate > 0 else float("nan")
    return {"estimate": float(lam), "low": low, "high": high}
