"""Coverage of the scaling-law intervals on synthetic curves with known parameters.

Each repeat draws test errors at 6 sizes (x 3 seeds or x 1 seed) as binomial counts on 1,000 test
images, with log-normal seed noise on top (the sweep's measurement model), fits the family and asks
whether the nominal 95% t interval covers the true ν or exponential rate k. 300 seeded repeats: the
binomial standard error of a coverage of 0.95 is 0.013, so >= 0.92 is a 2.3-se margin. The old
percentile bootstrap covered 0.72-0.86 on these designs.
"""

import numpy as np
import pandas as pd
import pytest

from prunebench.scaling.calibration import null_rates
from prunebench.scaling.intervals import fit_intervals
from prunebench.scaling.laws import fit_family, predict

REPEATS, N_TEST = 300, 1000
CURVES = {"power_law": ({"a": 3.0, "nu": 0.35}, "nu", 0.35),
          "exponential": ({"a": 0.7, "lam": 4000.0}, "rate", 1 / 4000.0)}


def coverage(family: str, seeds: int, seed_noise: float) -> float:
    params, name, truth = CURVES[family]
    sizes = np.repeat(np.geomspace(250, 8000, 6), seeds)
    rng = np.random.default_rng(12)
    covered = 0
    for _ in range(REPEATS):
        mean = predict(family, params, sizes) * np.exp(rng.normal(0.0, seed_noise, len(sizes)))
        errors = rng.binomial(N_TEST, np.clip(mean, 0, 1)) / N_TEST
        interval = fit_intervals(fit_family(sizes, errors, family, n_test=N_TEST))["params"][name]
        covered += interval["low"] <= truth <= interval["high"]
    return covered / REPEATS


@pytest.mark.parametrize("family", sorted(CURVES))
@pytest.mark.parametrize("seeds", [3, 1])
@pytest.mark.parametrize("seed_noise", [0.0, 0.05])
def test_nominal_95_intervals_cover_at_least_92_percent(family, seeds, seed_noise):
    assert coverage(family, seeds, seed_noise) >= 0.92


def test_random_frontier_false_positive_rate_at_the_ci_design():
    """At the ci grid (N in {400, 800, 1600}, f in {1, 0.8, 0.5}, 1 seed, 1,000 test images) a pure
    power law is called beyond power law at about the nominal 5%, not by construction (the old
    family label did so in 30-36% of repeats)."""
    design = pd.DataFrame([{"initial_size": n, "fraction_kept": f, "n_kept": round(f * n), "n_test": N_TEST,
                            "n_seeds": 1} for n in (400, 800, 1600) for f in (1.0, 0.8, 0.5)])
    rates = null_rates(design, a=2.9, nu=0.22, dispersion=3.0, n_null=300, seed=5)
    assert all(rate is not None and rate <= 0.1 for rate in rates.values()), rates
