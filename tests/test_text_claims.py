"""Perplexity-pruning claims of a text sweep (prunebench.scaling.text_claims, Ankner et al. 2024)."""

import json

import numpy as np
import pandas as pd
import pytest

from prunebench.headline import _entry, empirical_entries, headline_settings
from prunebench.scaling.text_claims import (NOT_REACHED, is_text_table, paired_difference, text_claims,
                                            text_entries)

TEXT_PREFIXES = ("nll_vs_random_", "steps_to_match_speedup_", "best_window_")


def _curve(points):
    return json.dumps([[step, step * 1000, nll] for step, nll in points])


def _row(n, metric, keep, f, seed, nll, curve):
    return {"protocol": "fixed_epochs", "initial_size": n, "fraction_kept": f, "metric": metric, "keep": keep,
            "seed": seed, "eval_metric": "perplexity", "eval_value": float(np.exp(nll)), "eval_error": nll,
            "eval_higher_is_better": False, "test_accuracy": np.nan, "n_test": 100, "eval_curve": _curve(curve)}


def text_table() -> pd.DataFrame:
    """N_max = 100, f = 0.5, 3 seeds. Baseline final NLL 2.0 at step 20 (every seed). random never reaches
    it; perplexity/high reaches it at steps 10, 15, 18; perplexity/low only at seed 0 (step 20)."""
    rows = []
    for s in range(3):
        rows.append(_row(100, "none", "all", 1.0, s, 2.0, [(10, 3.0), (20, 2.0)]))
        rows.append(_row(100, "random", "random", 0.5, s, [2.5, 2.6, 2.7][s], [(10, 2.4), (20, 2.2)]))
    high = [[(10, 2.0), (20, 1.9)], [(10, 2.5), (20, 1.5)], [(10, 2.4), (20, 1.9)]]
    low = [[(10, 2.5), (20, 2.0)], [(10, 2.5), (20, 2.1)], [(10, 2.6), (20, 2.3)]]
    for s in range(3):
        rows.append(_row(100, "perplexity", "high", 0.5, s, 2.4, high[s]))
        rows.append(_row(100, "perplexity", "low", 0.5, s, [2.6, 2.75, 2.8][s], low[s]))
        rows.append(_row(50, "perplexity", "high", 0.5, s, 9.0, [(10, 9.0)]))   # smaller N: ignored
    return pd.DataFrame(rows)


def _claim(claims, metric, keep):
    return next(c for c in claims if c["metric"] == metric and c["keep"] == keep)


def test_nll_vs_random_is_paired_by_seed_at_the_largest_size():
    claims = text_claims(text_table())
    assert {c["initial_size"] for c in claims} == {100}
    high = _claim(claims, "perplexity", "high")["nll_vs_random"]
    assert high["per_seed"] == pytest.approx({0: -0.1, 1: -0.2, 2: -0.3})
    assert high["value"] == pytest.approx(-0.2)
    assert high["se"] == pytest.approx(0.1 / np.sqrt(3))       # sd of (-0.1, -0.2, -0.3) is 0.1
    assert high["se_method"] == "seeds (paired by seed)" and high["resolved"] is True
    low = _claim(claims, "perplexity", "low")["nll_vs_random"]
    assert low["value"] == pytest.approx(0.35 / 3)
    assert low["se"] == pytest.approx(np.std([0.1, 0.15, 0.1], ddof=1) / np.sqrt(3))
    assert _claim(claims, "random", "random")["nll_vs_random"] is None


def test_one_seed_has_no_standard_error():
    table = text_table()
    one = paired_difference(table[(table.metric == "perplexity") & (table.keep == "high") & (table.seed == 0)
                                  & (table.initial_size == 100)],
                            table[(table.metric == "random") & (table.seed == 0)])
    assert one["value"] == pytest.approx(-0.1) and one["se"] is None and one["resolved"] is False


def test_steps_to_match_speedup_per_seed_and_mean():
    speed = _claim(text_claims(text_table()), "perplexity", "high")["speedup"]
    assert [speed["per_seed"][s]["steps"] for s in range(3)] == pytest.approx([10.0, 15.0, 18.0])
    assert all(speed["per_seed"][s]["baseline_steps"] == 20.0 for s in range(3))
    ratios = [2.0, 20 / 15, 20 / 18]
    assert speed["value"] == pytest.approx(40 / 27)             # mean of 2, 4/3, 10/9
    assert speed["se"] == pytest.approx(np.std(ratios, ddof=1) / np.sqrt(3))
    assert (speed["n_reached"], speed["n_seeds"]) == (3, 3)
    assert speed["resolved"] is False                           # 0.48 < 1.96 * 0.267


