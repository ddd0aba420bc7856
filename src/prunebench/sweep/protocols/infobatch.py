"""InfoBatch (Qin et al., ICLR 2024): dynamic pruning on all N initial examples, at its published
settings (ratio r = 0.5 of the below-mean-loss pool skipped per epoch, kept pool rescaled by
1/(1 − r), annealing δ = 0.875, :mod:`prunebench.training.dynamic`).

Budget: the recipe's full epochs, as published; the schedules follow InfoBatch's epoch clock, so
the run takes fewer optimizer steps than the f = 1 run, and its row records them (``train_steps``,
``total_steps``): it sits on the accuracy-vs-compute axis at its own cost. It does not depend on
f, so it is one point per (N, seed), labelled f = 1 (metric ``infobatch``, keep ``dynamic``).
"""

from __future__ import annotations

from prunebench.sweep.protocols import Protocol, register_protocol

PUBLISHED = {"rule": "infobatch", "ratio": 0.5, "pool_rule": "mean", "anneal": 0.875}


@register_protocol
class InfoBatchProtocol(Protocol):
    name = "infobatch"
    trains_on = "initial"
    budget = "the recipe's full epochs with InfoBatch (r 0.5, delta 0.875): its own, smaller, step count"
    labels = (("infobatch", "dynamic"),)
    per_fraction = False

    def recipe(self, recipe: dict, point) -> dict:
        return {**recipe, "dynamic_pruning": dict(PUBLISHED)}
