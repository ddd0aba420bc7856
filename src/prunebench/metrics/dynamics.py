"""``forgetting`` and ``aum``: scores from the training dynamics recorded on the shared probe ensemble.

Both read the per-epoch statistics of the *training pass* (the prediction made when the example's
mini-batch was trained on, with augmentation), recorded by the probe trainer's callback.
"""

from __future__ import annotations

import math

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.common import member_se
from prunebench.metrics.context import run_costs
from prunebench.metrics.registry import MetricResult, register_metric


def never_learned_score(epochs: int) -> int:
    """Forgetting count given to never-learned examples: ``floor(E/2) + 1``.

    In ``E`` epochs an example can be forgotten at most ``floor(E/2)`` times (each forgetting needs
    a learning before it), so this is one more than any learned example can reach: the finite
    stand-in for Toneva et al.'s "infinitely many forgetting events", ranked hardest.
    """
    return epochs // 2 + 1


def forgetting_counts(correct: np.ndarray) -> np.ndarray:
    """Forgetting events per example from an E×N boolean array of training-pass correctness.

    A forgetting event is a transition correct at epoch ``t`` → misclassified at ``t+1``.
    Examples never classified correctly get :func:`never_learned_score`.
    """
    correct = np.asarray(correct, dtype=bool)
    counts = (correct[:-1] & ~correct[1:]).sum(axis=0).astype(np.float64)
    counts[~correct.any(axis=0)] = never_learned_score(correct.shape[0])
    return counts


@register_metric("forgetting", needs=("correct",), defaults={"ensemble_size": 1},
                 reference="Toneva et al. 2019, An Empirical Study of Example Forgetting (ICLR)")
def forgetting(ctx, params):
    """Forgetting score (Toneva et al. 2019): number of forgetting events ``acc_t > acc_{t+1}``.

    ``acc_t`` is whether the example was classified correctly in the training pass of epoch ``t``
    (the paper records it each time the example's mini-batch is presented; we record once per
    epoch, the same granularity). Never-learned examples score ``floor(E/2)+1``
    (:func:`never_learned_score`), above every learned example, following the paper's convention of
    infinite forgetting for examples that are never learned. With ``ensemble_size > 1`` the counts
    are averaged over independently initialised probes.
    """
    runs = ctx.ensemble_runs(int(params["ensemble_size"]))
    counts = np.stack([forgetting_counts(r.dynamics["correct"]) for r in runs])
    epochs = runs[0].epochs
    return MetricResult(scores=counts.mean(axis=0), variant=f"events,never-learned={never_learned_score(epochs)},k={len(runs)}",
                        probe_epochs=epochs, score_se=member_se(counts), n_models=len(runs),
                        **run_costs(runs, len(ctx.train_set)))


def area_under_margin(margins: np.ndarray, epochs: int | None = None) -> np.ndarray:
    """``AUM = (1/T) Σ_t (z_y^(t) − max_{k≠y} z_k^(t))`` over the first ``epochs`` rows of a T×N margin array."""
    margins = np.asarray(margins, dtype=np.float64)
    return margins[: epochs or len(margins)].mean(axis=0)


# AUM averaging windows (``aum.window``): the whole run (default) or Pleiss et al.'s stop at the first lr drop.
AUM_WINDOWS = ("whole-run", "first-lr-drop")


def first_lr_drop_epochs(probe_cfg: dict, epochs: int) -> int:
    """Epochs up to the first learning-rate drop of the probe schedule (at least 1, at most ``epochs``).

    Pleiss et al. train with a step schedule and average the margin up to its first drop. The
    suite's schedules (:func:`prunebench.training.loop.lr_factor`) have no plateau: ``onecycle``
    (the default) first lowers the lr right after its **peak**, at ``warmup · epochs``, so the window
    is the epochs up to and including the one that holds the peak, ``ceil(warmup · epochs)``;
    ``linear`` decays from the first step (window: 1 epoch); ``constant`` never drops (all epochs).
    """
    from prunebench.training import TrainConfig

    cfg = TrainConfig.from_dict({**probe_cfg, "epochs": epochs})
    if cfg.schedule == "constant":
        return int(epochs)
    if cfg.schedule == "linear":
        return 1
    return int(min(max(math.ceil(cfg.warmup * epochs - 1e-9), 1), epochs))


def aum_window(ctx, params, run_epochs: int) -> int:
    """``T`` of the AUM average: ``aum.window`` (see :data:`AUM_WINDOWS`), capped by ``aum.epochs`` if set."""
    if params["window"] not in AUM_WINDOWS:
        raise PrunebenchError(f"aum window must be one of {', '.join(AUM_WINDOWS)}, got '{params['window']}'")
    window = run_epochs if params["window"] == "whole-run" else first_lr_drop_epochs(ctx.probe_cfg, run_epochs)
    return min(window, int(params["epochs"] or window))


@register_metric("aum", needs=("logits",), defaults={"ensemble_size": 1, "epochs": None, "window": "whole-run"},
                 reference="Pleiss, Zhang, Elenberg, Weinberger 2020, Identifying Mislabeled Data using the AUM (NeurIPS)")
def aum(ctx, params):
    """Area under the margin (Pleiss et al. 2020), negated: ``score = −AUM``.

    ``AUM(x, y) = (1/T) Σ_{t=1..T} [ z_y^(t)(x) − max_{k≠y} z_k^(t)(x) ]`` with the logits ``z^(t)``
    of the training pass of epoch ``t``. Low (negative) AUM flags mislabeled / hard examples, so the
    score is ``−AUM`` (higher = harder). ``window``: ``whole-run`` (default: every epoch of the
    probe run; with the one-cycle schedule Pleiss et al.'s window is only the warm-up, one epoch at
    the ci scale) or ``first-lr-drop`` (Pleiss et al.: up to the first learning-rate drop, which for
    the one-cycle schedule is its peak, :func:`first_lr_drop_epochs`). ``epochs`` caps ``T``.
    Averaged over ``ensemble_size`` probes; ``score_se`` is the standard error of that mean.
    """
    runs = ctx.ensemble_runs(int(params["ensemble_size"]))
    epochs = aum_window(ctx, params, runs[0].epochs)
    values = -np.stack([area_under_margin(r.dynamics["margin"], epochs) for r in runs])
    return MetricResult(scores=values.mean(axis=0), variant=f"neg-aum,logit-margin,{params['window']},T={epochs},k={len(runs)}",
                        probe_epochs=epochs, score_se=member_se(values), n_models=len(runs),
                        **run_costs(runs, len(ctx.train_set), epochs))
