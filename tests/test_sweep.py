"""The sweep: grid, one point on a few hundred real CIFAR-10 images, the tidy table."""

import json

import numpy as np
import pandas as pd
import pytest

from prunebench.errors import PrunebenchError
from prunebench.sweep import (
    SweepPoint, baseline_point, parse_point, plan_points, read_row, run_point, sweep_table, write_row,
    write_sweep_table,
)
from prunebench.sweep.point import point_seeds, prune_for_point

TRAIN_SIZE = 400
CONFIG = {
    "name": "sweeptest",
    "seed": 0,
    "device": "cpu",
    "data": {"train_size": TRAIN_SIZE, "test_size": 200},
    "probe": {"model": "airbench", "model_kwargs": {"width": [8, 16, 16]}, "epochs": 1, "batch_size": 50,
              "lr": 0.2, "tta": False, "progress": False, "whiten_samples": 200},
    "metrics": {"names": ["el2n"]},
    "sweep": {"sizes": [200, 300], "fractions_kept": [1.0, 0.5], "metrics": ["random", "el2n"], "keep": ["easy", "hard"],
              "seeds": [0], "protocols": ["fixed_epochs", "fixed_compute"], "fixed_compute_metrics": ["el2n/hard"],
              "test_size": 100, "score_source": "full"},
}
ROW_COLUMNS = {"scale", "protocol", "initial_size", "fraction_kept", "prune_ratio", "n_kept", "metric", "keep",
               "direction", "seed", "subset_seed", "selection_seed", "train_seed", "test_accuracy", "test_error",
               "n_test", "train_steps", "epochs", "wall_time_s", "config_hash", "code_version", "kept_ids_hash"}


@pytest.fixture(scope="module")
def train_set():
    from prunebench.data import load_dataset

    try:
        return load_dataset(CONFIG["data"], "train")
    except PrunebenchError as err:
        pytest.skip(f"CIFAR-10 not available: {err}")


@pytest.fixture(scope="module")
def score_path(train_set, tmp_path_factory):
    """A score table of the configured train set: score = example id (so 'hard' = high ids)."""
    from prunebench.metrics.storage import write_scores

    path = tmp_path_factory.mktemp("scores") / "el2n.parquet"
    from prunebench.provenance import score_hash

    write_scores(path, train_set.ids, train_set.ids.astype(float),
                 {"metric": "el2n", "variant": "test: score=id", "config_hash": score_hash(CONFIG, "el2n"),
                  "cost_probe_epochs": 2.0, "wall_time_s": 1.5})
    return path


def test_plan_shares_the_baseline_and_filters_fixed_compute():
    points = plan_points(CONFIG)
    baselines = [p for p in points if p.is_baseline]
    assert baselines == [baseline_point(200, 0), baseline_point(300, 0)]
    assert {(p.metric, p.keep) for p in points if p.protocol == "fixed_epochs" and not p.is_baseline} == {
        ("random", "random"), ("el2n", "easy"), ("el2n", "hard")}
    assert {(p.metric, p.keep) for p in points if p.protocol == "fixed_compute"} == {("el2n", "hard")}
    assert len(points) == len(set(points)) == 2 + 3 * 2 + 2
    assert baselines[0].relative_path() == "fixed_epochs/N200/none/all/f1/seed0.json"
    assert SweepPoint("fixed_compute", 300, "el2n", "hard", 0.5, 0).relative_path() == \
        "fixed_compute/N300/el2n/hard/f0.5/seed0.json"


def test_plan_rejects_a_metric_without_scores():
    config = {**CONFIG, "sweep": {**CONFIG["sweep"], "metrics": ["forgetting"]}}
    with pytest.raises(PrunebenchError, match="metrics.names"):
        plan_points(config)


@pytest.mark.parametrize("args", [
    ("fixed_epochs", 200, "el2n", "hard", 1.0, 0),  # f = 1 is only the baseline
    ("fixed_epochs", 200, "none", "all", 0.5, 0),  # the baseline has f = 1
    ("fixed_epochs", 200, "random", "hard", 0.5, 0),  # random has keep 'random'
    ("fixed_compute", 200, "none", "all", 1.0, 0),  # the baseline is run once, fixed_epochs
    ("fixed_flops", 200, "el2n", "hard", 0.5, 0),
])
def test_parse_point_rejects_inconsistent_coordinates(args):
    with pytest.raises(PrunebenchError):
        parse_point(*args)


def test_selection_is_restricted_to_the_initial_subset(train_set, score_path):
    hard = SweepPoint("fixed_epochs", 200, "el2n", "hard", 0.5, 0)
    easy = SweepPoint("fixed_epochs", 200, "el2n", "easy", 0.5, 0)
    base = baseline_point(200, 0)
    chosen = {p.keep: prune_for_point(CONFIG, p, train_set, point_seeds(CONFIG, p), score_path)
              for p in (hard, easy, base)}
    initial_ids = set(chosen["all"].initial.ids)
    assert len(initial_ids) == 200 and np.all(np.bincount(chosen["all"].initial.labels) == 20)
    for keep in ("hard", "easy"):
        assert set(chosen[keep].initial.ids) == initial_ids  # same N-subset for every metric/keep
        kept_ids = set(chosen[keep].pruned.ids)
        assert len(kept_ids) == 100 and kept_ids <= initial_ids
    # score = id: keep hard holds higher ids than keep easy
    assert np.mean(chosen["hard"].pruned.ids) > np.mean(chosen["easy"].pruned.ids)
    assert len(chosen["all"].kept) == 200


