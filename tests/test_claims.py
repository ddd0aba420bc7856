"""The claims of issue 14 (prunebench.scaling.claims, headline.claims) recover what synthetic sweep
tables were built with: a known crossover, a known no-loss fraction, perfectly predictive / random /
reversed rankings; a table without fixed_compute or baseline-method rows gives "no rows" entries."""

import numpy as np
import pandas as pd
import pytest

from prunebench.checks.derived import compare_derived
from prunebench.figures.compute import COST_UNITS, missing_methods, plot_accuracy_vs_compute, total_cost
from prunebench.headline import claim_entries, failed
from prunebench.scaling import analyse_sweep
from prunebench.scaling.claims import (
    NO_ROWS, NOT_REPRODUCED, NOT_RESOLVED, REPRODUCED, beyond_power_law_claim, crossover_claim, decision_accuracy,
    fieller_interval, no_loss_claim, ranking_claim,
)

SIZES = (5000, 8900, 15800, 28100, 50000)
FRACTIONS = (0.8, 0.6, 0.4, 0.2)
N_TEST = 10000


def _row(protocol, n, f, metric, keep, seed, accuracy, steps=100.0, score_steps=0.0):
    accuracy = float(np.clip(accuracy, 0.01, 0.99))
    return {"protocol": protocol, "initial_size": n, "fraction_kept": f, "n_kept": int(round(f * n)),
            "metric": metric, "keep": keep, "seed": seed, "test_accuracy": accuracy, "test_error": 1 - accuracy,
            "n_test": N_TEST, "train_steps": steps * f, "score_probe_steps": score_steps,
            "train_wall_time_s": steps * f / 10, "score_wall_time_s": score_steps / 10}


