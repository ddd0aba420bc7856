"""Headline numbers: building entries, merging, and the comparison check-headline runs."""

import json
import sys
from pathlib import Path

import pytest
import pandas as pd

from prunebench.cli import main
from prunebench.errors import PrunebenchError
from prunebench.headline import (
    compare, compare_entry, empirical_entries, failed, format_table, merge_entries, read_headline, write_headline,
)
from prunebench.scaling import analyse_sweep

sys.path.insert(0, str(Path(__file__).parent))
from test_scaling import synthetic_sweep  # noqa: E402


def entry(name, value, tolerance, scale="ci", **detail):
    return {"name": name, "scale": scale, "value": value, "tolerance": tolerance, "units": "", "description": "",
            "command": "", "detail": detail}


def test_numbers_pass_within_tolerance_and_fail_outside():
    expected = entry("nu_full_data", 0.30, {"abs": 0.05})
    assert compare_entry(expected, entry("nu_full_data", 0.34, {"abs": 0.05}))["status"] == "PASS"
    row = compare_entry(expected, entry("nu_full_data", 0.36, {"abs": 0.05}))
    assert row["status"] == "FAIL" and row["diff"] == pytest.approx(0.06)
    relative = entry("crossover", 1000.0, {"rel": 0.25})
    assert compare_entry(relative, entry("crossover", 1240.0, {}))["status"] == "PASS"
    assert compare_entry(relative, entry("crossover", 1260.0, {}))["status"] == "FAIL"


def test_null_values_and_categories():
    no_cross = entry("crossover", None, {"rel": 0.25})
    assert compare_entry(no_cross, entry("crossover", None, {}))["status"] == "PASS"
    assert compare_entry(no_cross, entry("crossover", 900.0, {}))["status"] == "FAIL"
    best = entry("best_metric_f0.5", "el2n/hard/fixed_epochs", {"tie_abs": 0.01})
    near_tie = entry("best_metric_f0.5", "forgetting/hard/fixed_epochs", {},
                     accuracies={"el2n/hard/fixed_epochs": 0.605, "forgetting/hard/fixed_epochs": 0.61})
    clear_loss = entry("best_metric_f0.5", "forgetting/hard/fixed_epochs", {},
                       accuracies={"el2n/hard/fixed_epochs": 0.55, "forgetting/hard/fixed_epochs": 0.61})
    assert compare_entry(best, near_tie)["status"] == "PASS"
    assert compare_entry(best, clear_loss)["status"] == "FAIL"


def test_missing_entry_fails_with_a_readable_table():
    expected = [entry("nu_full_data", 0.3, {"abs": 0.05}), entry("accuracy_full_data", 0.6, {"abs": 0.01})]
    got = [entry("nu_full_data", 0.31, {"abs": 0.05}), entry("something_new", 1.0, {"abs": 0.1})]
    rows = compare(expected, got, {"ci"})
    assert [r["status"] for r in rows] == ["PASS", "MISSING", "NEW"]
    assert [r["name"] for r in failed(rows)] == ["accuracy_full_data"]
    table = format_table(rows)
    assert table.splitlines()[0].split() == ["name", "scale", "expected", "got", "tol", "diff", "status"]
    assert "accuracy_full_data" in table and "MISSING" in table and "±0.05" in table


def test_no_entries_of_the_scale_is_a_clear_error():
    with pytest.raises(PrunebenchError, match="no entries of scale"):
        compare([entry("x", 1.0, {"abs": 1}, scale="cifar10")], [], {"ci"})


def test_missing_or_damaged_headline_file(tmp_path):
    with pytest.raises(PrunebenchError, match="headline build"):
        read_headline(tmp_path / "headline.json")
    (tmp_path / "headline.json").write_text("{not json")
    with pytest.raises(PrunebenchError, match="not valid JSON"):
        read_headline(tmp_path / "headline.json")


def test_merge_replaces_only_the_built_scales(tmp_path):
    document = {"entries": [entry("a", 1.0, {"abs": 0}, scale="cifar10"), entry("a", 1.0, {"abs": 0})]}
    merged = merge_entries(document, [entry("b", 2.0, {"abs": 0})], {"ci"})
    assert [(e["scale"], e["name"]) for e in merged["entries"]] == [("ci", "b"), ("cifar10", "a")]
    path = write_headline(merged, tmp_path / "headline.json")
    assert read_headline(path) == merged


def test_empirical_entries_from_a_synthetic_sweep():
    sweep = synthetic_sweep()
    config = {"name": "ci", "headline": {"gap_fraction_kept": 0.5, "best_metric_fractions": [0.5]}}
    entries = {e["name"]: e for e in empirical_entries(config, sweep, analyse_sweep(sweep, n_boot=10, n_null=0))}
    assert entries["nu_full_data"]["value"] == pytest.approx(0.3, abs=0.02)
    assert entries["crossover_size_el2n_f0.5"]["detail"]["direction"] == "easy->hard"
    assert entries["best_metric_f0.5"]["value"] == "el2n/hard"
    assert entries["gap_hard_vs_random_el2n_f0.5"]["value"] is None  # no random runs in this sweep
    json.dumps(list(entries.values()), allow_nan=False)  # strict JSON


