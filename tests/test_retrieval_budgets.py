"""Every retrieval arm at several step budgets (``sweep.step_budgets``, issue 17): the plan (nothing
changes without the key; other budgets under ``steps<B>/``), the runs (``train_steps``/``step_budget``
in the row, the curve kept), one table per budget (never pooled) and the budget effects. Tiny random
encoder and a generated BEIR folder only."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from prunebench.errors import PrunebenchError
from prunebench.sweep.plan import (SweepPoint, budget_config, budget_points, extra_budgets, plan_points,
                                   step_budgets)
from test_retrieval_arms import tiny_config, write_beir


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    torch.set_num_threads(1)


def with_budgets(config: dict, budgets) -> dict:
    config = copy.deepcopy(config)
    config["sweep"] = {**config["sweep"], "step_budgets": budgets}
    return config


def test_budgets_leave_the_plan_unchanged_and_plan_other_budgets_under_their_folder(tmp_path):
    config = tiny_config(tmp_path)  # recipe steps 6
    config["sweep"].update({"protocols": ["fixed_epochs"], "metrics": ["random"], "fractions_kept": [1.0, 0.5],
                            "protocol_cells": {"opera": {}}})
    plain = [p.relative_path() for p in plan_points(config)]
    assert step_budgets(config) == [] and budget_points(config) == []
    budgeted = with_budgets(config, [24, 6])
    assert [p.relative_path() for p in plan_points(budgeted)] == plain  # the recipe's budget is the scale's sweep
    assert step_budgets(budgeted) == [6, 24] and extra_budgets(budgeted) == [24]
    extra = budget_points(budgeted)
    assert [bp.relative_path() for bp in extra] == [f"steps24/runs/{path}" for path in plain]
    assert budget_config(budgeted, 24)["sweep"]["train"]["steps"] == 24
    assert "step_budgets" not in budget_config(budgeted, 24)["sweep"]
    assert budget_config(budgeted, 6)["sweep"].get("train", {}) == config["sweep"].get("train", {})


@pytest.mark.parametrize("budgets, match", [([12, 24], "must contain the recipe's own steps"),
                                            ([6, 6], "distinct positive"), ([6, 0], "distinct positive"),
                                            ([6, "x"], "distinct positive")])
def test_bad_budgets_are_one_line(tmp_path, budgets, match):
    with pytest.raises(PrunebenchError, match=match) as err:
        step_budgets(with_budgets(tiny_config(tmp_path), budgets))
    assert "\n" not in str(err.value)


def test_an_epoch_recipe_refuses_step_budgets():
    config = {"name": "x", "seed": 0, "probe": {"epochs": 2}, "sweep": {"sizes": [10], "step_budgets": [10, 20]}}
    with pytest.raises(PrunebenchError, match="needs a step-based recipe"):
        step_budgets(config)


def test_budget_runs_tables_and_effects(tmp_path):
    from prunebench.provenance import stage_hash
    from prunebench.sweep.aggregate import sweep_table, write_sweep_table
    from prunebench.sweep.point import read_row, run_point, write_row
    from prunebench.tasks.retrieval.budgets import (aggregate_budget, budget_effects, run_budget_point,
                                                    write_budgets)

    config = with_budgets(tiny_config(write_beir(tmp_path / "beir")), [6, 12])
    results = tmp_path / "results"
    base, dp = SweepPoint("fixed_epochs", 32, "none", "all", 1.0, 0), SweepPoint("opera", 32, "opera", "dynamic", 1.0, 0)
    own = {}
    for point in (base, dp):
        own[point.protocol] = write_row(run_point(config, point, threads=1), results / "runs" / point.relative_path())
    rows = {}
    for point in (base, dp):
        rows[point.protocol] = run_budget_point(config, 12, point, threads=1)
        write_row(rows[point.protocol], results / "steps12" / "runs" / point.relative_path())
    long = rows["opera"]
    assert long["train_steps"] == 12 and long["step_budget"] == 12
    assert [s for s, _ in json.loads(long["quality_curve"])] == [3, 12]  # eval_steps [3] and the end
    assert long["config_hash"] == stage_hash(budget_config(config, 12), "sweep_point") != read_row(own["opera"])["config_hash"]
    with pytest.raises(PrunebenchError, match="another step budget"):
        run_budget_point(config, 12, SweepPoint("fixed_compute", 32, "random", "random", 0.5, 0),
                         baseline_row=read_row(own["fixed_epochs"]), threads=1)
    with pytest.raises(PrunebenchError, match="not one of sweep.step_budgets"):
        run_budget_point(config, 7, base, threads=1)
    # one table per budget: the recipe's own is the scale's sweep; budget 12's is steps12/sweep.parquet
    write_sweep_table(sweep_table(list(own.values())), results / "sweep.parquet")
    table12 = aggregate_budget(config, 12, [results / "steps12" / "runs" / p.relative_path() for p in (base, dp)])
    write_sweep_table(table12, results / "steps12" / "sweep.parquet")
    with pytest.raises(PrunebenchError, match="made with other settings"):
        aggregate_budget(config, 12, list(own.values()))  # budget-6 runs given as budget 12
    document = write_budgets(config, tmp_path / "b.csv", tmp_path / "b.json", results=results, figures=tmp_path / "fig")
    arms = pd.read_csv(tmp_path / "b.csv")
    assert sorted(set(arms["step_budget"])) == [6, 12]
    short = {p: read_row(path)["eval_value"] for p, path in own.items()}
    for budget, values in ((6, short), (12, {p: r["eval_value"] for p, r in rows.items()})):
        at = arms[arms["step_budget"] == budget].set_index("arm")
        assert at.loc["no pruning", "ndcg_at_10"] == pytest.approx(values["fixed_epochs"])  # never pooled
        assert at.loc["DP (OPERA)", "ndcg_at_10"] == pytest.approx(values["opera"])
        assert at.loc["DP (OPERA)", "train_steps"] == budget
    effects = {e["arm"]: e for e in document["budget_effects"]}
    assert effects["DP (OPERA)"]["delta_ndcg_at_10"] == pytest.approx(long["eval_value"] - short["opera"])
    assert effects["no pruning"]["n_pairs"] == 1 and effects["no pruning"]["se"] is None
    assert effects["no pruning"]["from_steps"] == 6 and effects["no pruning"]["to_steps"] == 12
    assert json.loads((tmp_path / "b.json").read_text())["step_budgets"] == [6, 12]
    own_arms = json.loads((results / "steps12" / "retrieval_arms.json").read_text())["arms"]
    assert {a["arm"]: a["train_steps"] for a in own_arms} == {"no pruning": 12, "DP (OPERA)": 12}
    assert (tmp_path / "fig" / "steps12" / "retrieval_quality_vs_steps.png").stat().st_size > 1000
    assert budget_effects({6: pd.DataFrame(columns=["protocol", "metric", "keep", "fraction_kept", "seed",
                                                    "eval_value"]), 12: table12}) == []
    assert np.isfinite(effects["no pruning"]["delta_ndcg_at_10"])
