"""The retrieval task's arms that are not a static selection (OPERA, Fang et al. 2026; docs/retrieval.md):

* ``pretrained``: the zero-shot encoder, no fine-tuning (0 optimizer steps; one point per (N, seed),
  labelled f = 1, metric ``pretrained``, keep ``zero-shot``);
* ``opera``: OPERA dynamic pruning (DP) on all N training pairs at the recipe's optimizer steps, the
  task's ``opera`` training-time sampler (query and document level,
  :class:`prunebench.tasks.retrieval.samplers.OperaSampler`); metric ``opera``, keep ``dynamic``.

The other arms use the suite's protocols unchanged: no pruning = the f = 1 baseline, SP = the
``pretrained-similarity`` metric with keep easy under ``fixed_epochs`` / ``fixed_compute`` (the
retrieval recipe is step-based, so both train the recipe's steps), ``rs2`` and ``infobatch`` set
``dynamic_pruning`` as for the image loop and the retrieval recipe maps it onto its own samplers
(:data:`prunebench.tasks.retrieval.training.DYNAMIC_RULES`). These protocols change only the
retrieval recipe's ``sampler`` and step count; an image recipe never plans them.
"""

from __future__ import annotations

from prunebench.sweep.protocols import Protocol, register_protocol


@register_protocol
class Pretrained(Protocol):
    name = "pretrained"
    trains_on = "initial"
    budget = "no fine-tuning: the pretrained encoder evaluated as it is (0 optimizer steps)"
    labels = (("pretrained", "zero-shot"),)
    per_fraction = False

    def steps(self, recipe: dict, point, baseline_row: dict | None) -> int:
        return 0


@register_protocol
class OperaDynamic(Protocol):
    name = "opera"
    trains_on = "initial"
    budget = "all N pairs for the recipe's optimizer steps, OPERA DP sampling (query and document level, no rescaling)"
    labels = (("opera", "dynamic"),)
    per_fraction = False

    def recipe(self, recipe: dict, point) -> dict:
        return {**recipe, "sampler": "opera"}
