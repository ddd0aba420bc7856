"""``memorization`` and ``influence``: Feldman & Zhang's (NeurIPS 2020) subsampled estimators.

Both read the same ``m`` probe runs, each trained on a random subset of the training set
(``metrics.subsample``: ``models``, ``ratio``, ``epochs``), so computing one after the other trains
the subset models once.

Subset design: a *balanced incidence design* — every example is put in exactly
``round(ratio · m)`` of the ``m`` subsets (chosen uniformly at random per example), so each subset
holds ``≈ ratio · N`` examples and every example has both in-subset and held-out models even for
small ``m``. With F&Z's i.i.d. subsets and small ``m`` some examples would have no held-out model
(probability ``ratio^m``, e.g. 6% at m = 8) and no estimate; for large ``m`` the two designs agree.
The estimators are unbiased but noisy: their standard error is about ``sqrt(2/(m·ratio·(1−ratio)))``
times the per-example Bernoulli std, i.e. ±0.3 at m = 16 — at ``ci`` scale treat them as coarse.
"""

from __future__ import annotations

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.common import softmax
from prunebench.metrics.context import run_costs
from prunebench.metrics.registry import MetricResult, register_metric

SUBSAMPLE_DEFAULTS = {"models": 16, "ratio": 0.7, "epochs": None}


def subset_masks(n: int, models: int, ratio: float, seed: int) -> np.ndarray:
    """m×n boolean incidence matrix: each example in exactly ``clip(round(ratio m), 1, m−1)`` subsets."""
    if models < 2:
        raise PrunebenchError(f"the subsample estimator needs at least 2 models, got {models}")
    k_in = int(np.clip(round(ratio * models), 1, models - 1))
    rng = np.random.default_rng(seed)
    chosen = np.argsort(rng.random((n, models)), axis=1)[:, :k_in]
    masks = np.zeros((models, n), dtype=bool)
    masks[chosen.T, np.arange(n)[None, :]] = True
    return masks


