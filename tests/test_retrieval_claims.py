"""Retrieval headline entries (issue 17, :mod:`prunebench.scaling.retrieval_claims`): each arm's NDCG@10 and
Recall@20 against no pruning paired by seed, SP query coverage, steps to match no pruning, the budget
effects of ``sweep.step_budgets``, and the hook in ``headline.empirical_entries``; values worked by hand
from a synthetic sweep table. The committed retrieval-ci entries re-derive (check-headline)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from prunebench.headline import _entry, headline_settings
from prunebench.scaling.retrieval_claims import NOT_REACHED, retrieval_claims, retrieval_entries
from test_retrieval_arms import synthetic_sweep

CONTEXT = {"scale": "t", "command": "c", "status": "s"}
CONFIG = {"name": "t", "task": "retrieval", "seed": 0}


def table() -> pd.DataFrame:
    sweep = synthetic_sweep()
    sweep["initial_size"], sweep["eval_metric"], sweep["eval_higher_is_better"] = 146, "ndcg@10", True
    sweep["eval_error"] = 1 - sweep["eval_value"]
    sweep["test_accuracy"], sweep["n_test"] = sweep["eval_value"], 100  # what the generic entries read
    return sweep


def test_arms_against_no_pruning_coverage_and_steps_to_match():
    claims = {c["tag"]: c for c in retrieval_claims(table())}
    assert set(claims) == {"fixed_epochs_pretrained-similarity_easy_f0.5", "opera_opera_dynamic_f1",
                           "pretrained_pretrained_zero-shot_f1"}
    sp, dp = claims["fixed_epochs_pretrained-similarity_easy_f0.5"], claims["opera_opera_dynamic_f1"]
    zero = claims["pretrained_pretrained_zero-shot_f1"]
    # per seed s: no pruning 0.50 + 0.01 s, SP 0.52 + 0.01 s, DP 0.55 + 0.01 s (recall = ndcg + 0.2)
    assert sp["ndcg_vs_no_pruning"]["value"] == pytest.approx(0.02) and sp["ndcg_vs_no_pruning"]["n_pairs"] == 3
    assert dp["recall_vs_no_pruning"]["value"] == pytest.approx(0.05)
    assert zero["ndcg_vs_no_pruning"]["n_pairs"] == 1 and zero["ndcg_vs_no_pruning"]["se"] is None
    assert zero["ndcg_vs_no_pruning"]["value"] == pytest.approx(0.40 - 0.50) and zero["steps_to_match"] is None
    assert sp["query_coverage"] == pytest.approx(0.8) and dp["query_coverage"] is None  # DP trains on all pairs
    # DP's curve per seed: (0, 0.40 pretrained), (16, 0.52 + 0.008 s), (32, 0.55 + 0.01 s); target 0.50 + 0.01 s
    expected = [16 * (0.10 + 0.01 * s) / (0.12 + 0.008 * s) for s in (0, 1, 2)]
    steps = dp["steps_to_match"]
    assert steps["value"] == pytest.approx(np.mean(expected)) and steps["n_reached"] == 3
    assert steps["se"] == pytest.approx(np.std(expected, ddof=1) / np.sqrt(3))
    # SP: (16, 0.496 + 0.008 s) falls short, (32, 0.52 + 0.01 s) reaches it
    sp_expected = [16 + 16 * (0.004 + 0.002 * s) / (0.024 + 0.002 * s) for s in (0, 1, 2)]
    assert sp["steps_to_match"]["value"] == pytest.approx(np.mean(sp_expected))


def test_unreached_and_partly_reached_targets():
    sweep = table()
    sp = sweep["metric"] == "pretrained-similarity"
    sweep.loc[sp, "quality_curve"] = [json.dumps([[16, 0.3], [32, 0.45 + (0.2 if s == 0 else 0.0)]])
                                      for s in sweep.loc[sp, "seed"]]
    claim = next(c for c in retrieval_claims(sweep) if c["metric"] == "pretrained-similarity")
    assert claim["steps_to_match"]["value"] == "reached by 1 of 3 seeds" and claim["steps_to_match"]["se"] is None
    sweep.loc[sp, "quality_curve"] = json.dumps([[16, 0.3], [32, 0.45]])
    claim = next(c for c in retrieval_claims(sweep) if c["metric"] == "pretrained-similarity")
    assert claim["steps_to_match"]["value"] == NOT_REACHED


def test_entries_only_for_retrieval_tables_and_through_the_headline_hook():
    from prunebench.headline import empirical_entries

    sweep = table()
    settings = headline_settings(CONFIG)
    entries = {e["name"]: e for e in retrieval_entries(CONFIG, sweep, settings, CONTEXT, _entry)}
    e = entries["ndcg_at_10_vs_no_pruning_opera_opera_dynamic_f1"]
    assert e["value"] == pytest.approx(0.05) and e["detail"]["n_pairs"] == 3
    assert e["resolved"] is True and e["standard_error"] == pytest.approx(0.0, abs=1e-9)
    assert entries["query_coverage_fixed_epochs_pretrained-similarity_easy_f0.5"]["value"] == pytest.approx(0.8)
    assert "steps_to_match_no_pruning_opera_opera_dynamic_f1" in entries
    assert not any(name.startswith("query_coverage_opera") for name in entries)
    image = sweep.drop(columns=["eval_metric", "eval_value", "eval_error", "eval_higher_is_better"])
    image["test_accuracy"] = 0.9
    assert retrieval_entries({"name": "t", "seed": 0}, image, settings, CONTEXT, _entry) == []
    hooked = {e["name"] for e in empirical_entries(CONFIG, sweep, {})}
    assert set(entries) <= hooked


def test_budget_effect_entries_read_each_budgets_table(tmp_path):
    from prunebench.provenance import stage_hash
    from prunebench.sweep.plan import budget_config

    config = {**CONFIG, "probe": {"steps": 32}, "sweep": {"sizes": [146], "step_budgets": [32, 128]}}
    for steps, shift, folder in ((32, 0.0, tmp_path), (128, -0.03, tmp_path / "steps128")):
        sweep = table()
        opera = sweep["protocol"] == "opera"
        sweep.loc[~opera, "eval_value"] += shift  # longer: every arm loses 0.03 but DP, which holds
        sweep["eval_error"] = 1 - sweep["eval_value"]
        sweep["config_hash"] = stage_hash(budget_config(config, steps), "sweep_point")
        sweep["n_kept"], sweep["test_error"], sweep["test_accuracy"] = 146, 1 - sweep["eval_value"], sweep["eval_value"]
        folder.mkdir(exist_ok=True)
        sweep.to_parquet(folder / "sweep.parquet")
    entries = {e["name"]: e for e in retrieval_entries(config, table(), headline_settings(config), CONTEXT, _entry,
                                                       results=tmp_path)}
    base = entries["ndcg_at_10_budget_effect_fixed_epochs_none_all_f1_32_to_128"]
    assert base["value"] == pytest.approx(-0.03) and base["detail"]["n_pairs"] == 3 and base["resolved"]
    assert entries["ndcg_at_10_budget_effect_opera_opera_dynamic_f1_32_to_128"]["value"] == pytest.approx(0.0)
    # the 128-step arms against the 128-step no pruning, from that budget's table (suffix _steps128)
    at_32 = entries["ndcg_at_10_vs_no_pruning_opera_opera_dynamic_f1"]["value"]
    assert entries["ndcg_at_10_vs_no_pruning_opera_opera_dynamic_f1_steps128"]["value"] == pytest.approx(at_32 + 0.03)
    assert "128 optimizer steps" in entries["ndcg_at_10_vs_no_pruning_opera_opera_dynamic_f1_steps128"]["description"]
    assert not any(name.endswith("_steps32") for name in entries)


def test_headline_build_refit_reproduces_the_committed_retrieval_ci_headline(tmp_path):
    """The workflow's retrieval headline (``headline build --refit``, no scaling stage) is the derived
    check's computation: from the committed sweep table it writes the committed file, entry for entry."""
    from prunebench.cli import main
    from prunebench.provenance import REPO_ROOT

    committed = REPO_ROOT / "results" / "retrieval-ci"
    out = tmp_path / "headline.json"
    assert main(["headline", "build", "--config", "retrieval-ci", "--sweep", str(committed / "sweep.parquet"),
                 "--refit", "--out", str(out), "--no-merge"]) == 0
    assert json.loads(out.read_text()) == json.loads((committed / "headline.json").read_text())


def test_headline_build_refit_refuses_a_missing_sweep_table_in_one_line(tmp_path, capsys):
    from prunebench.cli import main

    status = main(["headline", "build", "--config", "retrieval-ci", "--sweep", str(tmp_path / "none.parquet"),
                   "--refit", "--out", str(tmp_path / "h.json"), "--no-merge"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status != 0 and len(err) == 1 and "not found" in err[0], err
