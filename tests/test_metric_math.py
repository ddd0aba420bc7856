"""Metric formulas on synthetic arrays, checked against properties from their definitions."""

import numpy as np
import pytest

from prunebench.errors import PrunebenchError
from prunebench.metrics.common import assigned_margin, jackknife_se, member_se, onehot, softmax
from prunebench.metrics.ddd import fold_masks, heldout_error_fraction
from prunebench.metrics.dynamics import area_under_margin, forgetting_counts, never_learned_score
from prunebench.metrics.el2n import el2n_from_logits
from prunebench.metrics.memorization import (combine_folds, heldout_folds, in_out_difference, in_out_stats,
                                             influence_summaries, memorization_scores, memorization_stats, subset_masks)
from prunebench.metrics.prototypes import class_centroid_distance, kmeans_nearest_distance
from prunebench.metrics.random import random_scores
from prunebench.metrics.uncertainty import entropy, margin_top2, margin_true_class, mutual_information, variation_ratio


def test_forgetting_counts_transitions_and_never_learned_rule():
    seqs = np.array([
        [1, 1, 1, 1, 1, 1],  # learned, never forgotten
        [0, 1, 0, 1, 0, 1],  # forgotten twice
        [1, 0, 1, 0, 1, 0],  # forgotten three times (the maximum, floor(6/2))
        [0, 0, 0, 0, 0, 1],  # learned late
        [0, 0, 0, 0, 0, 0],  # never learned
    ], dtype=bool).T
    counts = forgetting_counts(seqs)
    assert list(counts) == [0, 2, 3, 0, never_learned_score(6)]
    assert never_learned_score(6) == 4 and counts.min() >= 0
    # never learned ranks above every possible learned sequence: brute force over all sequences of length 6
    all_seqs = ((np.arange(64)[:, None] >> np.arange(6)) & 1).astype(bool).T
    learned = all_seqs.any(axis=0)
    assert forgetting_counts(all_seqs)[learned].max() < never_learned_score(6)


def test_aum_negative_for_examples_whose_logit_loses():
    logits = np.zeros((3, 2, 4))
    labels = np.array([0, 1])
    logits[:, 0, 0] = 2.0   # example 0: assigned logit wins every epoch
    logits[:, 1, 2] = 1.0   # example 1: another class wins -> negative margin
    margins = assigned_margin(logits, labels)
    assert np.allclose(margins[:, 0], 2.0) and np.allclose(margins[:, 1], -1.0)
    aum = area_under_margin(margins)
    assert aum[0] > 0 > aum[1]


def test_el2n_bounds_and_ensemble_average():
    labels = np.array([0, 1])
    confident_right = np.array([[20.0, 0, 0], [0, 20.0, 0]])
    confident_wrong = np.array([[0, 20.0, 0], [20.0, 0, 0]])
    assert np.allclose(el2n_from_logits([confident_right], labels), 0, atol=1e-6)
    assert np.allclose(el2n_from_logits([confident_wrong], labels), np.sqrt(2), atol=1e-6)
    # averaged over models, not summed
    assert np.allclose(el2n_from_logits([confident_right, confident_wrong], labels), np.sqrt(2) / 2, atol=1e-6)


def test_uncertainty_scores():
    p = np.array([[1.0, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]])
    assert np.allclose(margin_top2(p), [0, 1, 1])
    assert np.allclose(entropy(p), [0, np.log(3), np.log(2)])
    assert np.allclose(margin_true_class(np.array([[0.9, 0.1], [0.9, 0.1]]), np.array([0, 1])), [0.2, 1.8])
    agree = np.tile(np.array([[0.9, 0.1]]), (4, 1, 1))
    disagree = np.array([[[0.9, 0.1]], [[0.1, 0.9]], [[0.9, 0.1]], [[0.1, 0.9]]])
    assert variation_ratio(agree)[0] == 0 and variation_ratio(disagree)[0] == 0.5
    assert mutual_information(disagree)[0] > mutual_information(agree)[0] == pytest.approx(0)


def test_subset_masks_balanced_design():
    masks = subset_masks(1000, 8, 0.7, seed=0)
    assert masks.shape == (8, 1000)
    assert np.all(masks.sum(axis=0) == round(0.7 * 8))  # every example in exactly 6 subsets
    assert np.allclose(masks.mean(axis=1), 0.75, atol=0.06)
    assert np.array_equal(masks, subset_masks(1000, 8, 0.7, seed=0))


