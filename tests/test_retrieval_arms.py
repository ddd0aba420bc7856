"""The retrieval arms through the sweep (issue 17): OPERA DP's schedules (wrap quirk fixed), the InfoBatch
and RS2 training-time samplers, the protocols that map the arms onto the task's train(), the extra row
columns (Recall@20, query coverage, the NDCG@10-vs-steps curve), the arms table and figure, and the
bad-input lines. Tiny random encoder and generated BEIR folders only (no MiniLM fine-tuning)."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from prunebench.errors import PrunebenchError
from prunebench.tasks.retrieval import beir
from prunebench.tasks.retrieval.samplers import (InfoBatchSampler, OperaSampler, RS2Sampler, cutoff_ratio,
                                                 make_sampler, pass_length)

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    torch.set_num_threads(1)


# -- OPERA DP: both levels, schedules, the wrap quirk fixed ----------------------------------------
def test_opera_schedules_hold_their_end_value_after_the_horizon():
    n = 40
    sampler = OperaSampler(np.arange(n), scores=np.linspace(0, 1, n), batch_size=5, total_steps=100, seed=0, delta=0.5)
    assert sampler.strength(0) == 2.0 and sampler.doc_fraction(0) == 0.25
    assert sampler.strength(25) == pytest.approx(3.5) and sampler.doc_fraction(25) == pytest.approx(0.375)
    for step in (50, 60, 99):  # past max_steps·delta: the official code returns the start (2, 0.25) here
        assert sampler.strength(step) == 5.0 and sampler.doc_fraction(step) == 0.5
    sampler.reset(80)
    n0 = pass_length(n)
    assert sampler.last["x"] == 5.0 and sampler.last["r"] == pytest.approx(cutoff_ratio(5.0, n0, n))
    assert sampler.last["n_protected"] == int(np.sum(sampler.query_scores() >= np.quantile(sampler.query_scores(),
                                                                                          1 - sampler.last["r"])))


def test_opera_protected_set_grows_and_doc_threshold_is_the_global_quantile():
    rng = np.random.default_rng(0)
    query_ids = np.repeat(np.arange(60), 2)
    scores = rng.random(120)
    sampler = OperaSampler(query_ids, scores=scores, batch_size=6, total_steps=60, seed=1)
    protected, thresholds = [], []
    for step in range(60):
        positions = sampler.batch(step)
        if sampler.cursor == sampler.batch_size:  # a reset happened at this step
            protected.append(sampler.last["n_protected"])
            thresholds.append((sampler.last["doc_threshold"], np.quantile(sampler.scores, 1 - sampler.last["c"])))
        sampler.observe(step, positions, scores[positions], np.zeros(len(positions)))  # scores stay the same
    assert protected == sorted(protected) and protected[-1] > protected[0]  # r(t) grows 0.25 → 0.53
    assert all(a == pytest.approx(b) for a, b in thresholds)
    assert pass_length(60) == sampler.n0 == 37


def test_opera_document_level_prefers_above_threshold_positives_in_training_draws():
    query_ids = np.repeat(np.arange(10), 2)
    scores = np.linspace(0.2, 0.8, 20)
    scores[[0, 1]] = [1.0, 0.0]  # query 0: the highest pair of all (above every threshold) and the lowest
    draws = {}
    for level in ("both", "query"):
        sampler = OperaSampler(query_ids, scores=scores, batch_size=5, total_steps=400, seed=0, level=level)
        picked = np.concatenate([sampler.batch(s) for s in range(400)])
        draws[level] = picked[query_ids[picked] == 0]
    assert len(draws["both"]) > 50
    p = 5 / 6  # x_d / (x_d + 1): one positive above the global threshold, one below
    assert np.mean(draws["both"] == 0) == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / len(draws["both"])))
    assert np.mean(draws["query"] == 0) == pytest.approx(0.5, abs=4 * math.sqrt(0.25 / len(draws["query"])))


# -- InfoBatch and RS2 samplers --------------------------------------------------------------------
def test_infobatch_sampler_prunes_below_mean_rescales_and_anneals():
    n = 100
    sampler = InfoBatchSampler(np.arange(n), batch_size=10, total_steps=100, seed=0, ratio=0.5, anneal=0.8)
    first = np.concatenate([sampler.batch(s) for s in range(10)])
    assert sorted(first) == list(range(n)) and np.all(sampler.weights(first) == 1.0)  # equal scores: full epoch
    losses = np.where(np.arange(n) < 60, 0.1, 1.0)  # 60 queries below the mean
    sampler.observe(9, np.arange(n), np.zeros(n), losses)
    step, kept = 10, []
    while True:
        kept.append(sampler.batch(step))
        step += 1
        if sampler.cursor + sampler.batch_size > len(sampler.order):
            break
    epoch = np.concatenate(kept)
    order = sampler.order
    below_kept = int(np.sum(order < 60))
    assert 60 - 3 * math.sqrt(15) < 2 * below_kept + 0 < 60 + 3 * math.sqrt(15) * 2  # ≈ half of the 60 kept
    assert set(range(60, n)) <= set(order.tolist())  # above-mean queries always kept
    weights = sampler.weights(order)
    assert np.all(weights[order < 60] == 2.0) and np.all(weights[order >= 60] == 1.0)
    assert weights.sum() == pytest.approx(40 + 2 * below_kept)  # the expected gradient sum is preserved
    assert len(epoch) <= len(order)
    sampler.step = 80  # from anneal·total_steps on: full epochs, unit weights
    full = sampler.epoch_queries(99)
    assert sorted(full) == list(range(n)) and np.all(sampler.weights(full) == 1.0)


def test_rs2_without_replacement_sees_every_query_once_before_repeats():
    sampler = RS2Sampler(np.arange(30), batch_size=5, total_steps=12, seed=0, fraction=1 / 3, replacement=False)
    drawn = np.concatenate([sampler.batch(s) for s in range(12)])  # 60 draws = 2 cycles of 30
    assert sorted(drawn[:30]) == list(range(30)) and sorted(drawn[30:]) == list(range(30))
    assert len(set(drawn[:12])) == 12 and not np.array_equal(drawn[:30], drawn[30:])


def test_recipe_maps_the_sweep_protocols_onto_samplers():
    from prunebench.sweep.protocols import get_protocol
    from prunebench.sweep.plan import SweepPoint
    from prunebench.tasks.retrieval.training import recipe

    base = {"steps": 10}
    rs2 = get_protocol("rs2").recipe(base, SweepPoint("rs2", 100, "rs2", "with-replacement", 0.5, 0))
    assert recipe(rs2)["sampler"] == "rs2" and recipe(rs2)["sampler_params"] == {"fraction": 0.5, "replacement": True}
    ib = recipe(get_protocol("infobatch").recipe(base, SweepPoint("infobatch", 100, "infobatch", "dynamic", 1.0, 0)))
    assert ib["sampler"] == "infobatch" and ib["sampler_params"] == {"ratio": 0.5, "anneal": 0.875, "pool_rule": "mean"}
    opera = get_protocol("opera")
    assert recipe(opera.recipe(base, SweepPoint("opera", 100, "opera", "dynamic", 1.0, 0)))["sampler"] == "opera"
    assert opera.steps(base, None, None) is None  # the recipe's steps, as every arm
    assert get_protocol("pretrained").steps(base, None, None) == 0
    with pytest.raises(PrunebenchError, match="dynamic_pruning rule 'quantile'"):
        recipe({"dynamic_pruning": {"rule": "quantile"}})
    assert isinstance(make_sampler("infobatch", np.arange(8), batch_size=2, total_steps=4, seed=0), InfoBatchSampler)


# -- the task's rows, the arms table and figure ----------------------------------------------------
def write_beir(root, n_queries=24, n_docs=60, seed=0):
    """A generated BEIR folder (queries = 4 words of their positive; every 3rd has two positives)."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(300)]
    docs = [list(rng.choice(vocab, 10)) for _ in range(n_docs)]
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": " ".join(w)}) + "\n"
                                               for i, w in enumerate(docs)))
    queries, lines = [], ["query-id\tcorpus-id\tscore"]
    for split, offset in (("train", 0), ("test", n_queries)):
        for q in range(n_queries):
            d = (offset + q) % n_docs
            queries.append({"_id": f"{split}{q}", "text": " ".join(docs[d][:4])})
            lines_split = [f"{split}{q}\td{d}\t1"] + ([f"{split}{q}\td{(d + 1) % n_docs}\t1"] if q % 3 == 2 else [])
            lines += lines_split
        (root / "qrels" / f"{split}.tsv").write_text("\n".join(["query-id\tcorpus-id\tscore"] +
                                                               [x for x in lines[1:] if x.startswith(split)]) + "\n")
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    return root