def in_out_difference(masks: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """``mean_{m: i∈S_m} outcome_{m,j} − mean_{m: i∉S_m} outcome_{m,j}`` for train i (rows) and target j.

    ``masks`` m×N (train membership), ``outcome`` m×M; returns N×M. With ``outcome`` = correctness on
    the train set itself and j = i this is F&Z's memorization estimate.
    """
    masks = np.asarray(masks, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    n_in, n_out = masks.sum(axis=0), (1 - masks).sum(axis=0)
    if np.any(n_in == 0) or np.any(n_out == 0):
        raise PrunebenchError("an example has no in-subset or no held-out model; use more subsample models")
    return (masks.T @ outcome) / n_in[:, None] - ((1 - masks).T @ outcome) / n_out[:, None]


def memorization_scores(masks: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """``mem_i = P[h(x_i) = y_i | i ∈ S] − P[h(x_i) = y_i | i ∉ S]`` (diagonal of :func:`in_out_difference`)."""
    masks = np.asarray(masks, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    n_in, n_out = masks.sum(axis=0), (1 - masks).sum(axis=0)
    if np.any(n_in == 0) or np.any(n_out == 0):
        raise PrunebenchError("an example has no in-subset or no held-out model; use more subsample models")
    return (masks * outcome).sum(axis=0) / n_in - ((1 - masks) * outcome).sum(axis=0) / n_out


def influence_summaries(masks: np.ndarray, test_outcome: np.ndarray, chunk: int = 4096) -> dict[str, np.ndarray]:
    """Per train example: ``max_j infl(i, j)`` and ``Σ_j |infl(i, j)|`` over test examples j (chunked)."""
    out = {"max": [], "sum-abs": []}
    for start in range(0, masks.shape[1], chunk):
        block = in_out_difference(masks[:, start:start + chunk], test_outcome)
        out["max"].append(block.max(axis=1))
        out["sum-abs"].append(np.abs(block).sum(axis=1))
    return {k: np.concatenate(v) for k, v in out.items()}


def outcome_of(logits: np.ndarray, labels: np.ndarray, estimator: str) -> np.ndarray:
    """Per-example outcome of one model: ``correctness`` (0/1, F&Z) or ``probability`` (softmax p_y)."""
    if estimator == "correctness":
        return (logits.argmax(axis=1) == labels).astype(np.float64)
    if estimator == "probability":
        return softmax(logits)[np.arange(len(labels)), labels]
    raise PrunebenchError(f"estimator must be correctness or probability, got '{estimator}'")


def subsample_runs(ctx):
    """The shared subset models of ``metrics.subsample`` and their masks (trained on demand)."""
    cfg = {**SUBSAMPLE_DEFAULTS, **(ctx.metrics_cfg.get("subsample") or {})}
    epochs = int(cfg["epochs"] or ctx.ensemble_epochs)
    masks = subset_masks(len(ctx.train_set), int(cfg["models"]), float(cfg["ratio"]), ctx.derive("subsample", "masks"))
    runs = ctx.subset_runs("subsample", masks, epochs=epochs)
    return masks, runs, epochs, cfg


def _cost(ctx, runs, epochs, cfg):
    return dict(probe_epochs=epochs, **run_costs(runs, len(ctx.train_set))), f"m={len(runs)},ratio={cfg['ratio']}"


@register_metric("memorization", defaults={"estimator": "correctness"},
                 reference="Feldman & Zhang 2020, What Neural Networks Memorize and Why (NeurIPS), eq. 1 and §3")
def memorization(ctx, params):
    """Memorization (Feldman & Zhang 2020): ``mem(A, S, i) = P_{h←A(S)}[h(x_i)=y_i] − P_{h←A(S∖i)}[h(x_i)=y_i]``.

    Subsampled estimator: train ``m`` models on random ``ratio``-subsets, then
    ``mem_i = mean_{m: i∈S_m} 1[h_m(x_i)=y_i] − mean_{m: i∉S_m} 1[h_m(x_i)=y_i]`` (eval-mode predictions
    of each model after its last epoch). ``estimator: probability`` replaces the 0/1 correctness by
    the softmax probability of the label (lower variance with few models; not F&Z's definition).
    """
    masks, runs, epochs, cfg = subsample_runs(ctx)
    outcome = np.stack([outcome_of(ctx.logits(r, "train", epochs), ctx.labels, params["estimator"]) for r in runs])
    costs, design = _cost(ctx, runs, epochs, cfg)
    return MetricResult(scores=memorization_scores(masks, outcome), variant=f"{params['estimator']},{design}", **costs)


@register_metric("influence", defaults={"variant": "max", "estimator": "correctness"},
                 reference="Feldman & Zhang 2020, What Neural Networks Memorize and Why (NeurIPS), eq. 2")
def influence(ctx, params):
    """Influence of train example i on test example j (Feldman & Zhang 2020), summarised per train example.

    ``infl(A, S, i, j) = P_{h←A(S)}[h(x'_j)=y'_j] − P_{h←A(S∖i)}[h(x'_j)=y'_j]``, estimated from the same
    subset models as :func:`memorization`. Variants (Sorscher et al. 2022's ImageNet files):
    ``max`` — ``max_j infl(i, j)`` (``influence-max``), ``sum-abs`` — ``Σ_j |infl(i, j)|``
    (``influence-sum-abs``). Needs the test split (``data.test_size`` examples).
    """
    if params["variant"] not in ("max", "sum-abs"):
        raise PrunebenchError(f"influence variant must be max or sum-abs, got '{params['variant']}'")
    masks, runs, epochs, cfg = subsample_runs(ctx)
    test_labels = np.asarray(ctx.test_set.labels, dtype=np.int64)
    outcome = np.stack([outcome_of(ctx.logits(r, "test", epochs), test_labels, params["estimator"]) for r in runs])
    scores = influence_summaries(masks, outcome)[params["variant"]]
    costs, design = _cost(ctx, runs, epochs, cfg)
    return MetricResult(scores=scores, variant=f"influence-{params['variant']},{params['estimator']},{design},"
                                               f"test={len(test_labels)}", **costs)