def test_check_headline_cli_exit_status(tmp_path, monkeypatch):
    """--skip-retrain runs the derived check only: exit 0 when the re-derived entries match, 1 when not."""
    import prunebench.checks.derived as derived

    got = [entry("nu_full_data", 0.30, {"abs": 0.05})]
    monkeypatch.setattr(derived, "rederive_entries", lambda config, config_path, results: got)
    expected = tmp_path / "headline.json"
    write_headline({"entries": [entry("nu_full_data", 0.30, {"abs": 0.05})]}, expected)
    assert main(["check-headline", "--config", "ci", "--skip-retrain", "--expected", str(expected)]) == 0
    write_headline({"entries": [entry("nu_full_data", 0.3001, {"abs": 0.05})]}, expected)  # inside the old noise tolerance
    assert main(["check-headline", "--config", "ci", "--skip-retrain", "--expected", str(expected)]) == 1


def test_entries_carry_status_and_standard_errors():
    sweep = synthetic_sweep(n_test=2000)
    config = {"name": "ci", "headline": {"gap_fraction_kept": 0.5, "best_metric_fractions": [0.5]}}
    entries = {e["name"]: e for e in empirical_entries(config, sweep, analyse_sweep(sweep, n_boot=10, n_null=10))}
    assert all(e["status"] == "regression anchor (ci scale), not a finding" for e in entries.values())
    best = entries["best_metric_f0.5"]
    assert best["se_method"] == "seeds" and best["standard_error"] > 0
    assert best["value"] == ("el2n/hard" if best["resolved"] else "not resolved at this scale")
    finding = empirical_entries({"name": "cifar10", "headline": {"anchor": False}}, sweep, analyse_sweep(sweep, n_boot=0))
    assert {e["status"] for e in finding} == {"finding (cifar10 scale)"}


def test_one_seed_differences_use_the_binomial_error_and_ties_are_not_resolved():
    """Two strategies 0.4 points apart on 1,000 test images (binomial se ~ 0.022): no best metric,
    and a keep-hard/keep-easy sign change of that size is no crossover."""
    import pandas as pd

    rows = []
    for n in (400, 800, 1600):
        rows.append(dict(protocol="fixed_epochs", metric="none", keep="all", fraction_kept=1.0, initial_size=n,
                         n_kept=n, seed=0, test_accuracy=0.4, n_test=1000))
        for keep, accuracy in (("hard", 0.300 + (0.004 if n == 1600 else -0.004)), ("easy", 0.300)):
            rows.append(dict(protocol="fixed_epochs", metric="el2n", keep=keep, fraction_kept=0.5, initial_size=n,
                             n_kept=n // 2, seed=0, test_accuracy=accuracy, n_test=1000))
    sweep = pd.DataFrame(rows).assign(test_error=lambda t: 1 - t["test_accuracy"])
    config = {"name": "ci", "headline": {"best_metric_fractions": [0.5]}}
    entries = {e["name"]: e for e in empirical_entries(config, sweep, analyse_sweep(sweep, n_boot=0, n_null=0))}
    best = entries["best_metric_f0.5"]
    assert best["value"] == "not resolved at this scale" and best["detail"]["highest"] == "el2n/hard"
    assert best["se_method"].startswith("binomial") and best["standard_error"] == pytest.approx(0.0205, abs=1e-3)
    crossover = entries["crossover_size_el2n_f0.5"]
    assert crossover["value"] == "not resolved at this scale" and crossover["detail"]["interpolated_size"] > 800


def with_unbalanced_rows(sweep: pd.DataFrame, penalty: float = 0.02) -> pd.DataFrame:
    """The keep-hard rows again under protocol ``unbalanced``, ``penalty`` less accurate (mean and
    worst class), with class_balance 0.5 / 0 and a two-class per-class accuracy column."""
    sweep = sweep.assign(class_balance=0.5, worst_class_accuracy=sweep["test_accuracy"] - 0.1,
                         per_class_accuracy="[0.5, 0.5]")
    hard = sweep[(sweep["keep"] == "hard") & (sweep["protocol"] == "fixed_epochs")].copy()
    hard["protocol"], hard["class_balance"] = "unbalanced", 0.0
    for column in ("test_accuracy", "worst_class_accuracy"):
        hard[column] -= penalty + 0.001 * hard["seed"]
    hard["test_error"] = 1 - hard["test_accuracy"]
    return pd.concat([sweep, hard], ignore_index=True)


def test_class_balance_gain_is_balanced_minus_unbalanced():
    sweep = with_unbalanced_rows(synthetic_sweep(seeds=3))
    config = {"name": "ci", "headline": {"gap_fraction_kept": 0.5, "best_metric_fractions": [0.5]}}
    entries = {e["name"]: e for e in empirical_entries(config, sweep, analyse_sweep(sweep, n_boot=0, n_null=0))}
    gain = entries["class_balance_gain_el2n_hard_f0.5"]
    assert gain["value"] == pytest.approx(0.021, abs=1e-9)  # 0.02 + 0.001 x mean seed 1
    assert gain["detail"]["worst_class_gain"] == pytest.approx(0.021, abs=1e-9)
    assert gain["se_method"] == "seeds" and gain["standard_error"] > 0
    assert "class balance 0.5 minus class balance 0" in gain["description"]
    plain = {e["name"] for e in empirical_entries(config, synthetic_sweep(seeds=3),
                                                  analyse_sweep(synthetic_sweep(seeds=3), n_boot=0, n_null=0))}
    assert not any(name.startswith("class_balance_gain") for name in plain)  # only when unbalanced ran
