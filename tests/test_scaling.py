"""prunebench.scaling on synthetic curves with known parameters."""

import numpy as np
import pandas as pd
import pytest

from prunebench.scaling import (
    analyse_sweep, bootstrap_fit, crossover_size, fit_all, fit_family, pareto_frontier, predict, select_family,
)

SIZES = np.repeat(np.geomspace(300, 20000, 8), 3)  # 8 sizes x 3 seeds
TRUTH = {
    "power_law": {"a": 3.0, "nu": 0.4},
    "power_law_floor": {"a": 20.0, "nu": 0.8, "c": 0.05},
    "exponential": {"a": 0.6, "lam": 5000.0},
    "exponential_floor": {"a": 0.6, "lam": 3000.0, "c": 0.05},
}


def noisy(family, seed, sizes=SIZES, noise=0.03):
    """ε(P) of the true family times log-normal noise (relative error ``noise``)."""
    rng = np.random.default_rng(seed)
    return predict(family, TRUTH[family], sizes) * np.exp(rng.normal(0.0, noise, len(sizes)))


@pytest.mark.parametrize("family, name, tol", [
    ("power_law", "nu", 0.02), ("power_law_floor", "nu", 0.1), ("power_law_floor", "c", 0.01),
    ("exponential", "lam", 250.0), ("exponential_floor", "lam", 300.0), ("exponential_floor", "c", 0.01),
])
def test_fit_recovers_parameters(family, name, tol):
    fit = fit_family(SIZES, noisy(family, seed=1), family)
    assert fit.ok
    assert fit.params[name] == pytest.approx(TRUTH[family][name], abs=tol)


def test_noiseless_power_law_is_exact():
    fit = fit_family(SIZES, predict("power_law", TRUTH["power_law"], SIZES), "power_law")
    assert fit.params["nu"] == pytest.approx(0.4, abs=1e-6)
    assert fit.params["a"] == pytest.approx(3.0, rel=1e-5)


@pytest.mark.parametrize("family", sorted(TRUTH))
@pytest.mark.parametrize("criterion", ["aic", "bic"])
def test_model_selection_picks_true_family(family, criterion):
    picks = [select_family(fit_all(SIZES, noisy(family, seed)), criterion) for seed in range(10)]
    assert picks.count(family) >= 8, picks


def test_power_law_and_exponential_are_told_apart_strictly():
    for seed in range(5):
        fits = fit_all(SIZES, noisy("exponential", seed), ("power_law", "exponential"))
        assert select_family(fits) == "exponential"
        fits = fit_all(SIZES, noisy("power_law", seed), ("power_law", "exponential"))
        assert select_family(fits) == "power_law"


def test_too_few_sizes_is_reported_not_fitted():
    fit = fit_family([100, 100, 200, 200], [0.5, 0.5, 0.4, 0.4], "power_law_floor")
    assert not fit.ok and not np.isfinite(fit.aic) and "distinct sizes" in fit.message


def test_bootstrap_ci_covers_truth():
    covered = 0
    for seed in range(20):
        ci = bootstrap_fit(SIZES, noisy("power_law", seed), "power_law", n_boot=100, seed=seed)["params"]["nu"]
        assert ci["low"] <= ci["estimate"] <= ci["high"]
        covered += ci["low"] <= TRUTH["power_law"]["nu"] <= ci["high"]
    assert covered >= 16  # nominal 95%; percentile intervals from 3 seeds run a little narrow


def test_bootstrap_resamples_seeds_or_residuals():
    replicated = bootstrap_fit(SIZES, noisy("power_law", 0), "power_law", n_boot=20)
    single = np.geomspace(300, 20000, 8)
    unreplicated = bootstrap_fit(single, noisy("power_law", 0, single), "power_law", n_boot=20)
    assert replicated["method"] == "case-resample-seeds"
    assert unreplicated["method"] == "residual"
    assert unreplicated["params"]["nu"]["low"] < unreplicated["params"]["nu"]["high"]


