"""Every metric on a small real CIFAR-10 subset, checked against a property it must have.

The subset: 500 class-balanced training images (200 test) through the data layer, with the labels
of a seeded 20% flipped to another class ("mislabeled"). Probes: a 2-layer MLP on pixels
(``test_mlp``, registered here; fast enough to train the 8 subset models memorization needs in
seconds) and, for the integration checks, the real ``airbench`` tiny probe. Properties are
one-sided Welch t-tests (t > 2) that hard examples — here the mislabeled ones — score higher, plus
exact properties of each definition (bounds, never-learned rule, label invariance, self-influence).
Everything is deterministic on the CPU for the fixed seeds.
"""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from scipy.stats import kstest, ttest_ind
from torch import nn

from prunebench.data import content_checksum, data_root, load_dataset
from prunebench.metrics import get_metric, read_scores
from prunebench.metrics.common import softmax
from prunebench.metrics.compute import compute_metric
from prunebench.metrics.context import MetricContext
from prunebench.metrics.dynamics import never_learned_score
from prunebench.metrics.memorization import heldout_folds, influence_fold, subsample_settings
from prunebench.metrics.prototypes import class_centroid_distance
from prunebench.models import list_models, register_model
from prunebench.provenance import REPO_ROOT

DATA = {"dataset": "cifar10", "path": "cifar10-jpeg", "train_size": 500, "test_size": 200}
PROBE = {"model": "test_mlp", "epochs": 4, "batch_size": 50, "lr": 0.05, "label_smoothing": 0.0,
         "augmentation": {"flip": False, "translate": 0}, "progress": False, "tta": False}
METRICS = {"ensemble": {"epochs": 4}, "subsample": {"models": 8, "ratio": 0.5, "epochs": 12},
           "ssl-prototypes": {"k": 10, "n_init": 2, "simclr": {"epochs": 1, "batch_size": 100}}}
CONFIG = {"name": "pytest", "seed": 0, "data": DATA, "probe": PROBE, "metrics": METRICS}

pytestmark = pytest.mark.skipif(not (data_root() / "cifar10-jpeg").is_dir(), reason="CIFAR-10 jpeg data not found")


