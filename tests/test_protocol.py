"""Protocol choices of the sweep (docs/protocol.md): score source, CCS as one strategy, class balance
per scale, one rounding of the kept count."""

import math
import os

import numpy as np
import pytest

from prunebench.config import load_config
from prunebench.errors import PrunebenchError
from prunebench.selection import kept_count, select
from prunebench.selection.io import selection_settings
from prunebench.sweep import SweepPoint, parse_point, plan_points
from prunebench.sweep.plan import check_point_rule, score_table_path
from prunebench.sweep.point import point_seeds, prune_for_point, selection_choice

CONFIG = {
    "name": "protocoltest",
    "seed": 0,
    "device": "cpu",
    "data": {"train_size": 400, "test_size": 200},
    "probe": {"model": "airbench", "model_kwargs": {"width": [8, 16, 16]}, "epochs": 1, "batch_size": 50,
              "lr": 0.2, "tta": False, "progress": False, "whiten_samples": 100},
    "metrics": {"names": ["el2n"], "el2n": {"ensemble_size": 1, "epoch": 1}},
    "sweep": {"sizes": [200], "fractions_kept": [1.0, 0.5], "metrics": ["random", "el2n"], "keep": ["easy", "hard"],
              "seeds": [0], "test_size": 100},
}


# -- kept count: floor(f N + 1/2), one function ---------------------------------------------------------------
@pytest.mark.parametrize("n, fraction, expected", [(5, 0.5, 3), (9, 0.5, 5), (1, 0.5, 1), (7, 0.5, 4), (5, 0.7, 4),
                                                   (10, 0.25, 3), (3, 0.5, 2)])
def test_kept_count_rounds_half_up(n, fraction, expected):
    assert kept_count(n, fraction) == expected == max(1, math.floor(fraction * n + 0.5 + 1e-9))


@pytest.mark.parametrize("rule", ["topk", "ccs"])
def test_selection_keeps_the_half_up_count(rule):
    scores = np.arange(5, dtype=float)
    assert len(select(scores, np.zeros(5, int), 0.5, keep="hard" if rule == "topk" else "ccs", seed=0,
                      rule=rule, ccs_strata=2)) == 3


# -- class balance: what the paper did per dataset ------------------------------------------------------------
@pytest.mark.parametrize("scale, expected", [("smoke", 0.0), ("ci", 0.0), ("cifar10", 0.0), ("imagenet", 0.5)])
def test_class_balance_default_is_the_papers_per_scale(scale, expected):
    config = load_config(scale)
    assert selection_choice(config)["class_balance"] == expected


@pytest.mark.parametrize("dataset, expected", [("cifar10", 0.0), ("imagenet", 0.5)])
def test_class_balance_default_follows_the_dataset_when_unset(dataset, expected):
    assert selection_settings({"data": {"dataset": dataset}})["class_balance"] == expected
    assert selection_settings({"data": {"dataset": dataset}, "selection": {"class_balance": 0.3}})["class_balance"] == 0.3


# -- CCS: one strategy ---------------------------------------------------------------------------------------
def ccs_config():
    return {**CONFIG, "sweep": {**CONFIG["sweep"], "selection_rule": "ccs"}}


def test_ccs_sweep_plans_one_keep_value():
    pruned = [p for p in plan_points(ccs_config()) if not p.is_baseline]
    assert {(p.metric, p.keep) for p in pruned} == {("random", "random"), ("el2n", "ccs")}
    assert {(p.metric, p.keep) for p in plan_points(CONFIG) if not p.is_baseline} == {
        ("random", "random"), ("el2n", "easy"), ("el2n", "hard")}


def test_ccs_keep_fits_only_the_ccs_rule():
    point = parse_point("fixed_epochs", 200, "el2n", "ccs", 0.5, 0)
    check_point_rule(ccs_config(), point)
    with pytest.raises(PrunebenchError, match="does not fit"):
        check_point_rule(CONFIG, point)
    with pytest.raises(PrunebenchError, match="does not fit"):
        check_point_rule(ccs_config(), parse_point("fixed_epochs", 200, "el2n", "hard", 0.5, 0))
    with pytest.raises(PrunebenchError):
        parse_point("fixed_epochs", 200, "random", "ccs", 0.5, 0)
    with pytest.raises(PrunebenchError, match="rule ccs"):
        select(np.arange(4.0), np.zeros(4, int), 0.5, keep="ccs", rule="topk")


