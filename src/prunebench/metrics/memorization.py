"""``memorization`` and ``influence``: Feldman & Zhang's (NeurIPS 2020) subsampled estimators.

``memorization`` reads ``m`` probe runs, each trained on a random subset of the training set
(``metrics.subsample``: ``models``, ``ratio``, ``epochs``). ``influence`` (and its named variants,
e.g. ``influence-sum-abs``) reads its own subset models, shared between its variants.

Subset design: a *balanced incidence design* — every example is put in exactly
``round(ratio · m)`` of the ``m`` subsets (chosen uniformly at random per example), so each subset
holds ``≈ ratio · N`` examples and every example has both in-subset and held-out models even for
small ``m``. With F&Z's i.i.d. subsets and small ``m`` some examples would have no held-out model
(probability ``ratio^m``, e.g. 6% at m = 8) and no estimate; for large ``m`` the two designs agree.

**Influence targets are a held-out split of the training set, never the sweep's test split.** F&Z
measure the influence of training example i on *test* examples j; the sweep evaluates on the test
split, so a score built from it would select training data with test labels. Instead the training
set is cut into ``folds`` seeded, class-balanced folds (default 2); the targets of fold k are its
own examples, and its influencers are all other examples, with ``m`` subset models trained on
``ratio``-subsets of them (the targets are in none). Every training example is thus scored, on the
targets of the folds it is not in; the provenance says ``target_split: train-heldout-fold``.

**Standard errors** (``score_se``) come from the in/out counts: for an in/out difference
``d = ō_in − ō_out`` of per-model outcomes, ``SE = sqrt(s²_in/n_in + s²_out/n_out)`` with sample
variances (ddof 1; NaN with fewer than 2 in or 2 out models). For 0/1 correctness at ``p ≈ 0.5`` this
is ``≈ 0.5·sqrt(1/(m·ratio·(1−ratio)))``: ±0.35 at m = 8, ratio 0.5 — hence ``min_models``, and
see ``docs/metrics.md`` for how many models an estimate needs.
"""

from __future__ import annotations

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.common import softmax
from prunebench.metrics.context import run_costs
from prunebench.metrics.registry import MetricResult, ModelSet, register_metric

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


def _sample_variance(count, mean, second):
    """Unbiased sample variance from a count, mean and mean square (NaN where ``count < 2``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count >= 2, np.maximum(second - mean**2, 0.0) * count / (count - 1), np.nan)


def _check_counts(n_in, n_out) -> None:
    if np.any(n_in == 0) or np.any(n_out == 0):
        raise PrunebenchError("an example has no in-subset or no held-out model; use more subsample models")


def _group_moments(masks: np.ndarray, outcome: np.ndarray):
    """Per (train i, target j): count, mean and sample variance of the outcome over in, then out, models."""
    masks = np.asarray(masks, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    counts = masks.sum(axis=0)[:, None], (1 - masks).sum(axis=0)[:, None]
    _check_counts(*counts)
    groups = []
    for weights, count in zip((masks, 1 - masks), counts):
        mean, second = (weights.T @ outcome) / count, (weights.T @ outcome**2) / count
        groups.append((count, mean, _sample_variance(count, mean, second)))
    return groups


def in_out_stats(masks: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``d_ij = mean_{m: i∈S_m} o_{m,j} − mean_{m: i∉S_m} o_{m,j}`` and its standard error, both N×M.

    ``masks`` m×N (train membership), ``outcome`` m×M. ``SE_ij = sqrt(s²_in/n_in + s²_out/n_out)``
    (Welch; sample variances with ddof 1, NaN when a group has fewer than 2 models).
    """
    (n_in, mean_in, var_in), (n_out, mean_out, var_out) = _group_moments(masks, outcome)
    return mean_in - mean_out, np.sqrt(var_in / n_in + var_out / n_out)