def synthetic(accuracy, strategies=(("random", "random"), ("el2n", "easy"), ("el2n", "hard")), seeds=(0, 1, 2),
              protocols=("fixed_epochs",), sizes=SIZES, fractions=FRACTIONS, noise=0.002, rng_seed=0):
    """A sweep table: accuracy(protocol, metric, keep, N, f, seed) + seed noise, with f = 1 baselines."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for n in sizes:
        for seed in seeds:
            rows.append(_row("fixed_epochs", n, 1.0, "none", "all", seed,
                             accuracy("fixed_epochs", "none", "all", n, 1.0, seed) + noise * rng.standard_normal()))
            for protocol in protocols:
                for metric, keep in strategies:
                    for f in fractions:
                        value = accuracy(protocol, metric, keep, n, f, seed) + noise * rng.standard_normal()
                        rows.append(_row(protocol, n, f, metric, keep, seed, value, score_steps=50.0 * (metric != "random")))
    return pd.DataFrame(rows)


def _crossing(star):
    """keep hard − keep easy error = 0.04·(ln N* − ln N) · (1 − f): easy better below N*, hard above."""
    def accuracy(protocol, metric, keep, n, f, seed):
        base = 0.8 - 0.3 * (n / 5000) ** -0.5
        if keep == "hard":
            return base - 0.04 * (np.log(star) - np.log(n)) * (1 - f)
        return base
    return accuracy


def test_a_known_crossover_is_recovered_with_an_interval_that_covers_it():
    sweep = synthetic(_crossing(15000.0))
    claim = crossover_claim(sweep, "fixed_epochs", "el2n", 0.4)
    assert claim["verdict"] == REPRODUCED
    assert claim["value"] == pytest.approx(15000.0, rel=0.1)
    low, high = claim["interval"]
    assert low < 15000.0 < high and high / low < 2
    assert claim["n_seeds"] == 3
    beyond = crossover_claim(synthetic(_crossing(200000.0)), "fixed_epochs", "el2n", 0.4)
    assert beyond["value"] is None and beyond["detail"]["extrapolated_crossover"] > 50000


def test_a_gap_that_grows_with_n_is_not_reproduced_and_a_flat_gap_is_not_resolved():
    # keep hard loses more and more accuracy to keep easy as N grows: the opposite of the paper's trend
    growing = synthetic(lambda p, m, k, n, f, s: 0.7 - (0.05 * np.log(n / 5000) if k == "hard" else 0.0))
    assert crossover_claim(growing, "fixed_epochs", "el2n", 0.4)["verdict"] == NOT_REPRODUCED
    flat = synthetic(lambda p, m, k, n, f, s: 0.7, noise=0.01)
    claim = crossover_claim(flat, "fixed_epochs", "el2n", 0.4)
    assert claim["verdict"] == NOT_RESOLVED


def test_fieller_interval_is_the_delta_interval_when_the_slope_is_precise_and_unbounded_when_it_is_not():
    low, high = fieller_interval(b0=1.0, b1=-2.0, se0=0.01, se1=1e-6, t=2.0)
    assert (low, high) == pytest.approx((0.5 - 0.01, 0.5 + 0.01), abs=1e-4)
    assert fieller_interval(b0=1.0, b1=-2.0, se0=0.01, se1=1.5, t=2.0) is None


def _lossless_down_to(f_star):
    """No loss at f >= f*, 5 points below; a seed effect shared by every run of a seed (paired)."""
    def accuracy(protocol, metric, keep, n, f, seed):
        return 0.8 + 0.01 * seed - (0.0 if f >= f_star else 0.05)
    return accuracy


def test_the_known_no_loss_fraction_is_recovered():
    sweep = synthetic(_lossless_down_to(0.6), noise=0.0)
    claim = no_loss_claim(sweep, "fixed_epochs", "el2n", "hard", n_boot=200)
    assert claim["value"] == 0.6 and claim["verdict"] == REPRODUCED
    assert claim["interval"][0] <= 0.6 <= claim["interval"][1]


def test_a_loss_at_every_fraction_is_not_reproduced():
    sweep = synthetic(lambda p, m, k, n, f, s: 0.8 if f == 1 else 0.7, noise=0.001)
    claim = no_loss_claim(sweep, "fixed_epochs", "el2n", "hard", n_boot=200)
    assert claim["value"] == 1.0 and claim["verdict"] == NOT_REPRODUCED


def test_one_seed_uses_the_binomial_error_and_has_no_interval():
    sweep = synthetic(_lossless_down_to(0.4), seeds=(0,), noise=0.0)
    claim = no_loss_claim(sweep, "fixed_epochs", "el2n", "hard", n_boot=200)
    assert claim["value"] == 0.4 and claim["interval"] is None and claim["n_seeds"] == 1


STRATEGIES = tuple((f"m{i}", keep) for i in range(4) for keep in ("easy", "hard"))


def _ranked(order_at):
    """Strategy i's accuracy at N is 0.6 + 0.01·order_at(N)[i] (its rank at N)."""
    index = {s: i for i, s in enumerate(STRATEGIES)}

    def accuracy(protocol, metric, keep, n, f, seed):
        if metric == "none":
            return 0.8
        return 0.6 + 0.01 * order_at(n, f)[index[(metric, keep)]]
    return accuracy


def test_a_perfectly_predictive_ranking_scores_one_and_a_reversed_one_zero():
    same = synthetic(_ranked(lambda n, f: np.arange(len(STRATEGIES))), strategies=STRATEGIES, noise=0.0005)
    claim = ranking_claim(same, "fixed_epochs", 5000, n_boot=200)
    assert claim["value"] == 1.0 and claim["verdict"] == REPRODUCED and claim["detail"]["p_chance"] < 0.01
    reversed_ = synthetic(_ranked(lambda n, f: np.arange(len(STRATEGIES)) * (1 if n == 50000 else -1)),
                          strategies=STRATEGIES, noise=0.0005)
    claim = ranking_claim(reversed_, "fixed_epochs", 5000, n_boot=200)
    assert claim["value"] == 0.0 and claim["verdict"] == NOT_REPRODUCED