def test_memorization_estimator_on_synthetic_models():
    rng = np.random.default_rng(0)
    masks = subset_masks(300, 16, 0.7, seed=1)
    # examples 0..99: always right (typical); 100..199: right only when trained on (memorized);
    # 200..299: right with prob 0.5 regardless (noise)
    correct = np.ones((16, 300))
    correct[:, 100:200] = masks[:, 100:200]
    correct[:, 200:] = rng.random((16, 100)) < 0.5
    mem = memorization_scores(masks, correct)
    assert np.allclose(mem[:100], 0) and np.allclose(mem[100:200], 1)
    assert abs(mem[200:].mean()) < 0.15
    assert np.allclose(np.diag(in_out_difference(masks, correct)), mem)


def test_influence_summaries():
    masks = subset_masks(50, 10, 0.5, seed=2)
    test = np.zeros((10, 3))
    test[:, 0] = masks[:, 7]  # test example 0 is right iff train example 7 was trained on
    out = influence_summaries(masks, test, chunk=16)
    assert out["max"][7] == pytest.approx(1.0) and np.argmax(out["max"]) == 7
    assert out["sum-abs"][7] == pytest.approx(1.0)


def test_ddd_heldout_fraction():
    masks = fold_masks(100, 2, seed=0)
    assert np.all(masks.sum(axis=0) == 1)  # 2 folds: each example trained on by exactly one model
    wrong = np.zeros((2, 100))
    wrong[:, :10] = 1
    frac = heldout_error_fraction(masks, wrong)
    assert np.allclose(frac[:10], 1) and np.allclose(frac[10:], 0)


def test_supervised_prototype_properties():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(200, 16)) + 3
    labels = rng.integers(0, 4, size=200)
    centroid = emb[labels == 2].mean(axis=0)
    emb_with_dup = np.vstack([emb, centroid])
    labels_with_dup = np.append(labels, 2)
    # adding a copy of the centroid does not move the centroid, and the copy is at distance 0
    assert class_centroid_distance(emb_with_dup, labels_with_dup)[-1] == pytest.approx(0, abs=1e-12)
    base = class_centroid_distance(emb, labels)
    assert np.allclose(class_centroid_distance(emb * 7.5, labels), base)  # scale invariant
    assert np.all((base >= 0) & (base <= 2))


def test_kmeans_prototypes_deterministic_with_seed():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 8)) * 5
    emb = np.repeat(centers, 40, axis=0) + rng.normal(size=(200, 8))
    a = kmeans_nearest_distance(emb, 5, seed=3)
    assert np.array_equal(a, kmeans_nearest_distance(emb, 5, seed=3))
    outlier = np.vstack([emb, rng.normal(size=(1, 8)) * 0.1])
    assert kmeans_nearest_distance(outlier, 5, seed=3)[-1] > np.median(a)


def test_random_scores_uniform_seeded_and_id_keyed():
    ids = np.arange(20000)
    a = random_scores(ids, 1)
    assert np.array_equal(a, random_scores(ids, 1)) and not np.array_equal(a, random_scores(ids, 2))
    assert abs(a.mean() - 0.5) < 0.01 and abs(a.var() - 1 / 12) < 0.005
    assert np.histogram(a, bins=10, range=(0, 1))[0].min() > 1800
    subset = ids[::7]
    assert np.array_equal(random_scores(subset, 1), a[subset])  # same score in every subset


def test_softmax_stable():
    assert np.allclose(softmax(np.array([[1000.0, 1000.0]])), 0.5)


def test_grand_full_matches_closed_form_for_linear_model():
    """For z = W x + b, ||∇_{W,b} CE|| = ||softmax(z) − onehot(y)|| · sqrt(||x||² + 1) exactly."""
    import torch

    from prunebench.metrics.el2n import grand_full, grand_last_layer

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5))
    x, y = torch.randn(40, 3, 2, 2), torch.randint(0, 5, (40,))
    with torch.no_grad():
        p = torch.softmax(model(x), dim=1).numpy()
    expected = np.linalg.norm(p - onehot(y.numpy(), 5), axis=1) * np.sqrt((x.flatten(1) ** 2).sum(1).numpy() + 1)
    batches = [(x[:16], y[:16]), (x[16:], y[16:])]
    assert np.allclose(grand_full(model, batches), expected, rtol=1e-5)
    assert np.allclose(grand_last_layer(model, batches), expected, rtol=1e-5)  # the only layer is the last