def test_seeds_that_never_reach_the_baseline_loss():
    claims = text_claims(text_table())
    low = _claim(claims, "perplexity", "low")["speedup"]
    assert low["value"] == "reached by 1 of 3 seeds" and low["n_reached"] == 1
    assert low["per_seed"][0]["speedup"] == pytest.approx(1.0)
    assert low["per_seed"][1]["steps"] is None and low["per_seed"][1]["speedup"] is None
    assert low["se"] is None and low["resolved"] is False
    random = _claim(claims, "random", "random")["speedup"]
    assert random["value"] == NOT_REACHED and random["n_reached"] == 0


def test_headline_entries_of_a_text_scale():
    config = {"name": "toy-text", "task": "text-lm", "headline": {"best_metric_fractions": [0.5]}}
    entries = {e["name"]: e for e in empirical_entries(config, text_table(), {})}
    gap = entries["nll_vs_random_perplexity_high_f0.5"]
    assert gap["value"] == pytest.approx(-0.2) and gap["resolved"] is True
    assert gap["standard_error"] == pytest.approx(0.1 / np.sqrt(3), rel=1e-5)
    assert entries["steps_to_match_speedup_perplexity_high_f0.5"]["value"] == pytest.approx(40 / 27, rel=1e-5)
    assert entries["steps_to_match_speedup_random_random_f0.5"]["value"] == NOT_REACHED
    best = entries["best_window_perplexity_f0.5"]
    assert best["value"] == "high" and best["resolved"] is True   # low - high per seed: 0.2, 0.35, 0.4
    assert best["detail"]["margin"] == pytest.approx(0.95 / 3, rel=1e-5)
    assert best["standard_error"] == pytest.approx(np.std([0.2, 0.35, 0.4], ddof=1) / np.sqrt(3), rel=1e-5)
    assert "nll_vs_random_random_random_f0.5" not in entries
    assert {"accuracy_full_data", "nu_full_data", "best_metric_f0.5"} <= set(entries)


def test_best_window_not_resolved_within_error():
    table = text_table()
    low = (table.metric == "perplexity") & (table.keep == "low")
    table.loc[low, "eval_error"] = [2.5, 2.3, 2.5]              # low - high: 0.1, -0.1, 0.1 (mean 0.033)
    config = {"name": "toy-text", "task": "text-lm"}
    entries = {e["name"]: e for e in text_entries(config, table, headline_settings(config),
                                                   {"scale": "toy-text", "command": "c", "status": "s"}, _entry)}
    assert entries["best_window_perplexity_f0.5"]["value"] == "not resolved at this scale"
    assert entries["best_window_perplexity_f0.5"]["detail"]["lowest"] == "high"


def test_image_table_gets_no_text_entries():
    table = text_table().drop(columns=["eval_curve"])
    accuracy = 1 - table["eval_error"] / 10
    table = table.assign(eval_metric="accuracy", test_accuracy=accuracy, eval_value=accuracy,
                         eval_error=1 - accuracy, eval_higher_is_better=True)
    config = {"name": "toy-image", "headline": {"best_metric_fractions": [0.5]}}
    assert not is_text_table(table, config)
    assert text_entries(config, table, headline_settings(config), {"scale": "toy-image", "command": "c",
                                                                   "status": "s"}, _entry) == []
    names = {e["name"] for e in empirical_entries(config, table, {})}
    assert names == {"accuracy_full_data", "nu_full_data", "best_metric_f0.5"}


def test_downstream_evaluations_are_paired_against_random_like_the_nll():
    """Clean-prose NLL and sentiment accuracy get the seed-paired difference against random (the
    paper's point that upstream perplexity is not the whole story); a table without them gets none."""
    table = text_table()
    table["eval_nll_clean"] = table["eval_error"] - 0.1 * (table["keep"] == "low")
    table["sentiment_accuracy"] = 0.5 + 0.05 * (table["keep"] == "high") + 0.01 * table["seed"]
    claims = text_claims(table)
    high = _claim(claims, "perplexity", "high")["downstream"]
    assert high["sentiment_accuracy"]["value"] == pytest.approx(0.05)
    assert high["sentiment_accuracy"]["per_seed"] == pytest.approx({0: 0.05, 1: 0.05, 2: 0.05})
    low = _claim(claims, "perplexity", "low")["downstream"]["eval_nll_clean"]
    assert low["value"] == pytest.approx(np.mean([2.6 - 2.5, 2.75 - 2.6, 2.8 - 2.7]) - 0.1)
    names = {e["name"] for e in text_entries({"task": "text-lm"}, table, headline_settings({}),
                                             {"scale": "t", "command": "c", "status": "s"}, _entry)}
    assert {"clean_nll_vs_random_perplexity_high_f0.5", "sentiment_vs_random_perplexity_low_f0.5"} <= names
    assert not any(c["downstream"] for c in text_claims(text_table()))