def test_random_rankings_score_near_chance_and_are_not_called_predictive():
    orders = {}

    def random_order(n, f):
        key = (n, f)
        if key not in orders:
            orders[key] = np.random.default_rng(abs(hash(key)) % 2**32).permutation(len(STRATEGIES))
        return orders[key]

    sweep = synthetic(_ranked(random_order), strategies=STRATEGIES, fractions=(0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2),
                      noise=0.0005)
    claim = ranking_claim(sweep, "fixed_epochs", 5000, n_boot=200)
    assert abs(claim["value"] - 0.5) < 0.15
    assert claim["verdict"] != REPRODUCED and claim["detail"]["p_chance"] > 0.05


def test_decision_accuracy_counts_agreeing_pairs():
    assert decision_accuracy(np.array([1, 2, 3]), np.array([1, 3, 2])) == pytest.approx(2 / 3)


def _scaling_with(p_full, p_random, p_control, rate=0.04):
    def frontier(metric, keep, p, q=None):
        tests = {"vs_full_data": {"p_value": p, "coefficient": -0.1},
                 "vs_random": None if q is None else {"p_value": q}}
        return {"metric": metric, "keep": keep, "fits": {"power_law": {"params": {"nu": 0.5}}},
                "intervals": {"power_law": {"params": {"nu": {"low": 0.4, "high": 0.6}}}},
                "beyond_power_law": {"tests": tests, "false_positive_rate": {"vs_full_data": rate, "vs_random": 0.05},
                                     "n_null": 400}}
    return {"protocols": {"fixed_epochs": {"dispersion": 2.0, "frontiers": [
        frontier("el2n", "hard", p_full, p_random), frontier("random", "random", p_control)]}}}


@pytest.mark.parametrize("p_full,p_random,p_control,verdict", [
    (0.001, 0.01, 0.5, REPRODUCED), (0.001, 0.01, 0.01, NOT_RESOLVED), (0.3, 0.01, 0.5, NOT_RESOLVED),
    (0.99, 0.9, 0.5, NOT_REPRODUCED)])
def test_beyond_power_law_needs_the_f1_and_random_tests_and_a_quiet_control(p_full, p_random, p_control, verdict):
    claim = beyond_power_law_claim(_scaling_with(p_full, p_random, p_control), "fixed_epochs", "el2n", 3)
    assert claim["verdict"] == verdict
    assert claim["interval"] == [0.4, 0.6] and claim["detail"]["false_positive_rate"]["vs_full_data"] == 0.04


def test_beyond_power_law_is_not_called_where_the_measured_false_positive_rate_exceeds_alpha():
    claim = beyond_power_law_claim(_scaling_with(0.001, 0.01, 0.5, rate=0.125), "fixed_epochs", "el2n", 3)
    assert claim["verdict"] == NOT_RESOLVED


def test_a_liberal_test_rejects_only_below_its_calibrated_level():
    scaling = _scaling_with(0.02, 0.01, 0.5, rate=0.125)
    frontier = scaling["protocols"]["fixed_epochs"]["frontiers"][0]["beyond_power_law"]
    frontier["calibrated_level"] = {"vs_full_data": 0.01, "vs_random": 0.05}
    assert beyond_power_law_claim(scaling, "fixed_epochs", "el2n", 3)["verdict"] == NOT_RESOLVED
    frontier["calibrated_level"]["vs_full_data"] = 0.03
    assert beyond_power_law_claim(scaling, "fixed_epochs", "el2n", 3)["verdict"] == REPRODUCED


def test_calibrated_levels_make_the_measured_false_positive_rate_alpha():
    from prunebench.scaling.calibration import ALPHA, calibrated_levels, rates_of

    p_values = {"vs_full_data": list(np.random.default_rng(0).uniform(0, 0.4, size=1000))}  # a liberal test
    level = calibrated_levels(p_values)["vs_full_data"]
    assert rates_of(p_values)["vs_full_data"] > 0.1
    assert np.mean(np.asarray(p_values["vs_full_data"]) < level) == pytest.approx(ALPHA, abs=0.002)


