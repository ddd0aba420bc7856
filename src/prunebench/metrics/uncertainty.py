"""``margin``, ``entropy`` and ``ensemble-active-learning``: uncertainty of the probes' predictions.

All read eval-mode predicted probabilities of the shared probe ensemble on the (un-augmented)
training images after ``epoch`` epochs. Their scores are functions of all members' softmaxes, so
``score_se`` is the jackknife standard error over members (NaN for one member; for
``ensemble-active-learning``, whose score *is* the members' disagreement, NaN below 3 members).
"""

from __future__ import annotations

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.common import jackknife_se, softmax
from prunebench.metrics.context import run_costs
from prunebench.metrics.registry import MetricResult, register_metric


def _ensemble_probs(ctx, params):
    epoch = ctx.resolve_epoch(params["epoch"])
    runs = ctx.ensemble_runs(int(params["ensemble_size"]), save_epochs={epoch})
    probs = np.stack([softmax(ctx.logits(r, "train", epoch)) for r in runs])  # k×N×C
    return probs, runs, epoch


def margin_top2(probs: np.ndarray) -> np.ndarray:
    """``1 − (p_(1) − p_(2))``: one minus the gap between the two largest probabilities (in [0, 1])."""
    top = np.sort(probs, axis=-1)
    return 1.0 - (top[..., -1] - top[..., -2])


def margin_true_class(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``1 − (p_y − max_{k≠y} p_k)``: one minus the margin of the labelled class (in [0, 2])."""
    n = np.arange(len(labels))
    true = probs[n, labels]
    others = probs.copy()
    others[n, labels] = -np.inf
    return 1.0 - (true - others.max(axis=-1))


def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy ``−Σ_k p_k log p_k`` (nats) along the last axis."""
    return -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(axis=-1)


@register_metric("margin", needs=("probabilities",), defaults={"ensemble_size": 1, "epoch": None, "variant": "top2"},
                 reference="uncertainty sampling (Scheffer et al. 2001; DeepCore, Guo et al. 2022)")
def margin(ctx, params):
    """Margin uncertainty of the probe's (ensemble-mean) softmax ``p``, higher = harder.

    Variants: ``top2`` (default, label-free, as in active learning / DeepCore):
    ``1 − (p_(1) − p_(2))``; ``true-class``: ``1 − (p_y − max_{k≠y} p_k)``, which also ranks
    confidently *mis*classified examples as hardest.
    """
    probs, runs, epoch = _ensemble_probs(ctx, params)
    if params["variant"] == "top2":
        statistic = lambda p: margin_top2(p.mean(axis=0))  # noqa: E731
    elif params["variant"] == "true-class":
        statistic = lambda p: margin_true_class(p.mean(axis=0), ctx.labels)  # noqa: E731
    else:
        raise PrunebenchError(f"margin variant must be top2 or true-class, got '{params['variant']}'")
    return MetricResult(scores=statistic(probs), variant=f"{params['variant']},k={len(runs)},epoch={epoch}",
                        probe_epochs=epoch, score_se=jackknife_se(statistic, probs), n_models=len(runs),
                        **run_costs(runs, len(ctx.train_set), epoch))


@register_metric("entropy", needs=("probabilities",), defaults={"ensemble_size": 1, "epoch": None},
                 reference="uncertainty sampling (Settles 2009; DeepCore, Guo et al. 2022)")
def entropy_metric(ctx, params):
    """Entropy of the probe's predicted distribution: ``H(p) = −Σ_k p_k log p_k``, ``p`` = ensemble-mean softmax."""
    probs, runs, epoch = _ensemble_probs(ctx, params)
    statistic = lambda p: entropy(p.mean(axis=0))  # noqa: E731
    return MetricResult(scores=statistic(probs), variant=f"predictive-entropy,k={len(runs)},epoch={epoch}",
                        probe_epochs=epoch, score_se=jackknife_se(statistic, probs), n_models=len(runs),
                        **run_costs(runs, len(ctx.train_set), epoch))


def variation_ratio(probs: np.ndarray) -> np.ndarray:
    """``1 − (#members voting the modal class)/k`` from k×N×C member probabilities."""
    k, _, c = probs.shape
    votes = np.stack([np.bincount(col, minlength=c) for col in probs.argmax(axis=-1).T])
    return 1.0 - votes.max(axis=1) / k


def mutual_information(probs: np.ndarray) -> np.ndarray:
    """BALD: ``H(mean p) − mean H(p_m)``, the disagreement part of the predictive entropy."""
    return entropy(probs.mean(axis=0)) - entropy(probs).mean(axis=0)


def mean_std(probs: np.ndarray) -> np.ndarray:
    """Mean over classes of the across-member standard deviation of ``p_k``."""
    return probs.std(axis=0).mean(axis=-1)


ACQUISITIONS = {
    "variation-ratio": variation_ratio,
    "entropy": lambda p: entropy(p.mean(axis=0)),
    "bald": mutual_information,
    "mean-std": mean_std,
}


@register_metric("ensemble-active-learning", needs=("probabilities",), defaults={"ensemble_size": 4, "epoch": None,
                                                        "acquisition": "variation-ratio"},
                 reference="Chitta, Alvarez, Haussmann, Farabet 2019/2021, Training Data Subset Search with Ensemble Active Learning")
def ensemble_active_learning(ctx, params):
    """Ensemble active-learning acquisition score (Chitta et al.) of ``k`` independently trained probes.

    Acquisitions over member softmaxes ``p_m`` (m = 1..k): ``variation-ratio`` (default)
    ``1 − max_c #{m: argmax p_m = c}/k``; ``entropy`` ``H(mean_m p_m)``; ``bald``
    ``H(mean p) − mean H(p_m)``; ``mean-std`` ``mean_c std_m p_{m,c}``. Chitta et al. select a subset
    by iterated acquisition rounds and the released ImageNet scores (Sorscher et al. 2022) are
    binary keep/drop for one 80% subset; we compute the **continuous** one-round acquisition score
    on the full training set instead, so it works at every fraction (a documented deviation).
    Variation ratio takes only k+1 values: ties are broken randomly by the selection seed.
    """
    if params["acquisition"] not in ACQUISITIONS:
        raise PrunebenchError(f"acquisition must be one of {', '.join(ACQUISITIONS)}, got '{params['acquisition']}'")
    probs, runs, epoch = _ensemble_probs(ctx, params)
    if len(runs) < 2:
        raise PrunebenchError("ensemble-active-learning needs ensemble_size >= 2 (disagreement of an ensemble)")
    acquisition = ACQUISITIONS[params["acquisition"]]
    score_se = jackknife_se(acquisition, probs) if len(runs) >= 3 else None
    return MetricResult(scores=acquisition(probs), variant=f"{params['acquisition']},k={len(runs)},epoch={epoch}",
                        probe_epochs=epoch, score_se=score_se, n_models=len(runs),
                        **run_costs(runs, len(ctx.train_set), epoch))
