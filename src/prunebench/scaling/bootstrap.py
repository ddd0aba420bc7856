"""Bootstrap confidence intervals for scaling-law parameters.

Case bootstrap over seeds: at every size P the runs (seeds) are resampled with replacement, the
family is refitted, and the percentile interval [q_{α/2}, q_{1−α/2}] of each parameter is reported.
With one run per size there is nothing to resample, so a residual bootstrap is used instead: the
log residuals r_i = log ε_i − log ε̂(P_i) are resampled and added back, ε*_i = ε̂(P_i)·exp(r*_i).
The method used is named in the output.
"""

from __future__ import annotations

import numpy as np

from prunebench.scaling.laws import MIN_ERROR, PARAM_NAMES, fit_family


def _groups(sizes: np.ndarray) -> list[np.ndarray]:
    """Positions of the runs at each distinct size."""
    return [np.flatnonzero(sizes == size) for size in np.unique(sizes)]


def _case_resample(groups, rng) -> np.ndarray:
    return np.concatenate([rng.choice(group, size=len(group), replace=True) for group in groups])


def bootstrap_fit(sizes, errors, family: str, *, n_boot: int = 200, seed: int = 0,
                  confidence: float = 0.95) -> dict:
    """Percentile CIs of a family's parameters: ``{param: {estimate, low, high}, method, n_boot}``."""
    sizes, errors = np.asarray(sizes, float), np.asarray(errors, float)
    point = fit_family(sizes, errors, family)
    out = {"family": family, "confidence": confidence, "n_boot": n_boot, "ok": point.ok}
    if not np.isfinite(point.rss):
        out.update(method="none", params={k: _interval(v, []) for k, v in point.params.items()})
        return out
    rng = np.random.default_rng(seed)
    groups = _groups(sizes)
    replicated = any(len(group) > 1 for group in groups)
    fitted = np.clip(point.predict(sizes), MIN_ERROR, None)
    residuals = np.log(np.clip(errors, MIN_ERROR, None)) - np.log(fitted)
    samples = {name: [] for name in PARAM_NAMES[family]}
    for _ in range(n_boot):
        if replicated:
            take = _case_resample(groups, rng)
            boot = fit_family(sizes[take], errors[take], family)
        else:
            boot = fit_family(sizes, fitted * np.exp(rng.choice(residuals, size=len(sizes))), family)
        for name in samples:
            samples[name].append(boot.params[name])
    tail = (1 - confidence) / 2
    out["method"] = "case-resample-seeds" if replicated else "residual"
    out["params"] = {name: _interval(point.params[name], values, tail) for name, values in samples.items()}
    return out


def _interval(estimate: float, values, tail: float = 0.025) -> dict:
    """Point estimate with the percentile interval of the bootstrap values (NaN when none)."""
    values = np.asarray([v for v in values if np.isfinite(v)], float)
    if values.size == 0:
        return {"estimate": float(estimate), "low": float("nan"), "high": float("nan")}
    low, high = np.quantile(values, [tail, 1 - tail])
    return {"estimate": float(estimate), "low": float(low), "high": float(high)}