def _config(claims=("crossover", "beyond_power_law", "no_loss", "ranking_transfer")):
    return {"name": "claimtest", "seed": 0, "sweep": {"panel_metric": "el2n"}, "scaling": {"n_boot": 100},
            "headline": {"anchor": False, "claims": list(claims)}}


def test_claim_entries_from_a_table_without_fixed_compute_or_baselines_say_no_rows():
    sweep = synthetic(_crossing(15000.0))
    entries = {e["name"]: e for e in claim_entries(_config(), sweep, analyse_sweep(sweep, n_boot=20, n_null=20))}
    fixed_compute = [e for name, e in entries.items() if name.startswith("claim_no_loss_fixed_compute")]
    assert fixed_compute and all(e["value"] == NO_ROWS and e["verdict"] == NO_ROWS for e in fixed_compute)
    assert entries["claim_crossover_el2n_f0.4"]["verdict"] == REPRODUCED
    assert entries["claim_beyond_power_law_el2n"]["verdict"] in (REPRODUCED, NOT_REPRODUCED, NOT_RESOLVED)
    assert {"claim_ranking_transfer_N5000", "claim_no_loss_fixed_epochs_random_random"} <= set(entries)
    assert all({"value", "interval", "n_seeds", "status", "verdict"} <= set(e) for e in entries.values())
    assert missing_methods(sweep) == ["InfoBatch (dynamic)", "RS2 without replacement", "RS2 with replacement",
                                      "compressed schedule"]


def test_fixed_compute_rows_enter_the_no_loss_claim():
    sweep = synthetic(_lossless_down_to(0.6), protocols=("fixed_epochs", "fixed_compute"), noise=0.0)
    entries = {e["name"]: e for e in claim_entries(_config(("no_loss",)), sweep, None)}
    assert entries["claim_no_loss_fixed_compute_el2n_hard"]["value"] == 0.6


def test_a_drifted_verdict_or_interval_fails_the_derived_check():
    sweep = synthetic(_crossing(15000.0))
    entries = claim_entries(_config(("crossover",)), sweep, None)
    assert not failed(compare_derived(entries, claim_entries(_config(("crossover",)), sweep, None), {"claimtest"}))
    name = "claim_crossover_el2n_f0.4"
    drifted = [{**e, "verdict": NOT_RESOLVED} if e["name"] == name else e for e in entries]
    assert {r["name"] for r in failed(compare_derived(drifted, entries, {"claimtest"}))} == {f"{name}[verdict]"}
    moved = [{**e, "interval": [e["interval"][0] * 1.01, e["interval"][1]]} if e["name"] == name else e for e in entries]
    assert {r["name"] for r in failed(compare_derived(moved, entries, {"claimtest"}))} == {f"{name}[interval_low]"}


def _with_methods(sweep):
    """Add InfoBatch, RS2 (both variants) and compressed-schedule rows at N_max."""
    rows = []
    for seed in (0, 1, 2):
        rows.append(_row("infobatch", 50000, 1.0, "infobatch", "dynamic", seed, 0.79, steps=70))
        for f in FRACTIONS:
            for keep in ("without-replacement", "with-replacement"):
                rows.append(_row("rs2", 50000, f, "rs2", keep, seed, 0.7 + 0.1 * f))
            rows.append(_row("compressed_schedule", 50000, f, "full-data", "compressed", seed, 0.69 + 0.1 * f))
    return pd.concat([sweep, pd.DataFrame(rows)], ignore_index=True)


def test_the_compute_figure_draws_every_method_and_names_the_missing_ones():
    sweep = synthetic(_crossing(15000.0))
    full = plot_accuracy_vs_compute(_with_methods(sweep), "test")
    labels = {text.get_text() for text in full.axes[1].get_legend().get_texts()}
    assert {"full data", "InfoBatch (dynamic)", "RS2 with replacement", "RS2 without replacement",
            "compressed schedule", "el2n keep hard", "random"} <= labels
    assert "no rows" not in full._suptitle.get_text()
    partial = plot_accuracy_vs_compute(sweep, "test")
    assert "no rows (skipped): InfoBatch" in partial._suptitle.get_text().replace("\n", " ")