def tiny_config(root):
    return {"name": "retrieval-test", "task": "retrieval", "seed": 0, "device": "cpu",
            "data": {"source": "beir", "path": str(root)},
            "probe": {"encoder": "tiny", "max_seq_length": 16, "steps": 6, "batch_size": 4, "lr": 1e-3,
                      "negative_ranks": [2, 20], "eval_steps": [3], "threads": 1},
            "selection": {"class_balance": 0.0},
            "sweep": {"sizes": [32], "seeds": [0], "threads": 1, "class_balance": 0.0, "score_source": "full"}}


def test_sweep_points_carry_ndcg_recall_coverage_and_the_curve(tmp_path):
    from prunebench.sweep.plan import SweepPoint
    from prunebench.sweep.point import run_point

    config = tiny_config(write_beir(tmp_path / "beir"))
    rows = {}
    for point in (SweepPoint("opera", 32, "opera", "dynamic", 1.0, 0),
                  SweepPoint("pretrained", 32, "pretrained", "zero-shot", 1.0, 0),
                  SweepPoint("infobatch", 32, "infobatch", "dynamic", 1.0, 0)):
        rows[point.protocol] = run_point(config, point, threads=1)
    opera, zero = rows["opera"], rows["pretrained"]
    assert opera["eval_metric"] == "ndcg@10" and opera["eval_error"] == pytest.approx(1 - opera["eval_value"])
    assert opera["train_steps"] == 6 and zero["train_steps"] == 0 and rows["infobatch"]["train_steps"] == 6
    assert 0 <= opera["recall_at_20"] <= 1 and opera["recall_at_20_se"] >= 0 and opera["n_test_queries"] == 24
    assert opera["query_coverage"] == 1.0 and 0 < opera["queries_seen"] <= 1 and opera["sampler"] == "opera"
    curve = json.loads(opera["quality_curve"])
    assert [s for s, _ in curve] == [3, 6] and curve[-1][1] == pytest.approx(opera["eval_value"], abs=1e-6)
    assert json.loads(zero["quality_curve"]) == [[0, pytest.approx(zero["eval_value"], abs=1e-6)]]
    assert rows["infobatch"]["sampler"] == "infobatch"


