"""prunebench.scaling on synthetic curves with known parameters."""

import numpy as np
import pandas as pd
import pytest

from prunebench.scaling import (
    analyse_sweep, crossover_size, fit_all, fit_family, fit_intervals, pareto_frontier, predict, select_family,
)
from prunebench.scaling.analysis import fit_curve

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


def test_t_interval_brackets_the_estimate_and_shrinks_with_seeds():
    single = np.geomspace(300, 20000, 8)
    one = fit_intervals(fit_family(single, noisy("power_law", 0, single), "power_law"))["params"]["nu"]
    three = fit_intervals(fit_family(SIZES, noisy("power_law", 0), "power_law"))["params"]["nu"]
    assert one["low"] < one["estimate"] < one["high"] and one["dof"] == 6
    assert three["dof"] == 22 and three["high"] - three["low"] < one["high"] - one["low"]


def test_exponential_interval_is_on_the_rate_and_maps_to_lambda():
    fit = fit_family(SIZES, noisy("exponential", 0), "exponential")
    params = fit_intervals(fit)["params"]
    assert params["rate"]["low"] < 1 / 5000 < params["rate"]["high"]
    assert params["lam"]["low"] == pytest.approx(1 / params["rate"]["high"])
    assert params["lam"]["high"] == pytest.approx(1 / params["rate"]["low"])


def test_a_zero_error_point_does_not_flip_a_power_law():
    """Exact ν = 0.35 power law measured on 1,000 test images, the last point (true error 0.002,
    P(0 mistakes) = 13%) at zero errors: the old log fit clipped it to 1e-6 and called it exponential."""
    sizes = np.geomspace(300, 20000, 6)
    errors = 0.002 * (sizes / 20000) ** -0.35
    errors[-1] = 0.0
    fits = fit_all(sizes, errors, n_test=1000)
    nu = fit_intervals(fits["power_law"])["params"]["nu"]
    assert nu["estimate"] == pytest.approx(0.35, abs=0.15)
    assert nu["low"] <= 0.35 <= nu["high"]
    assert select_family(fits) == "power_law"


def test_binomial_fit_recovers_a_power_law_from_counts():
    rng = np.random.default_rng(3)
    truth = predict("power_law", {"a": 3.0, "nu": 0.35}, SIZES)
    errors = rng.binomial(2000, truth) / 2000
    assert fit_family(SIZES, errors, "power_law", n_test=2000).params["nu"] == pytest.approx(0.35, abs=0.03)


def test_fewer_than_five_sizes_give_no_family_and_no_interval():
    sizes = np.repeat([400.0, 800.0, 1600.0, 3200.0], 2)
    curve = fit_curve(sizes, noisy("power_law", 0, sizes), criterion="bic")
    assert curve["best"] is None and curve["intervals"] == {} and "fewer than 5" in curve["reason"]
    assert np.isfinite(curve["fits"]["power_law"]["params"]["nu"])  # the point estimate is still reported
    enough = fit_curve(np.geomspace(300, 20000, 5), noisy("power_law", 0, np.geomspace(300, 20000, 5)),
                       criterion="bic")
    assert enough["best"] == "power_law" and enough["reason"] is None and "power_law" in enough["intervals"]


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


def synthetic_sweep(seeds=2, n_test=None):
    """A sweep table whose keep-hard curves beat keep-easy above N* ≈ 2000 and follow power laws
    (with an ``n_test`` column when given)."""
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
    if n_test is not None:
        sweep["test_error"] = np.round(sweep["test_error"] * n_test) / n_test
        sweep["n_test"] = n_test
    sweep["test_accuracy"] = 1 - sweep["test_error"]
    return sweep


def test_analyse_sweep_on_a_synthetic_table():
    summary = analyse_sweep(synthetic_sweep(), n_boot=20, n_null=0)
    assert summary["full_data"]["fits"]["power_law"]["params"]["nu"] == pytest.approx(0.3, abs=0.02)
    protocol = summary["protocols"]["fixed_epochs"]
    assert {(c["keep"], c["fraction_kept"]) for c in protocol["curves"]} == {
        ("easy", 0.25), ("easy", 0.5), ("hard", 0.25), ("hard", 0.5)}
    hard_frontier = next(fr for fr in protocol["frontiers"] if fr["keep"] == "hard")
    assert hard_frontier["points"][0]["n_kept"] == 125  # smallest pruned size: f=0.25 of N=500
    for cross in protocol["crossovers"]:
        assert cross["direction"] == "easy->hard"
        assert cross["size"] == pytest.approx(2000.0, rel=0.3)  # Δ at N=2000 is pure noise


def test_frontier_statistics_on_a_binomial_sweep():
    """With n_test every frontier gets a re-selecting bootstrap-t interval and the calibrated tests,
    each stored with its measured false-positive rate; crossovers carry the se of every Δ."""
    summary = analyse_sweep(synthetic_sweep(n_test=2000), n_boot=30, n_null=40, seed=1)
    protocol = summary["protocols"]["fixed_epochs"]
    frontier = next(fr for fr in protocol["frontiers"] if fr["keep"] == "hard")
    interval = frontier["intervals"]["power_law"]
    assert "re-selected" in interval["method"]
    assert interval["params"]["nu"]["low"] < interval["params"]["nu"]["estimate"] < interval["params"]["nu"]["high"]
    tests = frontier["beyond_power_law"]
    assert set(tests["false_positive_rate"]) == {"curvature", "vs_full_data", "vs_random"}
    assert all(0 <= rate <= 1 for rate in tests["false_positive_rate"].values() if rate is not None)
    assert tests["tests"]["curvature"]["dof"] >= 2 and "false-positive rate" in tests["verdict"]
    assert all(len(c["delta_se"]) == len(c["initial_sizes"]) for c in protocol["crossovers"])
    assert summary == analyse_sweep(synthetic_sweep(n_test=2000), n_boot=30, n_null=40, seed=1)  # deterministic
