"""Per-epoch example samplers behind the training loop's selection hook (``probe.dynamic_pruning.rule``).

The loop calls, in every epoch for which :func:`prunebench.training.dynamic.pruning_epoch` holds,
``select_examples(cfg, scores, order, seed=, epoch=)`` and trains on the returned order with the
returned per-example loss weights. ``rule`` names the sampler that answers (one class + one
``@register_sampler`` here or in :mod:`prunebench.training.dynamic`):

- ``infobatch`` (default): InfoBatch, :mod:`prunebench.training.dynamic`;
- ``rs2``: RS2 without replacement (Okanovic et al., ICLR 2024, "Repeated Random Sampling for
  Minimizing the Time-to-Accuracy of Learning", Alg. 1 "RS2 w/o replacement"): every epoch trains
  on ``S = kept_count(N, 1 − ratio)`` examples taken in turn from a seeded permutation of all N,
  so every example is seen once before any is seen again; when a round has fewer than S left, the
  epoch takes them and fills up with the first examples of the next round's permutation that are
  not among them (the next round then continues without those);
- ``rs2-with-replacement``: an independent uniform subset of S examples every epoch (RS2 w/
  replacement: subsets are drawn with replacement across epochs, without within one).

RS2 prunes every epoch (no annealing) with unit loss weights (no rescaling). Its epoch lengths are
known in advance, so the step plan is exact: ``epochs`` epochs of ceil(S / batch) steps, the
optimizer steps of a static run on S examples, and the lr schedule spans the whole run.
"""

from __future__ import annotations

import math

import torch

from prunebench.seeding import derive_seed

SAMPLERS: dict[str, "EpochSampler"] = {}


def register_sampler(name: str):
    """Class decorator: register an :class:`EpochSampler` subclass under ``name``."""
    def decorate(cls):
        SAMPLERS[name] = cls()
        cls.name = name
        return cls
    return decorate


def get_sampler(name: str) -> "EpochSampler":
    """The sampler registered as ``name`` (``probe.dynamic_pruning.rule``)."""
    import prunebench.training.dynamic  # noqa: F401  (registers infobatch)
    from prunebench.errors import PrunebenchError

    if name not in SAMPLERS:
        raise PrunebenchError(f"probe.dynamic_pruning.rule '{name}' unknown; use one of: {', '.join(list_samplers())}")
    return SAMPLERS[name]


def list_samplers() -> list[str]:
    import prunebench.training.dynamic  # noqa: F401

    return sorted(SAMPLERS)


class EpochSampler:
    """What a dynamic-pruning rule answers: whether an epoch is pruned, its examples and weights,
    and (when known before training) its size."""

    name = ""

    def prunes(self, cfg, epoch: int, epochs: float) -> bool:
        raise NotImplementedError

    def select(self, cfg, scores: torch.Tensor, order: torch.Tensor, *, seed: int, epoch: int):
        """(the epoch's order restricted to the chosen examples, per-example loss weights)."""
        raise NotImplementedError

    def epoch_size(self, cfg, num_examples: int, epoch: int, epochs: float) -> int | None:
        """Examples of ``epoch`` when known before training, else None (the schedule clock is used)."""
        raise NotImplementedError


def subset_size(cfg, num_examples: int) -> int:
    """RS2's examples per epoch: S = kept_count(N, 1 − ratio) = floor((1 − ratio) N + 1/2)."""
    from prunebench.selection import kept_count

    return kept_count(num_examples, 1.0 - cfg.ratio)


def restrict(order: torch.Tensor, chosen: torch.Tensor, num_examples: int):
    """The loop's shuffled ``order`` restricted to ``chosen`` positions, with unit weights."""
    keep = torch.zeros(num_examples, dtype=torch.bool)
    keep[chosen] = True
    return order[keep[order]], torch.ones(num_examples)


def _permutation(num_examples: int, seed: int, name: str, index: int) -> torch.Tensor:
    return torch.randperm(num_examples, generator=torch.Generator().manual_seed(derive_seed(seed, name, index)))


def rs2_without_replacement_subsets(num_examples: int, size: int, seed: int, epochs: int) -> list[torch.Tensor]:
    """The subsets of epochs 0..epochs-1 of RS2 w/o replacement (round r: permutation seeded (seed, r))."""
    rounds, queue, subsets = 0, _permutation(num_examples, seed, "rs2", 0), []
    for _ in range(epochs):
        if len(queue) >= size:
            subsets.append(queue[:size])
            queue = queue[size:]
            continue
        rounds += 1
        fresh = _permutation(num_examples, seed, "rs2", rounds)
        head = fresh[~torch.isin(fresh, queue)][:size - len(queue)]
        subsets.append(torch.cat([queue, head]))
        queue = fresh[~torch.isin(fresh, head)]
    return subsets


class _RepeatedRandomSampling(EpochSampler):
    def prunes(self, cfg, epoch: int, epochs: float) -> bool:
        return cfg.ratio > 0

    def epoch_size(self, cfg, num_examples: int, epoch: int, epochs: float) -> int:
        return subset_size(cfg, num_examples) if self.prunes(cfg, epoch, epochs) else num_examples


@register_sampler("rs2")
class RS2WithoutReplacement(_RepeatedRandomSampling):
    """RS2 w/o replacement: successive epochs walk through seeded permutations of all N."""

    def select(self, cfg, scores, order, *, seed: int, epoch: int):
        num = len(scores)
        chosen = rs2_without_replacement_subsets(num, subset_size(cfg, num), seed, epoch + 1)[epoch]
        return restrict(order, chosen, num)


@register_sampler("rs2-with-replacement")
class RS2WithReplacement(_RepeatedRandomSampling):
    """RS2 with replacement: an independent uniform S-subset per epoch."""

    def select(self, cfg, scores, order, *, seed: int, epoch: int):
        num = len(scores)
        chosen = _permutation(num, seed, "rs2-with-replacement", epoch)[:subset_size(cfg, num)]
        return restrict(order, chosen, num)


def steps_of_sizes(sizes: list[int], batch_size: int, epochs: float) -> list[float]:
    """Optimizer steps per epoch for epoch sizes ``sizes`` (the last one fractional for fractional ``epochs``)."""
    steps = [float(math.ceil(size / batch_size)) for size in sizes]
    steps[-1] *= epochs - (len(sizes) - 1)
    return steps