def synthetic_sweep() -> pd.DataFrame:
    rows = []
    arms = [("fixed_epochs", "none", "all", 1.0, 0.50), ("fixed_epochs", "pretrained-similarity", "easy", 0.5, 0.52),
            ("opera", "opera", "dynamic", 1.0, 0.55), ("pretrained", "pretrained", "zero-shot", 1.0, 0.40)]
    for protocol, metric, keep, f, value in arms:
        for seed in (0, 1, 2) if protocol != "pretrained" else (0,):
            v = value + 0.01 * seed
            steps = 0 if protocol == "pretrained" else 32
            curve = [[0, v]] if protocol == "pretrained" else [[16, 0.4 + (v - 0.4) * 0.8], [32, v]]
            rows.append({"protocol": protocol, "metric": metric, "keep": keep, "fraction_kept": f, "seed": seed,
                         "eval_value": v, "recall_at_20": v + 0.2, "ndcg_at_10_se": 0.02, "train_steps": steps,
                         "train_wall_time_s": 10.0, "query_coverage": 0.8 if metric == "pretrained-similarity" else 1.0,
                         "queries_seen": 1.0, "quality_curve": json.dumps(curve)})
    return pd.DataFrame(rows)


def test_arms_table_and_quality_vs_steps_figure(tmp_path):
    from prunebench.figures.retrieval import arms_table, steps_to_match, write_arms

    table = arms_table(synthetic_sweep()).set_index("arm")
    assert list(table.index[:2]) == ["pretrained", "no pruning"]
    assert table.loc["no pruning", "ndcg_at_10"] == pytest.approx(0.51) and table.loc["no pruning", "n_seeds"] == 3
    assert table.loc["no pruning", "ndcg_at_10_se"] == pytest.approx(0.01 / math.sqrt(3))
    assert table.loc["DP (OPERA)", "delta_ndcg_vs_no_pruning"] == pytest.approx(0.05)
    assert table.loc["SP (keep high sim.) f=0.5", "query_coverage"] == pytest.approx(0.8)
    assert table.loc["DP (OPERA)", "steps_to_match_no_pruning"] < 32
    assert steps_to_match({0: [0.4], 16: [0.5], 32: [0.6]}, 0.55) == pytest.approx(24.0)
    assert math.isnan(steps_to_match({0: [0.4], 32: [0.45]}, 0.5))
    path = tmp_path / "sweep.parquet"
    synthetic_sweep().to_parquet(path)
    write_arms(path, tmp_path / "arms.csv", tmp_path / "arms.json", tmp_path / "fig.png", name="t")
    assert (tmp_path / "fig.png").stat().st_size > 1000
    assert json.loads((tmp_path / "arms.json").read_text())["arms"][0]["arm"] == "pretrained"


