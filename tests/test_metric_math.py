"""Metric formulas on synthetic arrays, checked against properties from their definitions."""

import numpy as np
import pytest

from prunebench.metrics.common import assigned_margin, onehot, softmax
from prunebench.metrics.ddd import fold_masks, heldout_error_fraction
from prunebench.metrics.dynamics import area_under_margin, forgetting_counts, never_learned_score
from prunebench.metrics.el2n import el2n_from_logits
from prunebench.metrics.memorization import influence_summaries, in_out_difference, memorization_scores, subset_masks
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
