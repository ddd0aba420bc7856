"""The text-lm task through the shared workflow (issue 16): the text-ci config and its schemas, the
sweep's selection over the task's strata (domains), the window rule's keep labels, sequence EL2N,
score tables with token counts, hashed-id random scores, the extra sweep-row evaluations and the
domain-composition figure. Everything here runs on generated documents (no data on disk), in seconds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prunebench.config import load_config, validate_config
from prunebench.errors import PrunebenchError
from prunebench.sweep.plan import SweepPoint, check_point_rule, plan_points
from prunebench.tasks import get_task
from prunebench.tasks.text_lm.task import SMOKE_RECIPE, check_reference_size, synthetic_documents


@pytest.fixture(scope="module")
def task():
    return get_task("text-lm")


@pytest.fixture(scope="module")
def trained(task):
    """A nano LM trained for a few steps on generated documents (prose + noise)."""
    import torch

    torch.set_num_threads(1)
    train = synthetic_documents(40, 0)
    model = task.build_model(SMOKE_RECIPE, train, 0)
    task.train(model, train, SMOKE_RECIPE, seed=0)
    return model, train


def text_config(**sweep) -> dict:
    return {"name": "text-test", "task": "text-lm", "seed": 0, "data": {}, "probe": dict(SMOKE_RECIPE),
            "metrics": {"names": ["random", "perplexity"]}, "selection": {"rule": "window"},
            "sweep": {"sizes": [20], "fractions_kept": [1.0, 0.5], "metrics": ["random", "perplexity"],
                      "keep": ["low", "medium", "high"], "seeds": [0], "protocols": ["fixed_epochs"],
                      "selection_rule": "window", "score_source": "full", **sweep}}


def test_text_ci_config_loads_and_plans_windows():
    config = load_config("text-ci")
    points = plan_points(config)
    keeps = {p.keep for p in points if p.metric not in ("none", "random")}
    assert keeps == {"low", "medium", "high"}
    for point in points:
        check_point_rule(config, point)  # every planned keep label fits the window rule
    per_replicate = 1 + 1 + 3 * 3  # f = 1, random, three metrics x three windows
    assert len(points) == per_replicate * len(config["sweep"]["sizes"]) * len(config["sweep"]["seeds"])
    assert len(config["sweep"]["seeds"]) >= 3
    assert check_reference_size(config) >= 4.0


def test_text_schemas_refuse_image_keys_and_unknown_recipe_keys():
    config = text_config()
    validate_config(config)
    with pytest.raises(PrunebenchError, match="image_size") as err:
        validate_config({**config, "data": {"image_size": 32}})
    assert "\n" not in str(err.value)
    with pytest.raises(PrunebenchError, match="sweep.train"):
        validate_config({**config, "sweep": {**config["sweep"], "train": {"momentum": 0.9}}})
    validate_config({**config, "sweep": {**config["sweep"], "train": {"model": "micro", "tokens": 1000}}})


def test_reference_larger_than_final_is_one_line():
    config = text_config(train={"model": "nano"})
    config["metrics"]["perplexity"] = {"model": "micro"}
    with pytest.raises(PrunebenchError, match="4x") as err:
        check_reference_size(config)
    assert "\n" not in str(err.value)
    config["metrics"]["perplexity"] = {"model": "nano"}
    config["sweep"]["train"] = {"model": "micro"}
    assert check_reference_size(config) >= 4.0


def test_sweep_selection_balances_the_task_strata(task):
    """The initial subset and the kept positions come from Task.strata (domains), and a random point
    under the window rule selects kept_count(N, f) documents."""
    from prunebench.sweep.point import point_seeds, prune_for_point, task_strata

    config = text_config()
    train = synthetic_documents(40, 0)  # 30 prose, 10 noise
    np.testing.assert_array_equal(task_strata(task, train), train.domains)
    point = SweepPoint("fixed_epochs", 20, "random", "random", 0.5, 0)
    chosen = prune_for_point(config, point, train, point_seeds(config, point))
    assert np.bincount(chosen.initial.domains).tolist() == [10, 10]  # balanced over domains
    assert len(chosen.pruned) == 10


def test_image_strata_are_the_labels():
    from prunebench.sweep.point import task_strata

    image = get_task("image-classification")
    examples = image.synthetic_split(12, 0)
    np.testing.assert_array_equal(task_strata(image, examples), examples.labels)


def test_sequence_el2n_is_the_mean_token_error_norm(task, trained):
    import torch

    model, train = trained
    docs = train.subset(np.arange(3))
    got = task.example_outputs(model, docs, ("el2n", "n_tokens"))
    assert np.all((got["el2n"] > 0) & (got["el2n"] <= np.sqrt(2) + 1e-9))
    from prunebench.tasks.text_lm.training import encode_documents

    for i, seq in enumerate(encode_documents(model.tokenizer, docs.texts)):
        norms = []
        for start in range(0, len(seq) - 1, model.context):  # each window on its own, as the scorer does
            window = seq[start:start + model.context + 1]
            with torch.no_grad():
                p = torch.softmax(model(torch.from_numpy(window[:-1][None]))[0].double(), -1).numpy()
            norms.append(np.linalg.norm(p - np.eye(p.shape[1])[window[1:]], axis=1))
        assert got["el2n"][i] == pytest.approx(np.concatenate(norms).mean(), rel=1e-4)
    with pytest.raises(PrunebenchError, match="logits"):
        task.probe_outputs(model, docs, "logits")


def test_score_table_stores_token_counts(tmp_path):
    from prunebench.metrics.storage import read_scores, write_scores

    ids = np.array([5, 3, 9])
    path = write_scores(tmp_path / "perplexity.parquet", ids, [1.0, 2.0, 3.0], {"metric": "perplexity"},
                        columns={"n_tokens": np.array([10, 20, 30]), "domain": np.array([0, 1, 0])})
    frame = pd.read_parquet(path)
    assert frame["example_id"].tolist() == [3, 5, 9] and frame["n_tokens"].tolist() == [20, 10, 30]
    assert read_scores(path, expected_ids=ids).scores.tolist() == [1.0, 2.0, 3.0]  # checksum still verifies
    with pytest.raises(ValueError):
        write_scores(tmp_path / "bad.parquet", ids, [1.0, 2.0, 3.0], {"metric": "x"}, columns={"n_tokens": [1]})


def test_random_scores_of_hashed_ids_are_keyed_by_id():
    from prunebench.metrics.random import random_scores

    ids = np.array([2 ** 40 + 7, 2 ** 62 + 3, 12345678912345])
    scores = random_scores(ids, 11)
    assert np.all((scores >= 0) & (scores < 1))
    np.testing.assert_array_equal(random_scores(ids[::-1], 11), scores[::-1])
    assert not np.array_equal(random_scores(ids, 12), scores)
    many = random_scores(np.arange(2 ** 31, 2 ** 31 + 20000), 0)
    assert abs(many.mean() - 0.5) < 0.01
    np.testing.assert_array_equal(random_scores(np.arange(5), 3), np.random.default_rng(3).random(5))


def test_extra_evaluation_reads_the_clean_domain_from_the_predictions(task, trained):
    from prunebench.tasks.text_lm.training import token_weighted_nll

    model, _ = trained
    held_out = synthetic_documents(12, 1, "test")
    predictions = task.predict(model, held_out)
    recipe = {**SMOKE_RECIPE, "downstream": {"clean_domain": "prose"}}
    out = task.extra_evaluation(model, held_out, predictions, recipe, {})
    prose = held_out.domains == 0
    assert out["eval_nll_prose"] == pytest.approx(token_weighted_nll(predictions[prose]))
    assert out["n_test_prose"] == int(prose.sum())
    with pytest.raises(PrunebenchError, match="clean_domain"):
        task.extra_evaluation(model, held_out, predictions, {**SMOKE_RECIPE, "downstream": {"clean_domain": "x"}}, {})
    assert task.extra_evaluation(model, held_out, predictions, SMOKE_RECIPE, {}) == {}
    from types import SimpleNamespace

    curve = [{"step": 6, "tokens": 1536, "val_nll": 3.5}, {"step": 12, "tokens": 3072, "val_nll": 3.0}]
    out = task.extra_evaluation(model, held_out, predictions, SMOKE_RECIPE, {}, result=SimpleNamespace(curve=curve))
    assert out == {"eval_curve": "[[6, 1536, 3.5], [12, 3072, 3.0]]"}


def test_composition_table_and_figure(tmp_path):
    from prunebench.figures.composition import composition_table, plot_composition

    docs = synthetic_documents(40, 0)
    n_tokens = np.array([len(t) for t in docs.texts])
    scores = {"perplexity": docs.domains + 0.01 * np.arange(40)}  # noise (domain 1) scores highest
    table = composition_table(scores, docs.ids, docs.domains, list(docs.domain_names), n_tokens, 0.5)
    for (metric, selection), group in table.groupby(["metric", "selection"]):
        assert group["doc_share"].sum() == pytest.approx(1.0) and group["token_share"].sum() == pytest.approx(1.0)
    share = table.set_index(["metric", "selection", "domain"])["doc_share"]
    assert share["pool", "before", "noise"] == pytest.approx(0.25)
    assert share["perplexity", "high", "noise"] == pytest.approx(0.5)  # all 10 noise documents among the 20 kept
    assert share["perplexity", "low", "noise"] == 0.0
    assert table.loc[table["selection"] == "high", "n_documents"].sum() == 20
    out = plot_composition(table, tmp_path / "composition.png")
    assert out.stat().st_size > 1000


def test_data_prepare_describes_the_text_splits(tmp_path):
    """``data prepare`` of a text-lm config (a JSONL corpus: no NLTK data needed) records each split
    the task has, with its size, checksum and domain counts."""
    import json

    import yaml

    from prunebench.cli import main

    words = "the quick brown fox jumps over a lazy dog while seven tired cats watch it".split()
    lines = [{"text": " ".join(words[(i + k) % len(words)] for k in range(40)), "domain": ["a", "b"][i % 2]}
             for i in range(80)]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = {"name": "text-jsonl", "task": "text-lm", "seed": 0, "probe": {"model": "nano"},
              "data": {"corpus": "jsonl", "path": str(corpus), "min_chars": 20,
                       "splits": {"reference": 0.3, "train": 0.5, "validation": 0.1, "test": 0.1}}}
    path = tmp_path / "text-jsonl.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "manifest.json"
    assert main(["data", "prepare", "--config", str(path), "--out", str(out)]) == 0
    manifest = json.loads(out.read_text())
    assert manifest["task"] == "text-lm" and set(manifest["splits"]) <= {"reference", "train", "validation", "test"}
    assert {"train", "test"} <= set(manifest["splits"])
    assert sum(s["size"] for s in manifest["splits"].values()) == 80
    assert sum(manifest["splits"]["train"]["strata_counts"]) == manifest["splits"]["train"]["size"]
