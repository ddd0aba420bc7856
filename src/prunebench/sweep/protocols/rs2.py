"""RS2: repeated random sampling (Okanovic et al., ICLR 2024, "Repeated Random Sampling for
Minimizing the Time-to-Accuracy of Learning"), the random-subset baseline at equal optimizer steps.

Every epoch trains on a fresh random S = kept_count(N, f) of the N initial examples, for the
recipe's epochs: epochs x ceil(S / batch) optimizer steps, the steps of the static pruned
fixed_epochs run at f, with the lr schedule spanning the whole run. Two variants (keep label):
``without-replacement`` (the paper's recommended RS2 w/o replacement: successive epochs walk
through a seeded permutation of all N, every example seen once before any repeats) and
``with-replacement`` (an independent uniform S-subset every epoch). The sampler is the training
loop's per-epoch selection hook (``probe.dynamic_pruning.rule``, :mod:`prunebench.training.samplers`).
"""

from __future__ import annotations

from prunebench.sweep.protocols import Protocol, register_protocol

RULES = {"without-replacement": "rs2", "with-replacement": "rs2-with-replacement"}


@register_protocol
class RepeatedRandomSampling(Protocol):
    name = "rs2"
    trains_on = "initial"
    budget = "the recipe's epochs on a fresh random f·N of the N examples each: the static fixed_epochs steps at f"
    labels = (("rs2", "without-replacement"), ("rs2", "with-replacement"))

    def recipe(self, recipe: dict, point) -> dict:
        """The sweep's recipe with the RS2 sampler skipping 1 − f of the N examples every epoch."""
        sampler = {"rule": RULES[point.keep], "ratio": round(1.0 - point.fraction_kept, 12)}
        return {**recipe, "dynamic_pruning": sampler}

    def examples_per_epoch(self, point, n_train: int) -> int:
        from prunebench.selection import kept_count

        return kept_count(n_train, point.fraction_kept)