# -- bad input: one line each ----------------------------------------------------------------------
def test_bad_retrieval_input_is_one_line(tmp_path):
    from prunebench.tasks import get_task

    root = write_beir(tmp_path / "beir")
    task = get_task("retrieval")
    with pytest.raises(PrunebenchError, match="more than data.memory_mb") as err:
        task.load_split({"source": "beir", "path": str(root), "memory_mb": 0.01}, "train")
    assert "\n" not in str(err.value)
    assert len(task.load_split({"source": "beir", "path": str(root), "memory_mb": 100}, "train")) == 32
    with pytest.raises(PrunebenchError, match="train_queries 99 must be between 1 and"):
        task.load_split({"source": "beir", "path": str(root), "train_queries": 99}, "train")
    sub = task.load_split({"source": "beir", "path": str(root), "train_queries": 5}, "train")
    assert sub.n_queries == 5 and sub.labels.tolist() == sub.query_ids.tolist()
    # a qrels line naming an unknown document
    with open(root / "qrels" / "test.tsv", "a") as handle:
        handle.write("test0\tnope\t1\n")
    beir._CORPUS_CACHE.clear()
    with pytest.raises(PrunebenchError, match="names document 'nope', which is not in the corpus") as err:
        task.load_split({"source": "beir", "path": str(root)}, "test")
    assert "\n" not in str(err.value)


def test_queries_without_positives_are_dropped_and_counted(tmp_path, caplog):
    from prunebench.tasks import get_task

    root = write_beir(tmp_path / "beir")
    with open(root / "qrels" / "train.tsv", "a") as handle:
        handle.write("test5\td1\t0\n")  # a judged query with no positive
    beir._CORPUS_CACHE.clear()
    with caplog.at_level("WARNING"):
        examples = get_task("retrieval").load_split({"source": "beir", "path": str(root)}, "train")
    assert examples.extra["dropped_queries"] == 1 and examples.n_queries == 24
    assert "dropped 1 queries with no positive" in caplog.text
