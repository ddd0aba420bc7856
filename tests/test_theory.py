"""Perceptron pruning theory: replica solver, max-margin simulation, data products and CLI."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest
import yaml

from prunebench.errors import PrunebenchError
from prunebench.theory import TheoryInputError, simulate_point, solve_curve, solve_point
from prunebench.theory.analysis import fit_exponential, fit_power_law, optimal_fraction, pareto_frontier
from prunebench.theory.maxmargin import max_margin
from prunebench.theory.solver import solve_general

# Reference note (shared/reference/sorscher2022.md) §1.6: (α_tot, f, keep, θ, theory ε, theory κ).
GOLDEN = [
    (2, 1.0, "hard", 0.0, 0.1883, 0.455),
    (6, 0.5, "hard", 0.0, 0.0812, 0.165),
    (6, 0.5, "easy", 0.0, 0.0862, 0.872),
    (10, 0.2, "hard", 0.0, 0.0971, 0.110),
    (10, 0.2, "easy", 0.0, 0.0840, 1.489),
    (2, 0.5, "hard", 0.0, 0.3210, 0.565),
    (2, 0.5, "easy", 0.0, 0.1818, 1.197),
    (50, 0.1, "hard", 0.0, 0.0100, 0.0201),
    (25, 0.2, "hard", 0.0, 0.0200, 0.0402),
    (6, 0.3, "hard", 0.3, 0.2935, 0.324),
    (10, 0.2, "hard", 0.5, 0.3292, 0.407),
    (6, 0.5, "easy", 0.4, 0.1606, 0.734),
    (4, 1.0, "hard", 0.3, 0.1137, 0.243),
]


@pytest.mark.parametrize("alpha_tot, f, keep, theta, eps, kappa", GOLDEN)
def test_golden_values(alpha_tot, f, keep, theta, eps, kappa):
    point = solve_point(alpha_tot, f, keep, theta)
    assert point.eps == pytest.approx(eps, abs=1e-3)
    assert point.kappa == pytest.approx(kappa, abs=2e-3)
    assert point.R == pytest.approx(math.cos(math.pi * point.eps), abs=1e-12)
    assert point.alpha_prune == pytest.approx(f * alpha_tot)
    assert -1 <= point.rho <= 1


def test_theta0_limit_and_unpruned_general_solver_agree():
    """θ → 0 of the 3-unknown system is the 2-unknown reduction; with f = 1 the probe is irrelevant."""
    assert solve_point(25, 0.2, "hard", 1e-4).eps == pytest.approx(solve_point(25, 0.2, "hard", 0.0).eps, abs=1e-5)
    x, _ = solve_general(4.0, 1.0, "hard", 0.3)
    assert math.exp(x[0]) == pytest.approx(solve_point(4, 1.0, "hard", 0.0).eps, rel=1e-8)


def test_unpruned_asymptote_eps_alpha_half():
    """Maximal-stability perceptron: ε·α → 0.5 (0.5005 at α = 1e3, 0.4983 at α = 20)."""
    assert solve_point(1000, 1.0).eps * 1000 == pytest.approx(0.5, abs=0.005)
    assert solve_point(20, 1.0).eps * 20 == pytest.approx(0.5, abs=0.01)


def test_theta0_solver_matches_adaptive_quadrature():
    """Independent check of eq. (i) at α = 20, f = 1: scipy's adaptive quad + brentq + bounded max.

    (The reference note's "ε(α=20) = 0.0243" is off by 6e-4; both methods give 0.024913.)
    """
    from scipy import integrate, optimize, special

    def mean_ramp_squared(kappa, R):
        s = math.sqrt(1 - R * R)

        def integrand(z):
            d = kappa - R * z
            return 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) * (
                (d * d + s * s) * special.ndtr(d / s) + d * s * math.exp(-d * d / (2 * s * s)) / math.sqrt(2 * math.pi))

        cuts = [0, kappa / R, kappa / R + 1, 12]
        return sum(integrate.quad(integrand, a, b, epsabs=1e-13, limit=200)[0] for a, b in zip(cuts, cuts[1:]))

    def kappa_of(log_eps):
        R = math.cos(math.pi * math.exp(log_eps))
        return optimize.brentq(lambda k: 1 - R * R - 20 * mean_ramp_squared(k, R), 0, 2, xtol=1e-14)

    best = optimize.minimize_scalar(lambda x: -kappa_of(x), bounds=(-5, -3), method="bounded", options={"xatol": 1e-9})
    point = solve_point(20, 1.0)
    assert point.eps == pytest.approx(math.exp(best.x), rel=1e-6)
    assert point.kappa == pytest.approx(-best.fun, rel=1e-9)


def test_unpruned_error_decreases_with_data():
    eps = [p.eps for p in solve_curve(np.geomspace(0.5, 200, 12), 1.0)]
    assert np.all(np.diff(eps) < 0)


def test_crossover_keep_easy_when_scarce_keep_hard_when_abundant():
    for f in (0.3, 0.5, 0.8):
        assert solve_point(2, f, "easy").eps < solve_point(2, f, "hard").eps
        assert solve_point(30, f, "hard").eps < solve_point(30, f, "easy").eps


def test_keep_hard_perfect_metric_beats_power_law_as_f_shrinks():
    """θ = 0, keep hard, fixed α_prune past the transition: smaller f, lower error (ε ≈ f/(2α_prune))."""
    eps = [solve_point(10 / f, f, "hard").eps for f in (1.0, 0.5, 0.2, 0.1, 0.05)]
    assert np.all(np.diff(eps) < 0)
    assert eps[-1] == pytest.approx(0.05 / 20, rel=0.05)


def test_imperfect_probe_is_worse_and_bounded_below():
    """Keep hard at fixed α_prune and f: a larger probe angle gives a larger error; with θ > 0 the
    frontier over f stays a power law, ε·α_prune ≥ ~0.5 sinθ (SI A.7)."""
    eps = [point.eps for point in (solve_point(1000, 0.1, "hard", theta) for theta in (0.0, 0.1, 0.3))]
    assert eps[0] < eps[1] < eps[2]
    assert eps[2] * 100 > 0.45 * math.sin(0.3)


@pytest.mark.parametrize("alpha_tot, f, keep, theta", [(6, 0.5, "easy", 0.0), (6, 0.3, "hard", 0.3), (2, 1.0, "hard", 0.0)])
def test_simulation_matches_theory_at_n200(alpha_tot, f, keep, theta):
    rows = simulate_point(alpha_tot, f, keep, theta, n_dim=200, seeds=range(4))
    eps = np.array([r["eps"] for r in rows])
    kappa = np.array([r["kappa"] for r in rows])
    theory = solve_point(alpha_tot, f, keep, theta)
    sem = eps.std(ddof=1) / np.sqrt(len(eps))
    assert abs(eps.mean() - theory.eps) < 3 * sem + 0.01
    assert abs(kappa.mean() - theory.kappa) < 3 * kappa.std(ddof=1) / 2 + 0.03 * theory.kappa  # finite N lowers κ
    assert max(r["rel_gap"] for r in rows) < 1e-9
    assert all(r["n_keep"] == round(f * alpha_tot * 200) for r in rows)


def test_simulation_is_deterministic_per_seed():
    first = simulate_point(3, 0.5, "hard", 0.2, n_dim=60, seeds=[11, 12])
    again = simulate_point(3, 0.5, "hard", 0.2, n_dim=60, seeds=[12])
    assert first[1]["eps"] == again[0]["eps"] and first[1]["kappa"] == again[0]["kappa"]
    assert first[0]["eps"] != first[1]["eps"]


def test_interior_point_matches_clarabel_and_is_certified():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 150, 40))
    y = np.sign(X[..., 0])
    ipm, reference = max_margin(X, y, "ipm"), max_margin(X, y, "clarabel")
    assert np.allclose(ipm.w, reference.w, atol=1e-7)
    assert np.allclose(ipm.kappa, reference.kappa, rtol=1e-9)
    assert np.all(ipm.kappa <= ipm.kappa_upper * (1 + 1e-9))
    margins = np.einsum("spn,sn->sp", y[..., None] * X, ipm.w)
    assert np.allclose(margins.min(-1), ipm.kappa)  # κ is the smallest margin of the unit-norm w


@pytest.mark.parametrize("alpha_tot, f, keep, theta", [
    (2, 0.0, "hard", 0.0), (2, 1.5, "hard", 0.0), (-1, 0.5, "hard", 0.0), (0, 0.5, "hard", 0.0),
    (2, 0.5, "hard", -0.1), (2, 0.5, "hard", 2.0), (2, 0.5, "medium", 0.0), (float("nan"), 0.5, "hard", 0.0),
])
def test_impossible_inputs_raise_clear_errors(alpha_tot, f, keep, theta):
    with pytest.raises(TheoryInputError) as excinfo:
        solve_point(alpha_tot, f, keep, theta)
    assert isinstance(excinfo.value, PrunebenchError) and "\n" not in str(excinfo.value)
    with pytest.raises(TheoryInputError):
        simulate_point(alpha_tot, f, keep, theta, n_dim=20, seeds=[0])


def _run_cli(argv, capsys):
    from prunebench.cli import theory

    parser = argparse.ArgumentParser()
    theory.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def test_cli_point_prints_one_json_object(capsys):
    code, out = _run_cli(["theory", "point", "--alpha-tot", "6", "--f", "0.5", "--keep", "hard", "--theta", "0"], capsys)
    record = json.loads(out)
    assert code == 0 and len(out.strip().splitlines()) == 1
    assert record["eps"] == pytest.approx(0.0812, abs=1e-3)
    assert {"eps", "kappa", "R", "rho", "alpha_prune"} <= set(record)


def test_cli_user_error_is_one_line_exit_2(capsys):
    from prunebench.cli import main

    assert main(["theory", "point", "--alpha-tot", "6", "--f", "1.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: f (fraction kept) must be in (0, 1]") and err.count("\n") == 1


def test_fits_recover_exact_laws():
    alpha = np.geomspace(1, 100, 20)
    power = fit_power_law(alpha, 0.4 * alpha**-0.8)
    assert power["a"] == pytest.approx(0.4) and power["rate"] == pytest.approx(0.8)
    expo = fit_exponential(alpha, 0.3 * np.exp(-alpha / 7))
    assert expo["a"] == pytest.approx(0.3) and expo["rate"] == pytest.approx(1 / 7)


def test_optimal_fraction_parabola_and_frontier():
    fractions = np.geomspace(0.01, 1, 9)
    f_opt, eps_opt, edge = optimal_fraction(fractions, np.exp((np.log(fractions) - np.log(0.1)) ** 2) * 0.01)
    assert f_opt == pytest.approx(0.1, rel=1e-6) and eps_opt == pytest.approx(0.01) and not edge
    import pandas as pd

    curves = pd.DataFrame({"study": "frontier", "theta": 0.0, "keep": "hard", "alpha_prune": 5.0,
                           "f": [0.2, 0.5, 1.0], "eps": [0.01, 0.03, 0.1]})
    row = pareto_frontier(curves).iloc[0]
    assert row["f_opt"] == 0.2 and row["eps_opt"] == 0.01 and row["eps_f1"] == 0.1 and row["optimum_at"] == "grid_min"


CI_FRACTIONS = np.geomspace(0.005, 1.0, 16)  # the ci frontier grid that used to set the frontier


def test_continuous_frontier_optimum_is_interior_and_below_the_grid():
    """Below the capacity α_prune = 2 the optimum over f is interior: the bounded minimisation finds
    an f strictly inside (f_floor, 1), off the grid, with an ε below the grid's best and equal to a
    dense scan's minimum."""
    from prunebench.theory.analysis import continuous_frontier

    frontier = continuous_frontier([1.5, 1.8], CI_FRACTIONS, f_floor=1e-4)
    for row in frontier.itertuples():
        assert row.optimum_at == "interior" and 1e-4 < row.f_opt < 1
        assert not np.isclose(CI_FRACTIONS, row.f_opt, rtol=1e-3).any()
        assert row.eps_opt < row.eps_grid_opt - 1e-5
        dense = np.geomspace(row.f_opt / 1.2, min(row.f_opt * 1.2, 1.0), 41)
        scan = min(solve_point(row.alpha_prune / f, f, "hard").eps for f in dense)
        assert row.eps_opt <= scan + 1e-7


def test_theta0_optimum_above_capacity_is_pinned_at_the_floor():
    """For α_prune > 2 the θ = 0 error grows with f (ε ∝ f): the optimum is the floor of f, whatever
    it is, and is flagged so instead of being reported as a frontier value."""
    from prunebench.theory.analysis import continuous_frontier

    for floor in (1e-3, 1e-4):
        row = continuous_frontier([5.0], CI_FRACTIONS, f_floor=floor).iloc[0]
        assert row["optimum_at"] == "f_floor" and row["f_opt"] == pytest.approx(floor, rel=1e-2)
    ratio = solve_point(5.0 / 2e-4, 2e-4, "hard").eps / solve_point(5.0 / 1e-4, 1e-4, "hard").eps
    assert ratio == pytest.approx(2.0, rel=0.01)


def test_refine_below_grid_moves_a_grid_edge_optimum_down_to_the_floor():
    import pandas as pd

    from prunebench.theory.analysis import refine_below_grid

    fractions = [0.01, 0.1, 1.0]
    curves = pd.DataFrame({"study": "imperfect", "theta": 0.0, "keep": "hard", "alpha_prune": 5.0, "f": fractions,
                           "eps": [solve_point(5.0 / f, f, "hard").eps for f in fractions]})
    grid = pareto_frontier(curves, studies=("imperfect",))
    assert grid.loc[0, "optimum_at"] == "grid_min"
    refined = refine_below_grid(grid, curves, f_floor=1e-3).iloc[0]
    assert refined["optimum_at"] == "f_floor" and refined["f_opt"] == pytest.approx(1e-3, rel=1e-2)
    assert refined["eps_opt"] < grid.loc[0, "eps_opt"] and refined["eps_grid_opt"] == grid.loc[0, "eps_opt"]


def test_frontier_fits_use_only_interior_points():
    """A frontier point pinned to a bound of f says nothing about the frontier's form: the fits leave
    it out, and fit nothing when fewer than three interior points remain."""
    import pandas as pd

    from prunebench.theory.analysis import scaling_fits

    alpha = np.linspace(1, 10, 10)
    frontier = pd.DataFrame({"study": "frontier", "theta": 0.0, "alpha_prune": alpha, "eps_f1": 0.4 / alpha,
                             "eps_opt": np.where(alpha < 6, 0.5 * np.exp(-0.7 * alpha), 1e-6),
                             "optimum_at": np.where(alpha < 6, "interior", "f_floor")})
    fits = scaling_fits(frontier, {"frontier": (1, 10)})
    expo = fits[(fits["target"] == "frontier") & (fits["law"] == "exponential")].iloc[0]
    assert expo["n_points"] == 5 and expo["alpha_max"] == 5 and expo["rate"] == pytest.approx(0.7)
    assert fits[fits["target"] == "f=1"].iloc[0]["n_points"] == 10
    dense = scaling_fits(frontier.assign(dense=alpha > 8), {"frontier": (1, 10)})  # f = 1 keeps the study's grid
    assert dense[dense["target"] == "f=1"].iloc[0]["n_points"] == 8
    few = scaling_fits(frontier.assign(optimum_at=np.where(alpha < 3, "interior", "f_floor")), {"frontier": (1, 10)})
    assert set(few["target"]) == {"f=1"}


def test_theory_products_on_a_tiny_grid(tmp_path, monkeypatch):
    from prunebench.theory.analysis import scaling_fits
    from prunebench.theory.curves import crossover_table, simulation_table, theory_curves
    from prunebench.theory.plots import write_figures
    from prunebench.theory.settings import theory_settings

    cfg = theory_settings({"theory": {
        "fixed_f": {"fractions": [1.0, 0.5], "alpha_prune": [1, 4]},
        "crossover": {"fractions": [0.5], "alpha_tot": [2, 10]},
        "frontier": {"fractions": [0.2, 0.5], "alpha_prune": [1, 3, 9], "fit_alpha": [1, 9], "optimum_alpha": [1.5, 1.8]},
        "imperfect": {"thetas": [0.3], "fractions": [0.3], "alpha_prune": [2, 6], "fit_alpha": [2, 6]},
        "simulation": {"n_dim": 40, "seeds": 2, "fixed_f": {"fractions": [0.5], "alpha_prune": [2]},
                       "imperfect": {"thetas": [0.3], "fractions": [0.3], "alpha_prune": [2]}}}})
    curves = theory_curves(cfg)
    assert set(curves["study"]) == {"fixed_f", "frontier", "imperfect"} and curves["eps"].between(0, 0.5).all()
    crossover = crossover_table(cfg)
    assert 2 < crossover.loc[0, "alpha_tot_star"] < 10
    sims = simulation_table(cfg, base_seed=0)
    assert len(sims) == 2 * 2 + 2 and sims["eps"].between(0, 0.5).all()
    frontier = pareto_frontier(curves)
    fits = scaling_fits(frontier, {"frontier": (1, 9), "imperfect": (2, 6)})
    paths = write_figures(curves, crossover, sims, frontier, fits, tmp_path)
    assert all(path.stat().st_size > 10_000 for path in paths)

    import pandas as pd

    from prunebench.cli import theory as theory_cli

    curves.to_csv(tmp_path / "curves.csv", index=False)
    monkeypatch.setattr(theory_cli, "_settings", lambda args: {**cfg, "seed": 0})
    args = argparse.Namespace(config="tiny", curves=tmp_path / "curves.csv", frontier_out=tmp_path / "frontier.csv",
                              fits_out=tmp_path / "fits.csv", workers=1)
    assert theory_cli.run_analyse(args) == 0
    written = pd.read_csv(tmp_path / "frontier.csv")
    exact = written[written["study"] == "frontier"].set_index("alpha_prune")
    assert list(exact.index) == [1, 1.5, 1.8, 3, 9] and exact["method"].eq("continuous").all()
    assert exact.loc[1.8, "optimum_at"] == "interior" and exact.loc[9, "optimum_at"] == "f_floor"
    assert exact.loc[[1.5, 1.8], "dense"].all() and not exact.loc[[1, 3, 9], "dense"].any()
    assert (written["eps_opt"] <= written["eps_grid_opt"] + 1e-12).all()


def test_default_settings_match_the_schema():
    from jsonschema import Draft202012Validator

    from prunebench.config import SCHEMA_DIR
    from prunebench.theory.settings import DEFAULTS

    schema = yaml.safe_load((SCHEMA_DIR / "theory.schema.yaml").read_text())
    Draft202012Validator(schema).validate(DEFAULTS)
    assert not Draft202012Validator(schema).is_valid({**DEFAULTS, "unknown": 1})
    assert not Draft202012Validator(schema).is_valid({"imperfect": {"thetas": [2.0]}})


def test_points_where_the_solver_fails_are_never_the_optimum(monkeypatch):
    import prunebench.theory.solver as solver
    from prunebench.theory.analysis import FAILED_ERROR, keep_hard_error, minimise_over_fraction

    def error_at(f):  # a minimum at f = 0.05, and no solution below f = 0.01
        return FAILED_ERROR if f < 0.01 else 0.1 + (math.log(f) - math.log(0.05)) ** 2

    optimum = minimise_over_fraction(error_at, [0.001, 0.02, 0.2, 1.0], f_floor=0.001)
    assert optimum["optimum_at"] == "interior" and optimum["f_opt"] == pytest.approx(0.05, rel=1e-2)

    def fails(*args, **kwargs):
        raise RuntimeError("theory solver did not converge")

    monkeypatch.setattr(solver, "solve_point", fails)
    assert keep_hard_error(300.0, 0.2)(0.001) == FAILED_ERROR
