"""The analysis reads the task's evaluation columns (``prunebench.scaling.columns``): scaling fits,
claims, headline and figures use ``eval_error`` when the table has it and ``1 - test_accuracy``
when it does not, and label their axes from the task's metric."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prunebench.errors import PrunebenchError
from prunebench.scaling import analyse_sweep
from prunebench.scaling.columns import error_label, eval_metric, with_eval_columns

SIZES = (100, 200, 400, 800, 1600, 3200)


def full_data_table(error_nu: float, accuracy_nu: float) -> pd.DataFrame:
    """f = 1 runs whose ``eval_error`` is 0.9·P^-error_nu and whose 1 - test_accuracy is
    0.9·P^-accuracy_nu (two different power laws), no n_test (log-space least squares)."""
    sizes = np.asarray(SIZES, float)
    return pd.DataFrame({"protocol": "fixed_epochs", "metric": "none", "keep": "all", "fraction_kept": 1.0,
                         "initial_size": sizes.astype(int), "n_kept": sizes.astype(int), "seed": 0,
                         "test_accuracy": 1 - 0.9 * sizes ** -accuracy_nu, "eval_error": 0.9 * sizes ** -error_nu,
                         "eval_value": 1 - 0.9 * sizes ** -error_nu, "eval_metric": "accuracy",
                         "eval_higher_is_better": True})


def fitted_nu(table: pd.DataFrame) -> float:
    return analyse_sweep(table, n_boot=0, n_null=0)["full_data"]["fits"]["power_law"]["params"]["nu"]


def test_scaling_fits_eval_error_when_the_table_has_it():
    table = full_data_table(error_nu=0.5, accuracy_nu=0.2)
    assert fitted_nu(table) == pytest.approx(0.5, rel=1e-6)
    assert fitted_nu(table.drop(columns=["eval_error", "eval_value", "eval_metric", "eval_higher_is_better"])) == \
        pytest.approx(0.2, rel=1e-6)  # a table without the column: 1 - test_accuracy


def test_missing_eval_error_is_one_minus_test_accuracy_row_by_row():
    table = full_data_table(error_nu=0.5, accuracy_nu=0.2).astype({"eval_higher_is_better": object})
    table.loc[[0, 1], ["eval_error", "eval_value", "eval_metric", "eval_higher_is_better"]] = None
    filled = with_eval_columns(table)
    np.testing.assert_array_equal(filled["eval_error"][:2], 1 - table["test_accuracy"][:2])
    np.testing.assert_array_equal(filled["eval_error"][2:], table["eval_error"][2:])
    assert filled["eval_metric"].tolist() == ["accuracy"] * len(table) and filled["eval_higher_is_better"].all()
    legacy = table.drop(columns=["eval_error", "eval_value", "eval_metric", "eval_higher_is_better"])
    assert with_eval_columns(legacy)["eval_error"].tolist() == (1 - legacy["test_accuracy"]).tolist()


def test_a_table_mixing_metrics_is_refused_and_labels_follow_the_metric():
    table = full_data_table(0.5, 0.2)
    assert eval_metric(table) == "accuracy" and error_label("accuracy") == "test error"
    assert error_label("ndcg@10") == "1 - NDCG@10" and error_label("perplexity").startswith("log perplexity")
    with pytest.raises(PrunebenchError, match="mixes evaluation metrics accuracy, perplexity"):
        eval_metric(table.assign(eval_metric=["accuracy"] * 3 + ["perplexity"] * 3))


def strategy_table() -> pd.DataFrame:
    """Baseline plus random and el2n/hard at f = 0.5 (2 seeds): by test_accuracy el2n is worse than
    random, by eval_error it is better."""
    rows = []
    for n in SIZES:
        for seed in (0, 1):
            for metric, keep, f, accuracy, error in (("none", "all", 1.0, 0.6, 0.3), ("random", "random", 0.5, 0.5, 0.45),
                                                     ("el2n", "hard", 0.5, 0.4, 0.35)):
                rows.append({"protocol": "fixed_epochs", "metric": metric, "keep": keep, "fraction_kept": f,
                             "initial_size": n, "n_kept": int(f * n), "seed": seed, "n_test": 1000,
                             "test_accuracy": accuracy + 0.01 * seed, "eval_error": error + 0.01 * seed,
                             "eval_value": 1 - error - 0.01 * seed, "eval_metric": "ndcg@10",
                             "eval_higher_is_better": True})
    return pd.DataFrame(rows).assign(test_error=lambda t: 1 - t["test_accuracy"])


def test_headline_gap_and_full_data_value_read_the_task_columns():
    from prunebench.headline import empirical_entries

    sweep = strategy_table()
    entries = {e["name"]: e for e in empirical_entries({"name": "toy", "headline": {"best_metric_fractions": [0.5]}},
                                                       sweep, analyse_sweep(sweep, n_boot=0, n_null=0))}
    gap = entries["gap_hard_vs_random_el2n_f0.5"]
    assert gap["value"] == pytest.approx(0.45 - 0.35) and gap["units"].startswith("reduction of 1 - NDCG@10")
    assert entries["accuracy_full_data"]["value"] == pytest.approx(1 - 0.305)  # mean eval_value of the 2 seeds
    assert entries["accuracy_full_data"]["units"] == "NDCG@10"
    assert entries["best_metric_f0.5"]["detail"]["highest"] == "el2n/hard"


def test_figures_plot_eval_error_and_label_it_from_the_metric():
    from prunebench.figures.empirical import plot_error_vs_pruned_size, plot_metric_benchmark

    sweep = strategy_table()
    fig = plot_error_vs_pruned_size(sweep, None, "fixed_epochs", "el2n", "toy")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "1 - NDCG@10"
    drawn = np.array([float(y) for line in ax.lines if line.get_gid() is None for y in line.get_ydata()])
    # el2n/hard's seed-mean eval_error (0.355) is drawn, not its 1 - test_accuracy (0.595)
    assert np.isclose(drawn, 0.355).any() and not np.isclose(drawn, 0.595).any()
    benchmark = plot_metric_benchmark(sweep, "fixed_epochs", "toy")
    assert benchmark.axes[0].get_ylabel() == "NDCG@10"