def test_memorization_standard_error_from_in_out_counts():
    rng = np.random.default_rng(3)
    masks = subset_masks(400, 16, 0.7, seed=4)  # 11 in, 5 out per example
    correct = np.ones((16, 400))
    correct[:, 200:] = rng.random((16, 200)) < 0.5  # 200..399: true memorization 0, p = 0.5
    mem, se = memorization_stats(masks, correct)
    assert np.allclose(mem, memorization_scores(masks, correct)) and np.all(se[:200] == 0)
    i = 250
    inside, outside = correct[masks[:, i], i], correct[~masks[:, i], i]
    welch = np.sqrt(inside.var(ddof=1) / len(inside) + outside.var(ddof=1) / len(outside))
    assert se[i] == pytest.approx(welch)
    assert np.mean(np.abs(mem[200:]) <= 2.5 * se[200:]) > 0.85  # the SE is the scale of the estimator's noise
    assert np.allclose(np.diag(in_out_stats(masks, correct)[1]), se)
    one_out = subset_masks(10, 4, 0.7, seed=0)  # 3 in, 1 out: no variance from one held-out model
    assert np.isnan(memorization_stats(one_out, np.ones((4, 10)))[1]).all()


def test_influence_standard_errors_follow_the_summaries():
    rng = np.random.default_rng(5)
    masks = subset_masks(40, 12, 0.5, seed=6)
    outcome = (rng.random((12, 7)) < 0.6).astype(float)
    out = influence_summaries(masks, outcome, chunk=16)
    diff, se = in_out_stats(masks, outcome)
    assert np.allclose(out["sum-abs-se"], np.sqrt((se**2).sum(axis=1)))
    assert np.allclose(out["max-se"], se[np.arange(40), diff.argmax(axis=1)])


def test_heldout_folds_class_balanced_and_fold_combination():
    labels = np.repeat(np.arange(10), 51)
    folds = heldout_folds(labels, 2, seed=0)
    assert set(np.unique(folds)) == {0, 1} and abs(np.bincount(folds)[0] - np.bincount(folds)[1]) <= 1
    for c in range(10):
        assert np.ptp(np.bincount(folds[labels == c])) <= 1
    assert not np.array_equal(folds, heldout_folds(labels, 2, seed=1))
    with pytest.raises(PrunebenchError):
        heldout_folds(labels, 1, seed=0)
    a, b = np.array([0, 1]), np.array([1, 2])
    per_fold = [(a, {"max": np.array([0.2, 0.5]), "max-se": np.array([0.1, 0.3]),
                     "sum-abs": np.array([1.0, 2.0]), "sum-abs-se": np.array([0.3, 0.4])}, []),
                (b, {"max": np.array([0.1, 0.7]), "max-se": np.array([0.2, 0.2]),
                     "sum-abs": np.array([3.0, 4.0]), "sum-abs-se": np.array([0.3, 0.5])}, [])]
    top, top_se = combine_folds(3, per_fold, "max")
    assert np.allclose(top, [0.2, 0.5, 0.7]) and np.allclose(top_se, [0.1, 0.3, 0.2])
    total, total_se = combine_folds(3, per_fold, "sum-abs")
    assert np.allclose(total, [1.0, 5.0, 4.0]) and np.allclose(total_se, [0.3, 0.5, 0.5])


def test_member_and_jackknife_standard_errors():
    values = np.random.default_rng(7).normal(size=(5, 30))
    assert np.allclose(member_se(values), values.std(axis=0, ddof=1) / np.sqrt(5))
    assert np.isnan(member_se(values[:1])).all()
    # the jackknife SE of a mean is exactly the textbook s/sqrt(k)
    assert np.allclose(jackknife_se(lambda v: v.mean(axis=0), values), member_se(values))
    assert np.isnan(jackknife_se(lambda v: v.mean(axis=0), values[:1])).all()


def test_input_norm_is_the_norm_of_the_normalised_image():
    from types import SimpleNamespace

    from prunebench.metrics.input_norm import input_norms

    images = np.random.default_rng(8).integers(0, 256, size=(7, 4, 4, 3), dtype=np.uint8)
    stats = ((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    norms = input_norms(SimpleNamespace(images=images, channel_stats=stats), batch_size=3)
    expected = np.linalg.norm(((images / 255.0 - np.array(stats[0])) / np.array(stats[1])).reshape(7, -1), axis=1)
    assert np.allclose(norms, expected, rtol=1e-5)