class PixelMLP(nn.Module):
    """A tiny probe for tests: flatten → Linear(3072, 128) → ReLU → Linear(128, C)."""

    def __init__(self, num_classes: int = 10, hidden: int = 128):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(3072, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, num_classes)

    def embed(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


if "test_mlp" not in list_models():
    register_model("test_mlp")(lambda num_classes=10, hidden=128: PixelMLP(num_classes, hidden))


def _with_labels(dataset, labels):
    return dataclasses.replace(dataset, labels=labels, checksum=content_checksum(dataset.images, labels, dataset.classes))


@pytest.fixture(scope="module")
def clean():
    return load_dataset(DATA, "train"), load_dataset(DATA, "test")


@pytest.fixture(scope="module")
def noisy(clean):
    """(train set with 20% flipped labels, flipped mask)."""
    train, _ = clean
    rng = np.random.default_rng(0)
    flipped = np.zeros(len(train), dtype=bool)
    flipped[rng.choice(len(train), len(train) // 5, replace=False)] = True
    labels = train.labels.copy()
    labels[flipped] = (labels[flipped] + rng.integers(1, train.num_classes, flipped.sum())) % train.num_classes
    return _with_labels(train, labels), flipped


@pytest.fixture(scope="module")
def ctx(noisy, clean, tmp_path_factory):
    return MetricContext.from_config(CONFIG, train_set=noisy[0], test_set=clean[1], device="cpu",
                                     probe_root=tmp_path_factory.mktemp("probes"))


def run(ctx, name, **params):
    spec = get_metric(name)
    return spec.fn(ctx, spec.params(params))


def assert_harder(scores, flipped, t_min=2.0):
    """Mislabeled examples score higher (one-sided Welch t-test)."""
    t = ttest_ind(scores[flipped], scores[~flipped], equal_var=False).statistic
    assert t > t_min, f"mislabeled mean {scores[flipped].mean():.4f} vs clean {scores[~flipped].mean():.4f}, t={t:.2f}"


def test_random_uniform_and_seed_determined(ctx, tmp_path):
    a = read_scores(compute_metric(CONFIG, "random", ctx=ctx, out=tmp_path / "a.parquet"), ctx.train_set.ids)
    b = read_scores(compute_metric(CONFIG, "random", ctx=ctx, out=tmp_path / "b.parquet"), ctx.train_set.ids)
    assert np.array_equal(a.scores, b.scores)
    assert kstest(a.scores, "uniform").pvalue > 0.01
    other = MetricContext.from_config({**CONFIG, "seed": 1}, train_set=ctx.train_set, probe_root=ctx.probe_root)
    assert not np.array_equal(run(other, "random").scores, a.scores)
    assert a.provenance["cost_probe_epochs"] == 0 and a.provenance["direction"] == "higher=harder"


def test_el2n_higher_for_mislabeled(ctx, noisy):
    result = run(ctx, "el2n", ensemble_size=2, epoch=2)
    assert np.all((result.scores >= 0) & (result.scores <= np.sqrt(2) + 1e-9))
    assert_harder(result.scores, noisy[1])
    assert result.cost_probe_epochs == pytest.approx(4.0)  # 2 probes × 2 epochs
    assert len(set(result.seeds)) == 2


def test_grand_higher_for_mislabeled_and_last_layer_bounded_by_full(ctx, noisy):
    full = run(ctx, "grand", ensemble_size=1, epoch=2, variant="full").scores
    last = run(ctx, "grand", ensemble_size=1, epoch=2, variant="last-layer").scores
    assert_harder(full, noisy[1])
    # the last layer's gradient is a sub-vector of the full gradient
    assert np.all(last <= full * (1 + 1e-4) + 1e-6)
    assert np.corrcoef(last, full)[0, 1] > 0.5


def test_forgetting_nonnegative_never_learned_rule_and_mislabeled(ctx, noisy):
    result = run(ctx, "forgetting", ensemble_size=1)
    correct = ctx.ensemble_runs(1)[0].dynamics["correct"]
    never = ~correct.any(axis=0)
    ceiling = never_learned_score(correct.shape[0])
    assert np.all(result.scores >= 0)
    assert np.all(result.scores[never] == ceiling) and np.all(result.scores[~never] < ceiling)
    assert_harder(result.scores, noisy[1])


def test_aum_negative_for_mislabeled(ctx, noisy):
    scores = run(ctx, "aum", ensemble_size=1).scores  # score = −AUM
    assert -scores[noisy[1]].mean() < 0
    assert_harder(scores, noisy[1])


def test_aum_windows_whole_run_and_pleiss_first_lr_drop(ctx):
    margins = ctx.ensemble_runs(1)[0].dynamics["margin"]
    whole = run(ctx, "aum", ensemble_size=1)
    assert np.allclose(whole.scores, -margins.mean(axis=0)) and whole.probe_epochs == 4
    pleiss = run(ctx, "aum", ensemble_size=1, window="first-lr-drop")  # one-cycle peak: ceil(0.2 x 4) = 1 epoch
    assert np.allclose(pleiss.scores, -margins[0]) and pleiss.probe_epochs == 1 and "first-lr-drop" in pleiss.variant
    assert pleiss.cost_probe_epochs == pytest.approx(1.0)
    two = run(ctx, "aum", ensemble_size=2)
    assert np.isfinite(two.score_se).all() and two.n_models == 2


def test_score_tables_store_standard_errors_and_probe_smoothing(ctx, tmp_path):
    el2n = read_scores(compute_metric(CONFIG, "el2n", ctx=ctx, out=tmp_path / "e.parquet", overrides={"ensemble_size": 2}))
    norms = [np.linalg.norm(softmax(ctx.logits(r, "train", 4)) - np.eye(10)[ctx.labels], axis=1) for r in ctx.ensemble_runs(2)]
    assert np.allclose(el2n.score_se, np.abs(norms[0] - norms[1]) / 2)  # s/sqrt(2) for two members
    assert el2n.provenance["n_models"] == 2 and el2n.provenance["label_smoothing"] == 0.0
    assert el2n.provenance["target_split"] == "train"
    mem = read_scores(compute_metric(CONFIG, "memorization", ctx=ctx, out=tmp_path / "m.parquet"))
    assert np.isfinite(mem.score_se).all() and mem.score_se.max() > 0.1  # 4 in / 4 out models: coarse
    one = read_scores(compute_metric(CONFIG, "forgetting", ctx=ctx, out=tmp_path / "f.parquet"))
    assert np.isnan(one.score_se).all()  # one probe: undefined
    norm = read_scores(compute_metric(CONFIG, "input-norm", ctx=ctx, out=tmp_path / "n.parquet"), ctx.train_set.ids)
    assert np.all(norm.score_se == 0) and norm.provenance["cost_probe_epochs"] == 0 and np.all(norm.scores > 0)


def test_memorization_higher_for_mislabeled(ctx, noisy):
    result = run(ctx, "memorization")
    assert np.all(np.abs(result.scores) <= 1)
    assert_harder(result.scores, noisy[1])
    assert result.cost_probe_epochs == pytest.approx(8 * 12 * 0.5, rel=0.02)  # subset models on half the data


def test_influence_targets_a_heldout_train_fold_never_the_test_split(ctx, tmp_path):
    # compute_metric serves the metric only the splits it declares: reading the test split would raise
    table = read_scores(compute_metric(CONFIG, "influence", ctx=ctx, out=tmp_path / "i.parquet"), ctx.train_set.ids)
    assert table.provenance["target_split"] == "train-heldout-fold" and "targets=train-heldout-2-fold" in table.provenance["variant"]
    assert np.all(np.abs(table.scores) <= 1) and np.isfinite(table.score_se).all() and table.provenance["n_models"] == 8
    fold_of = heldout_folds(ctx.labels, 2, ctx.derive("influence", "folds"))
    for fold in range(2):
        influencers, summary, runs = influence_fold(ctx, fold_of, fold, subsample_settings(ctx), "correctness")
        assert np.array_equal(influencers, np.flatnonzero(fold_of != fold))
        for r in runs:  # no subset model of this fold ever trained on one of its targets
            assert not np.isin(r.positions, np.flatnonzero(fold_of == fold)).any() and len(r.positions) > 0
    trained = sorted(ctx.probe_root.iterdir())
    total = run(ctx, "influence", variant="sum-abs")
    assert sorted(ctx.probe_root.iterdir()) == trained  # the sum-abs variant re-uses the max variant's 2 x 8 models
    assert total.seeds == table.provenance["seeds"] and len(set(total.seeds)) == 16
    assert np.all(total.scores >= np.abs(table.scores) - 1e-9)
    assert total.cost_probe_epochs == pytest.approx(2 * 8 * 12 * 0.25, rel=0.05)  # 8 models x half of half the data


def test_margin_and_entropy_are_uncertainty(ctx):
    margin = run(ctx, "margin", ensemble_size=1).scores
    ent = run(ctx, "entropy", ensemble_size=1).scores
    true_class = run(ctx, "margin", ensemble_size=1, variant="true-class").scores
    assert np.all((margin >= 0) & (margin <= 1)) and np.all((ent >= 0) & (ent <= np.log(10) + 1e-9))
    assert np.all((true_class >= 0) & (true_class <= 2))
    logits = ctx.logits(ctx.ensemble_runs(1)[0], "train", 4)
    wrong = logits.argmax(1) != ctx.labels
    # misclassified examples: the true-class margin is beyond 1; label-free uncertainty is higher on average
    assert np.all(true_class[wrong] >= 1 - 1e-9) and np.all(true_class[~wrong] <= 1 + 1e-9)
    assert_harder(margin, wrong)
    assert_harder(ent, wrong)


def test_ensemble_active_learning_disagreement(ctx):
    runs = ctx.ensemble_runs(2)
    votes = np.stack([ctx.logits(r, "train", 4).argmax(1) for r in runs])
    ratio = run(ctx, "ensemble-active-learning", ensemble_size=2, acquisition="variation-ratio").scores
    assert set(np.unique(ratio)) <= {0.0, 0.5}
    assert np.array_equal(ratio == 0.5, votes[0] != votes[1])
    bald = run(ctx, "ensemble-active-learning", ensemble_size=2, acquisition="bald").scores
    assert np.all(bald >= -1e-12) and bald[votes[0] != votes[1]].mean() > bald[votes[0] == votes[1]].mean()


def test_ddd_fraction_of_models_wrong(ctx, noisy):
    result = run(ctx, "ddd", seeds=2, folds=2, epochs=4)
    assert set(np.unique(result.scores)) <= {0.0, 0.5, 1.0}  # 2 held-out models per example
    assert_harder(result.scores, noisy[1])


def test_supervised_prototypes_mislabeled_far_from_class_mean(ctx, noisy):
    result = run(ctx, "supervised-prototypes", ensemble_size=1)
    assert_harder(result.scores, noisy[1])
    emb = ctx.embeddings(ctx.ensemble_runs(1)[0], "train", 4)
    assert np.allclose(class_centroid_distance(emb * 5.0, ctx.labels), result.scores)


def test_ssl_prototypes_label_free_and_seed_deterministic(ctx, clean, tmp_path):
    a = run(ctx, "ssl-prototypes").scores
    # labels are never used: the clean-label set (fresh SimCLR run, fresh k-means) gives the same scores
    fresh = MetricContext.from_config(CONFIG, train_set=clean[0], device="cpu", probe_root=tmp_path)
    assert np.allclose(run(fresh, "ssl-prototypes").scores, a, atol=1e-6)
    assert np.all((a >= 0) & (a <= 2))
    other = MetricContext.from_config({**CONFIG, "seed": 7}, train_set=clean[0], device="cpu", probe_root=tmp_path)
    assert not np.allclose(run(other, "ssl-prototypes").scores, a)


def test_grand_at_init_reads_the_weights_after_the_whitening_init(clean, tmp_path):
    """Epoch 0 is the true start of training: airbench's data-dependent whitening filters included."""
    import torch

    from prunebench.training import TrainConfig, build_model
    from prunebench.training.loop import init_whitening

    train = clean[0].subset(np.arange(100))
    probe = {"model": "airbench", "model_kwargs": {"width": "tiny"}, "epochs": 1, "batch_size": 50, "progress": False,
             "tta": False}
    small = MetricContext.from_config({**CONFIG, "probe": probe}, train_set=train, device="cpu", probe_root=tmp_path)
    probe_run = small.ensemble_runs(1, save_epochs={0})[0]
    saved = torch.load(probe_run.checkpoint(0), weights_only=True)
    cfg = TrainConfig.from_dict(probe_run.spec.probe_config(small.probe_cfg))
    model = build_model(cfg, train.num_classes, probe_run.spec.seed)
    built = {k: v.clone() for k, v in model.state_dict().items()}
    init_whitening(model, train, cfg, probe_run.spec.seed, "cpu")
    started = model.state_dict()
    assert any(not torch.equal(built[k], started[k]) for k in built)  # the whitening init changes the filters
    assert all(torch.equal(saved[k], started[k].cpu()) for k in started)
    scores = run(small, "grand", ensemble_size=1, epoch=0, variant="last-layer").scores
    assert scores.shape == (100,) and np.all(scores > 0)


def test_airbench_probe_end_to_end_cli(tmp_path):
    """The CLI on a real config with the airbench probe: compute → score table → select."""
    config = {"name": "pytest-cli", "seed": 0, "data": {**DATA, "train_size": 200, "test_size": 100},
              "probe": {"model": "airbench", "model_kwargs": {"width": "tiny"}, "epochs": 1, "batch_size": 100,
                        "progress": False},
              "metrics": {"names": ["el2n", "grand"], "el2n": {"ensemble_size": 1, "epoch": 1},
                          "grand": {"ensemble_size": 1, "epoch": 1, "variant": "full", "batch_size": 64}},
              "selection": {"class_balance": 0.5}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "PRUNEBENCH_PROBE_DIR": str(tmp_path / "probes")}
    scores = tmp_path / "el2n.parquet"
    for metric, out in (("el2n", scores), ("grand", tmp_path / "grand.parquet")):
        proc = subprocess.run([sys.executable, "-m", "prunebench", "metrics", "compute", "--config", str(path),
                               "--metric", metric, "--out", str(out)], capture_output=True, text=True, env=env,
                              cwd=REPO_ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]
    table = read_scores(scores, load_dataset(config["data"], "train").ids)
    assert table.provenance["probe_epochs"] == 1 and table.provenance["cost_probe_epochs"] == 1
    assert table.provenance["wall_time_s"] > 0 and table.provenance["code_version"]
    grand = read_scores(tmp_path / "grand.parquet")
    assert grand.provenance["reused_probe_runs"] == 1  # the el2n probe run was re-used
    kept = tmp_path / "kept.csv"
    proc = subprocess.run([sys.executable, "-m", "prunebench", "select", "--scores", str(scores), "--config", str(path),
                           "--fraction-kept", "0.3", "--keep", "hard", "--out", str(kept)], capture_output=True,
                          text=True, env=env, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import pandas as pd

    frame = pd.read_csv(kept)
    assert len(frame) == 60 and frame["fraction_kept"].iloc[0] == 0.3 and frame["prune_ratio"].iloc[0] == pytest.approx(0.7)
    bad = subprocess.run([sys.executable, "-m", "prunebench", "metrics", "compute", "--config", str(path), "--metric",
                          "el2m", "--out", str(tmp_path / "x.parquet")], capture_output=True, text=True, env=env,
                         cwd=REPO_ROOT)
    assert bad.returncode == 2 and "el2n" in bad.stderr and bad.stderr.count("\n") == 1