def test_bootstrap_is_deterministic_for_a_seed():
    errors = noisy("power_law", 0)
    assert bootstrap_fit(SIZES, errors, "power_law", n_boot=30, seed=7) == \
        bootstrap_fit(SIZES, errors, "power_law", n_boot=30, seed=7)


def test_pareto_frontier_is_the_lower_envelope():
    table = pd.DataFrame({
        "fraction_kept": [1.0, 1.0, 1.0, 0.5, 0.5, 0.5],
        "initial_size": [100, 200, 400, 200, 400, 800],
        "n_kept": [100, 200, 400, 100, 200, 400],
        "test_error": [0.50, 0.40, 0.30, 0.55, 0.35, 0.20],
    })
    frontier = pareto_frontier(table)
    assert frontier["n_kept"].tolist() == [100, 200, 400]
    assert frontier["test_error"].tolist() == [0.50, 0.35, 0.20]
    assert frontier["fraction_kept"].tolist() == [1.0, 0.5, 0.5]


def test_pareto_frontier_drops_points_that_do_not_improve():
    table = pd.DataFrame({"n_kept": [10, 20, 30, 40], "test_error": [0.5, 0.6, 0.4, 0.45]})
    assert pareto_frontier(table)["n_kept"].tolist() == [10, 30]


def test_crossover_interpolates_in_log_size():
    sizes = np.array([250, 500, 1000, 2000, 4000])
    delta = 0.05 * (np.log(1400.0) - np.log(sizes))  # zero at N* = 1400, keep easy wins below
    cross = crossover_size(sizes, delta)
    assert cross["size"] == pytest.approx(1400.0, rel=1e-9)
    assert cross["direction"] == "easy->hard"
    assert cross["bracket"] == [1000.0, 2000.0]


def test_crossover_absent_or_reversed():
    assert np.isnan(crossover_size([1, 2, 3], [0.1, 0.2, 0.1])["size"])
    assert crossover_size([100, 1000], [-0.1, 0.1])["direction"] == "hard->easy"
    assert crossover_size([100, 200, 400], [0.1, 0.0, -0.1])["size"] == 200.0


def synthetic_sweep(seeds=2):
    """A sweep table whose keep-hard curves beat keep-easy above N* ≈ 2000 and follow power laws."""
    rng = np.random.default_rng(0)
    rows = []
    for n in (500, 1000, 2000, 4000, 8000):
        for seed in range(seeds):
            noise = lambda: np.exp(rng.normal(0, 0.01))  # noqa: E731
            rows.append(dict(protocol="fixed_epochs", metric="none", keep="all", fraction_kept=1.0,
                             initial_size=n, n_kept=n, seed=seed, test_error=2.0 * n ** -0.3 * noise()))
            for f in (0.5, 0.25):
                for keep, shift in (("hard", -0.05 * np.log(n / 2000)), ("easy", 0.0)):
                    err = 2.0 * (f * n) ** -0.3 * (1 + shift) * noise()
                    rows.append(dict(protocol="fixed_epochs", metric="el2n", keep=keep, fraction_kept=f,
                                     initial_size=n, n_kept=int(f * n), seed=seed, test_error=err))
    sweep = pd.DataFrame(rows)
    sweep["test_accuracy"] = 1 - sweep["test_error"]
    return sweep


def test_analyse_sweep_on_a_synthetic_table():
    summary = analyse_sweep(synthetic_sweep(), n_boot=20)
    assert summary["full_data"]["fits"]["power_law"]["params"]["nu"] == pytest.approx(0.3, abs=0.02)
    protocol = summary["protocols"]["fixed_epochs"]
    assert {(c["keep"], c["fraction_kept"]) for c in protocol["curves"]} == {
        ("easy", 0.25), ("easy", 0.5), ("hard", 0.25), ("hard", 0.5)}
    hard_frontier = next(fr for fr in protocol["frontiers"] if fr["keep"] == "hard")
    assert hard_frontier["points"][0]["n_kept"] == 125  # smallest pruned size: f=0.25 of N=500
    for cross in protocol["crossovers"]:
        assert cross["direction"] == "easy->hard"
        assert cross["size"] == pytest.approx(2000.0, rel=0.3)  # Δ at N=2000 is pure noise