# -- score source --------------------------------------------------------------------------------------------
def test_score_table_paths_per_source(tmp_path):
    point = SweepPoint("fixed_epochs", 200, "el2n", "hard", 0.5, 3)
    assert score_table_path(tmp_path, point, "initial_subset") == tmp_path / "scores/subset/N200/seed3/el2n.parquet"
    assert score_table_path(tmp_path, point, "full") == tmp_path / "scores/el2n.parquet"
    assert score_table_path(tmp_path, SweepPoint("fixed_epochs", 200, "random", "random", 0.5, 3), "full") is None
    with pytest.raises(PrunebenchError, match="score_source"):
        score_table_path(tmp_path, point, "test")


def test_default_score_source_is_the_initial_subset():
    from prunebench.sweep import sweep_settings

    assert sweep_settings(CONFIG)["score_source"] == "initial_subset"
    assert sweep_settings(load_config("ci"))["score_source"] == "initial_subset"


@pytest.fixture(scope="module")
def train_set():
    from prunebench.data import load_dataset

    try:
        return load_dataset(CONFIG["data"], "train")
    except PrunebenchError as err:
        pytest.skip(f"CIFAR-10 not available: {err}")


@pytest.fixture(scope="module")
def subset_table(train_set, tmp_path_factory):
    """el2n of the N=200 initial subset of replicate 0, its probe trained on those 200 examples."""
    from prunebench.metrics.storage import read_scores
    from prunebench.sweep.scores import compute_subset_scores, initial_subset

    root = tmp_path_factory.mktemp("protocol")
    os.environ["PRUNEBENCH_PROBE_DIR"] = str(root / "probes")
    try:
        path = compute_subset_scores(CONFIG, "el2n", 200, 0, out=root / "el2n.parquet", train_set=train_set)
    finally:
        del os.environ["PRUNEBENCH_PROBE_DIR"]
    subset = initial_subset(CONFIG, 200, 0, train_set)
    return {"path": path, "subset": subset, "table": read_scores(path), "probes": root / "probes"}


def test_subset_scores_come_from_probes_on_the_initial_subset_only(subset_table):
    import json

    table, subset = subset_table["table"], subset_table["subset"]
    assert np.array_equal(table.ids, np.sort(subset.ids)) and len(table.ids) == 200
    runs = [json.loads(p.read_text()) for p in subset_table["probes"].glob("*/run.json")]
    assert runs and all(run["spec"]["n_train"] == 200 for run in runs)
    assert table.provenance["cost_probe_epochs"] == pytest.approx(1.0)  # 1 member x 1 epoch over the 200


def test_initial_subset_point_selects_with_its_own_table(train_set, subset_table):
    config = {**CONFIG}
    point = SweepPoint("fixed_epochs", 200, "el2n", "hard", 0.5, 0)
    chosen = prune_for_point(config, point, train_set, point_seeds(config, point), subset_table["path"])
    assert set(chosen.initial.ids) == set(subset_table["subset"].ids)
    scores = dict(zip(subset_table["table"].ids, subset_table["table"].scores))
    kept = {int(i) for i in chosen.pruned.ids}
    dropped = set(int(i) for i in chosen.initial.ids) - kept
    assert len(kept) == 100 and min(scores[i] for i in kept) >= max(scores[i] for i in dropped)


def test_initial_subset_mode_refuses_a_full_train_set_table(train_set, tmp_path):
    from prunebench.metrics.storage import write_scores
    from prunebench.provenance import score_hash

    path = tmp_path / "el2n.parquet"
    write_scores(path, train_set.ids, train_set.ids.astype(float),
                 {"metric": "el2n", "variant": "test", "config_hash": score_hash(CONFIG, "el2n")})
    point = SweepPoint("fixed_epochs", 200, "el2n", "hard", 0.5, 0)
    with pytest.raises(PrunebenchError, match="does not match"):
        prune_for_point(CONFIG, point, train_set, point_seeds(CONFIG, point), path)
    full = {**CONFIG, "sweep": {**CONFIG["sweep"], "score_source": "full"}}
    assert len(prune_for_point(full, point, train_set, point_seeds(full, point), path).pruned) == 100
