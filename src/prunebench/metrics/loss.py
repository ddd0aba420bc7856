"""``loss``: the per-example loss of an early checkpoint, for any task that records a loss."""

from __future__ import annotations

import numpy as np

from prunebench.metrics.context import run_costs
from prunebench.metrics.registry import MetricResult, register_metric
from prunebench.metrics.common import member_se


@register_metric("loss", defaults={"ensemble_size": 4, "epoch": 1}, needs=("loss",),
                 reference="Marion et al. 2023, When Less is More (loss of an early checkpoint as a pruning score for LM "
                           "pretraining); Paul et al. 2021 (the early-training idea behind EL2N)")
def loss_metric(ctx, params):
    """Eval-mode per-example loss after ``epoch`` epochs, averaged over ``ensemble_size`` probes:
    ``score_i = (1/k) sum_m loss(f_m^(epoch)(x_i), y_i)`` (cross-entropy for a classifier, mean token NLL
    for a language model, InfoNCE for a retriever: whatever the task's loss is).

    Higher loss = harder. Task-independent: the probes are the task's own models
    (:meth:`prunebench.tasks.Task.probe_outputs`).
    """
    epoch = ctx.resolve_epoch(params["epoch"])
    runs = ctx.ensemble_runs(int(params["ensemble_size"]), save_epochs={epoch})
    per_model = np.stack([ctx.losses(run, "train", epoch) for run in runs]).astype(np.float64)
    return MetricResult(scores=per_model.mean(axis=0), variant=f"ensemble-mean,k={len(runs)},epoch={epoch}",
                        probe_epochs=epoch, score_se=member_se(per_model), n_models=len(runs),
                        **run_costs(runs, len(ctx.train_set), epoch))
