"""Standard errors of seed-mean accuracies/errors and of their differences.

With s ≥ 2 seeds the standard error of a mean is the sample standard deviation over seeds / √s.
With one seed there is no seed-to-seed spread to measure, and the binomial standard error of a
proportion measured on n_test images is used instead, √(p(1 − p)/n_test): it counts only the
test-set sampling noise, not training noise, so it is a lower bound on the true error. A difference
of two independent means has se = √(se_a² + se_b²); two models scored on the same test images are
positively correlated, which makes that se conservative for the test-set part.
A difference is *resolved* when |Δ| > z·se with z = 1.96 (two-sided 95%).
"""

from __future__ import annotations

import numpy as np

Z_RESOLVED = 1.96
SEEDS, BINOMIAL = "seeds", "binomial (one seed: test-set size n_test)"
NOT_RESOLVED = "not resolved at this scale"


def mean_se(values, n_test) -> tuple[float, float, str]:
    """(mean, standard error, method) of accuracies or errors over seeds (see the module docstring)."""
    values = np.asarray(values, float)
    if values.size == 0:
        return float("nan"), float("nan"), "none"
    mean = float(values.mean())
    if values.size >= 2:
        return mean, float(values.std(ddof=1) / np.sqrt(values.size)), SEEDS
    n = float(np.asarray(n_test, float).ravel()[0])
    return mean, float(np.sqrt(max(mean * (1 - mean), 0.0) / n)), BINOMIAL


def difference(a_values, a_n_test, b_values, b_n_test) -> dict:
    """``{value, se, se_method, resolved}`` of mean(a) − mean(b)."""
    mean_a, se_a, method_a = mean_se(a_values, a_n_test)
    mean_b, se_b, method_b = mean_se(b_values, b_n_test)
    value, se = mean_a - mean_b, float(np.hypot(se_a, se_b))
    method = method_a if method_a == method_b else f"{method_a} / {method_b}"
    return {"value": value, "se": se, "se_method": method, "resolved": bool(abs(value) > Z_RESOLVED * se)}