def test_random_scores_vary_with_seed(train_set):
    first, second = (SweepPoint("fixed_epochs", 200, "random", "random", 0.5, s) for s in (0, 1))
    kept = [set(prune_for_point(CONFIG, p, train_set, point_seeds(CONFIG, p)).pruned.ids) for p in (first, second)]
    assert kept[0] != kept[1]


@pytest.fixture(scope="module")
def runs(train_set, score_path, tmp_path_factory):
    """The baseline, a fixed-epochs and a fixed-compute point at N=200, written as run files."""
    folder = tmp_path_factory.mktemp("runs")
    base = run_point(CONFIG, baseline_point(200, 0), threads=1)
    epochs = run_point(CONFIG, SweepPoint("fixed_epochs", 200, "el2n", "hard", 0.5, 0), score_path=score_path, threads=1)
    compute = run_point(CONFIG, SweepPoint("fixed_compute", 200, "el2n", "hard", 0.5, 0), score_path=score_path,
                        baseline_row=base, threads=1)
    paths = [write_row(row, folder / f"{name}.json") for name, row in
             (("base", base), ("epochs", epochs), ("compute", compute))]
    return {"base": base, "epochs": epochs, "compute": compute, "paths": paths, "folder": folder}


def test_row_schema_and_conventions(runs):
    for row in (runs["base"], runs["epochs"], runs["compute"]):
        assert ROW_COLUMNS <= set(row)
        assert row["direction"] == "higher=harder"
        assert row["test_error"] == pytest.approx(1 - row["test_accuracy"])
        assert row["prune_ratio"] == pytest.approx(1 - row["fraction_kept"])
        assert row["n_test"] == 100
        json.dumps(row)
    assert (runs["base"]["metric"], runs["base"]["keep"], runs["base"]["n_kept"]) == ("none", "all", 200)
    assert runs["epochs"]["n_kept"] == 100


def test_fixed_compute_uses_the_full_data_steps(runs):
    assert runs["base"]["train_steps"] == 4  # 200 examples / batch 50, 1 epoch
    assert runs["epochs"]["train_steps"] == 2  # fixed epochs: half the data, half the steps
    assert runs["compute"]["train_steps"] == runs["base"]["train_steps"]
    assert runs["compute"]["epochs"] == pytest.approx(2.0)
    assert runs["compute"]["kept_ids_hash"] == runs["epochs"]["kept_ids_hash"]  # same examples, more steps


def test_fixed_compute_needs_the_matching_baseline(runs, score_path):
    point = SweepPoint("fixed_compute", 300, "el2n", "hard", 0.5, 0)
    with pytest.raises(PrunebenchError, match="--baseline"):
        run_point(CONFIG, point, score_path=score_path)
    with pytest.raises(PrunebenchError, match="another N"):
        run_point(CONFIG, point, score_path=score_path, baseline_row=runs["base"])


def test_aggregate_is_order_free_and_resumable(runs, score_path, tmp_path):
    table = sweep_table(runs["paths"])
    assert list(table.columns[:3]) == ["scale", "protocol", "initial_size"]
    assert sweep_table(list(reversed(runs["paths"]))).equals(table)
    assert sweep_table([runs["folder"]]).equals(table)
    # resume: a lost run file is recomputed alone, and (on the CPU, fixed seeds) identically
    lost = runs["paths"][1]
    lost.unlink()
    with pytest.raises(PrunebenchError, match="not found"):
        sweep_table(runs["paths"])
    redo = run_point(CONFIG, SweepPoint("fixed_epochs", 200, "el2n", "hard", 0.5, 0), score_path=score_path, threads=1)
    write_row(redo, lost)
    timing = ["wall_time_s", "train_wall_time_s", "total_wall_time_s", "checksum"]  # the checksum covers the timings
    assert sweep_table(runs["paths"]).drop(columns=timing).equals(table.drop(columns=timing))
    parquet = write_sweep_table(table, tmp_path / "sweep.parquet", tmp_path / "sweep.csv")
    assert pd.read_parquet(parquet).equals(table)
    assert len(pd.read_csv(tmp_path / "sweep.csv")) == 3


def test_aggregate_rejects_duplicate_points(runs, tmp_path):
    copy = write_row(read_row(runs["paths"][0]), tmp_path / "copy.json")
    with pytest.raises(PrunebenchError, match="share coordinates"):
        sweep_table([runs["paths"][0], copy])


def test_every_row_records_selection_and_score_source(runs):
    """Class balance, rule and score source are in every row, the f = 1 baseline's too (not NaN/'')."""
    for row in (runs["base"], runs["epochs"], runs["compute"]):
        assert row["class_balance"] == 0.0  # CIFAR-10: the paper's plain top-k
        assert row["selection_rule"] == "topk"
    assert runs["base"]["score_source"] == "none" and runs["base"]["score_probe_steps"] == 0
    assert runs["epochs"]["score_source"] == "full"


def test_rows_count_the_probe_cost_of_their_scores(runs):
    """score_probe_steps = cost_probe_epochs x ceil(n_scored / probe batch): 2 x ceil(400 / 50)."""
    row = runs["epochs"]
    assert row["score_probe_epochs"] == 2.0 and row["score_probe_steps"] == 16
    assert row["score_wall_time_s"] == 1.5
    assert row["steps_with_scoring"] == row["train_steps"] + 16