def in_out_difference(masks: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """``mean_{m: i∈S_m} outcome_{m,j} − mean_{m: i∉S_m} outcome_{m,j}`` for train i (rows) and target j.

    ``masks`` m×N (train membership), ``outcome`` m×M; returns N×M. With ``outcome`` = correctness on
    the train set itself and j = i this is F&Z's memorization estimate.
    """
    return in_out_stats(masks, outcome)[0]


def memorization_stats(masks: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mem_i = P[h(x_i) = y_i | i ∈ S] − P[h(x_i) = y_i | i ∉ S]`` and its SE (the diagonal of :func:`in_out_stats`).

    ``masks`` and ``outcome`` are both m×N (outcome of model m on train example i).
    """
    masks = np.asarray(masks, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    n_in, n_out = masks.sum(axis=0), (1 - masks).sum(axis=0)
    _check_counts(n_in, n_out)
    parts = []
    for weights, count in ((masks, n_in), (1 - masks, n_out)):
        mean, second = (weights * outcome).sum(axis=0) / count, (weights * outcome**2).sum(axis=0) / count
        parts.append((mean, _sample_variance(count, mean, second) / count))
    (mean_in, var_mean_in), (mean_out, var_mean_out) = parts
    return mean_in - mean_out, np.sqrt(var_mean_in + var_mean_out)


def memorization_scores(masks: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """``mem_i = P[h(x_i) = y_i | i ∈ S] − P[h(x_i) = y_i | i ∉ S]`` (diagonal of :func:`in_out_difference`)."""
    return memorization_stats(masks, outcome)[0]


def influence_summaries(masks: np.ndarray, test_outcome: np.ndarray, chunk: int = 1024) -> dict[str, np.ndarray]:
    """Per train example: ``max_j infl(i, j)`` and ``Σ_j |infl(i, j)|`` over targets j, with standard errors.

    Returns ``max``, ``sum-abs``, ``max-se`` (the SE of the pair at the arg-max target: a plug-in that
    ignores the upward bias of a maximum over noisy estimates) and ``sum-abs-se``
    (``sqrt(Σ_j SE_ij²)``, treating the targets' estimates as independent).
    """
    out = {"max": [], "sum-abs": [], "max-se": [], "sum-abs-se": []}
    for start in range(0, masks.shape[1], chunk):
        block, se = in_out_stats(masks[:, start:start + chunk], test_outcome)
        top = block.argmax(axis=1)
        out["max"].append(block[np.arange(len(block)), top])
        out["max-se"].append(se[np.arange(len(block)), top])
        out["sum-abs"].append(np.abs(block).sum(axis=1))
        out["sum-abs-se"].append(np.sqrt((se**2).sum(axis=1)))
    return {k: np.concatenate(v) for k, v in out.items()}


def outcome_of(logits: np.ndarray, labels: np.ndarray, estimator: str) -> np.ndarray:
    """Per-example outcome of one model: ``correctness`` (0/1, F&Z) or ``probability`` (softmax p_y)."""
    if estimator == "correctness":
        return (logits.argmax(axis=1) == labels).astype(np.float64)
    if estimator == "probability":
        return softmax(logits)[np.arange(len(labels)), labels]
    raise PrunebenchError(f"estimator must be correctness or probability, got '{estimator}'")


def subsample_settings(ctx) -> dict:
    """``metrics.subsample`` over :data:`SUBSAMPLE_DEFAULTS`, with ``epochs`` resolved."""
    cfg = {**SUBSAMPLE_DEFAULTS, **(ctx.metrics_cfg.get("subsample") or {})}
    cfg["epochs"] = int(cfg["epochs"] or ctx.ensemble_epochs)
    return cfg


def subsample_runs(ctx):
    """The shared subset models of ``metrics.subsample`` and their masks (trained on demand)."""
    cfg = subsample_settings(ctx)
    [(role, masks, epochs)] = subsample_plan(ctx, None)
    runs = ctx.subset_runs(role, masks, epochs=epochs)
    return masks, runs, epochs, cfg


def subsample_count(metrics_section: dict, params: dict) -> int:
    """Subset models of memorization's design, from the config alone: ``metrics.subsample.models``."""
    return int({**SUBSAMPLE_DEFAULTS, **(metrics_section.get("subsample") or {})}["models"])


def subsample_plan(ctx, params):
    """Memorization's one group of subset models: ``[("subsample", masks, epochs)]``."""
    cfg = subsample_settings(ctx)
    masks = subset_masks(len(ctx.train_set), int(cfg["models"]), float(cfg["ratio"]), ctx.derive("subsample", "masks"))
    return [("subsample", masks, cfg["epochs"])]


def influence_count(metrics_section: dict, params: dict) -> int:
    """Subset models of influence's design: ``folds`` x ``metrics.subsample.models``."""
    return int(params["folds"]) * subsample_count(metrics_section, params)


def influence_plan(ctx, params):
    """Influence's groups, one per held-out fold k: models on ``ratio``-subsets of the other folds."""
    cfg = subsample_settings(ctx)
    fold_of = heldout_folds(ctx.labels, int(params["folds"]), ctx.derive("influence", "folds"))
    return [(f"influence/fold{fold}", fold_masks(ctx, fold_of, fold, cfg), cfg["epochs"])
            for fold in range(int(params["folds"]))]


def fold_masks(ctx, fold_of: np.ndarray, fold: int, cfg: dict) -> np.ndarray:
    """m×N masks of fold ``fold``'s subset models: the balanced design over the influencers only."""
    influencers = np.flatnonzero(fold_of != fold)
    sub = subset_masks(len(influencers), int(cfg["models"]), float(cfg["ratio"]), ctx.derive("influence", "masks", fold))
    masks = np.zeros((len(sub), len(ctx.train_set)), dtype=bool)
    masks[:, influencers] = sub
    return masks


SUBSAMPLE_MODELS = ModelSet("subsample", subsample_count, subsample_plan, lambda params: params["estimator"])
INFLUENCE_MODELS = ModelSet("influence", influence_count, influence_plan, lambda params: params["estimator"])


def _cost(ctx, runs, epochs, cfg):
    return dict(probe_epochs=epochs, **run_costs(runs, len(ctx.train_set))), f"m={len(runs)},ratio={cfg['ratio']}"


@register_metric("memorization", needs=("correct",), defaults={"estimator": "correctness"}, min_models=4,
                 model_set=SUBSAMPLE_MODELS, reference="Feldman & Zhang 2020, What Neural Networks Memorize and Why (NeurIPS), eq. 1 and §3")
def memorization(ctx, params):
    """Memorization (Feldman & Zhang 2020): ``mem(A, S, i) = P_{h←A(S)}[h(x_i)=y_i] − P_{h←A(S∖i)}[h(x_i)=y_i]``.

    Subsampled estimator: train ``m`` models on random ``ratio``-subsets, then
    ``mem_i = mean_{m: i∈S_m} 1[h_m(x_i)=y_i] − mean_{m: i∉S_m} 1[h_m(x_i)=y_i]`` (eval-mode predictions
    of each model after its last epoch). ``estimator: probability`` replaces the 0/1 correctness by
    the softmax probability of the label (lower variance with few models; not F&Z's definition).
    ``score_se`` from the in/out counts (module docstring).
    """
    masks, runs, epochs, cfg = subsample_runs(ctx)
    outcome = np.stack([ctx.outcome(r, "train", epochs, params["estimator"]) for r in runs])
    costs, design = _cost(ctx, runs, epochs, cfg)
    scores, score_se = memorization_stats(masks, outcome)
    return MetricResult(scores=scores, variant=f"{params['estimator']},{design}", score_se=score_se,
                        n_models=len(runs), **costs)


def heldout_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold of each example (0..folds−1): seeded and class-balanced (each class dealt round-robin after a shuffle)."""
    if folds < 2:
        raise PrunebenchError(f"influence needs folds >= 2 (targets held out of the influencers), got {folds}")
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        assignment[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)  # continue the deal so fold sizes stay within one of each other
    return assignment


def influence_fold(ctx, fold_of: np.ndarray, fold: int, cfg: dict, estimator: str):
    """Influence of the examples outside ``fold`` on the targets inside it; returns (influencers, summaries, runs).

    The ``m`` subset models train on ``ratio``-subsets of the influencers only, so no target is
    ever trained on; their eval-mode outcomes on the targets feed :func:`influence_summaries`.
    """
    influencers, targets = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
    masks = fold_masks(ctx, fold_of, fold, cfg)
    runs = ctx.subset_runs(f"influence/fold{fold}", masks, epochs=cfg["epochs"])
    outcome = np.stack([ctx.outcome(r, "train", cfg["epochs"], estimator)[targets] for r in runs])
    return influencers, influence_summaries(masks[:, influencers], outcome), runs


def combine_folds(n: int, per_fold, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-fold summaries: the max over folds (``max``) or the sum (``sum-abs``), SEs alike."""
    scores = np.full(n, -np.inf if variant == "max" else 0.0)
    se_sq = np.zeros(n)
    for influencers, summary, _ in per_fold:
        value, se = summary[variant], summary[f"{variant}-se"]
        if variant == "max":
            better = value > scores[influencers]
            scores[influencers[better]] = value[better]
            se_sq[influencers[better]] = se[better] ** 2
        else:
            scores[influencers] += value
            se_sq[influencers] += se**2
    return scores, np.sqrt(se_sq)


@register_metric("influence", needs=("correct",), defaults={"variant": "max", "estimator": "correctness", "folds": 2}, min_models=4,
                 reads=("train",), model_set=INFLUENCE_MODELS,
                 reference="Feldman & Zhang 2020, What Neural Networks Memorize and Why (NeurIPS), eq. 2")
def influence(ctx, params):
    """Influence of train example i on held-out example j (Feldman & Zhang 2020), summarised per train example.

    ``infl(A, S, i, j) = P_{h←A(S)}[h(x'_j)=y'_j] − P_{h←A(S∖i)}[h(x'_j)=y'_j]``, estimated with the
    subsample design of ``metrics.subsample`` on a held-out split of the **training** set: the
    targets j of fold k are the examples of that fold (``folds`` seeded, class-balanced folds), the
    influencers i all other examples, whose subset models never see fold k (module docstring). Variants
    (Sorscher et al. 2022's ImageNet files): ``max`` — ``max_j infl(i, j)`` (``influence-max``),
    ``sum-abs`` — ``Σ_j |infl(i, j)|`` (``influence-sum-abs``), over all targets of the folds i is
    not in. F&Z used the test split; the sweep evaluates on it, so it is never read here.
    """
    if params["variant"] not in ("max", "sum-abs"):
        raise PrunebenchError(f"influence variant must be max or sum-abs, got '{params['variant']}'")
    cfg = subsample_settings(ctx)
    folds = int(params["folds"])
    fold_of = heldout_folds(ctx.labels, folds, ctx.derive("influence", "folds"))
    per_fold = [influence_fold(ctx, fold_of, k, cfg, params["estimator"]) for k in range(folds)]
    scores, score_se = combine_folds(len(ctx.train_set), per_fold, params["variant"])
    runs = [run for _, _, fold_runs in per_fold for run in fold_runs]
    costs, _ = _cost(ctx, runs, cfg["epochs"], cfg)
    design = f"m={cfg['models']}/fold,ratio={cfg['ratio']}"
    return MetricResult(scores=scores, variant=f"influence-{params['variant']},{params['estimator']},{design},"
                                               f"targets=train-heldout-{folds}-fold",
                        score_se=score_se, n_models=int(cfg["models"]), target_split="train-heldout-fold", **costs)