def test_total_cost_sums_training_and_scoring_when_the_total_column_is_absent():
    sweep = synthetic(_crossing(15000.0))
    steps = total_cost(sweep, "steps")
    assert np.allclose(steps, sweep["train_steps"] + sweep["score_probe_steps"])
    with_total = sweep.assign(**{COST_UNITS["steps"][0]: 7.0})
    assert (total_cost(with_total, "steps") == 7.0).all()


def test_baseline_methods_are_not_fitted_as_scaling_curves_but_leave_the_claims_unchanged():
    sweep = synthetic(_crossing(15000.0))
    with_methods = _with_methods(sweep)
    summary = analyse_sweep(with_methods, n_boot=20, n_null=20)
    assert set(summary["protocols"]) == {"fixed_epochs"}
    assert claim_entries(_config(), with_methods, summary) == claim_entries(_config(), sweep,
                                                                             analyse_sweep(sweep, n_boot=20, n_null=20))


def test_figures_compute_cli_draws_from_a_sweep_table(tmp_path):
    from prunebench.cli import main
    from prunebench.config import load_config
    from prunebench.provenance import stage_hash
    from prunebench.sweep import write_sweep_table

    sweep = _with_methods(synthetic(_crossing(15000.0)))
    sweep["config_hash"] = stage_hash(load_config("cifar10-cpu"), "sweep_point")
    write_sweep_table(sweep, tmp_path / "sweep.parquet")
    out = tmp_path / "accuracy_vs_compute.png"
    assert main(["figures", "compute", "--config", "cifar10-cpu", "--sweep", str(tmp_path / "sweep.parquet"),
                 "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_the_fieller_crossover_interval_covers_the_true_crossover_at_the_nominal_rate():
    """5 sizes x 3 seeds, gap = 0.03 (ln N* - ln N) + N(0, 0.01): the 95% interval covers N* in
    >= 92% of 400 repeats (an unbounded interval covers)."""
    from prunebench.scaling.claims import gap_trend

    rng = np.random.default_rng(1)
    sizes = np.repeat(np.array(SIZES, float), 3)
    star, covered = 15000.0, []
    for _ in range(400):
        gaps = pd.DataFrame({"initial_size": sizes, "seed": np.tile([0, 1, 2], len(SIZES)),
                             "gap": 0.03 * (np.log(star) - np.log(sizes)) + rng.normal(0, 0.01, len(sizes))})
        trend = gap_trend(gaps)
        interval = fieller_interval(trend["b0"], trend["b1"], trend["se0"], trend["se1"], trend["t"])
        covered.append(interval is None or interval[0] <= np.log(star) - trend["centre"] <= interval[1])
    assert np.mean(covered) >= 0.92


def test_seconds_are_the_fastest_seed_and_steps_the_mean():
    """Wall time only grows with other load on the machine: a point's seconds are its fastest seed's
    (no horizontal bar); optimizer steps are the mean over seeds with their standard error."""
    from prunebench.figures.compute import cost_points

    rows = pd.DataFrame({"fraction_kept": [0.5] * 3, "seed": [0, 1, 2], "protocol": "rs2", "metric": "rs2",
                         "keep": "without-replacement", "initial_size": 100, "test_accuracy": [0.7, 0.72, 0.74],
                         "test_error": [0.3, 0.28, 0.26], "n_test": 1000, "train_steps": [10, 10, 13],
                         "score_probe_steps": 0, "train_wall_time_s": [60.0, 850.0, 64.0], "score_wall_time_s": 0.0})
    seconds, steps = cost_points(rows, "seconds"), cost_points(rows, "steps")
    assert seconds["cost"].tolist() == [60.0] and seconds["cost_se"].tolist() == [0.0]
    assert steps["cost"].tolist() == [11.0] and steps["cost_se"].iloc[0] == pytest.approx(1.0)
