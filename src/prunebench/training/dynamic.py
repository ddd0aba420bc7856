"""InfoBatch dynamic data pruning inside the training loop (Qin et al., "InfoBatch: Lossless
Training Speed Up by Unbiased Dynamic Data Pruning", ICLR 2024; official code ``infobatch.py``).

Every example keeps a score H(z): its training loss when last seen (unseen: +inf, never pruned).
In a pruning epoch the "well-learned" pool D1 is chosen (below), a seeded random ``ratio`` r of it
is skipped for that epoch, and the kept part of D1 gets loss weight 1/(1 − r), so the expected
gradient sum of the epoch is the full one (InfoBatch eq. 3, "expectation rescaling").

Pool (``pool_rule``):

- ``mean`` (default, InfoBatch's rule): D1 = {z : H(z) < mean H} over the seen examples; the kept
  part of D1 is exactly ``int((1 − r) |D1|)`` examples, as in the official sampler.
- ``quantile`` (variant): D1 = the ``pool`` fraction of examples with the lowest scores; the
  skipped count ``round(r · round(pool · N))`` is the same every epoch, so epoch lengths are
  known before training.

Annealing (InfoBatch's δ = ``anneal``): epochs ``floor(δ · epochs)`` and later use all data with
unit weights; epoch 0 sees only unseen examples and prunes nothing. So at 10 epochs with
δ = 0.875 epochs 1–7 prune and 8–9 are full, as in the official code (which prunes in epochs
``< floor(C δ)``, epoch 0 having uniform initial scores).

Step-indexed schedules (lr, progressive resize, lookahead decay, whitening-bias freeze). With the
``quantile`` pool the run's step count is planned exactly (:func:`epoch_steps`) and the schedules
read the optimizer step. With the ``mean`` pool an epoch's length is known only when it starts,
so the schedules read a *schedule clock* instead (InfoBatch's research code likewise re-plans its
OneCycle lr per epoch from ``len(loader)``, which makes it epoch-indexed): the run is planned on
the full-data step count, K = ceil(N / batch) clock units per epoch, and each of an epoch's L
optimizer steps advances the clock by K / L (:func:`clock_stride`). An epoch therefore spans the
same part of every schedule as without pruning; the run ends when the clock reaches the plan,
i.e. after ``epochs`` epochs, having taken fewer optimizer steps. With an explicit ``steps``
budget (the fixed-compute protocol) the clock is the optimizer step.

Other rules (``dynamic_pruning.rule``, e.g. RS2) are samplers of :mod:`prunebench.training.samplers`;
the functions below dispatch on the rule, InfoBatch being the sampler registered here.
"""

from __future__ import annotations

import math

import torch

from prunebench.seeding import derive_seed
from prunebench.training.config import DynamicPruning, TrainConfig
from prunebench.training.lookahead import lookahead_active, lookahead_decay, lookahead_update
from prunebench.training.samplers import EpochSampler, get_sampler, register_sampler, steps_of_sizes

POOL_RULES = ("mean", "quantile")


def last_pruning_epoch(cfg: DynamicPruning, epochs: float) -> int:
    """``floor(anneal · epochs)``: epochs from this one on use all data (InfoBatch's annealing)."""
    return int(math.floor(cfg.anneal * epochs + 1e-9))


def pruning_epoch(cfg: DynamicPruning, epoch: int, epochs: float) -> bool:
    """True if the rule's sampler selects the examples of ``epoch`` (InfoBatch: not the first, not
    the annealing tail; RS2: every epoch)."""
    return get_sampler(cfg.rule).prunes(cfg, epoch, epochs)


def clocked(cfg: TrainConfig, steps_override) -> bool:
    """True when the schedules follow the schedule clock (epoch lengths not known in advance, e.g.
    InfoBatch's mean pool, and no explicit step budget)."""
    return bool(cfg.dynamic_pruning.ratio) and not planned_by_epoch_steps(cfg) and steps_override is None


def clock_stride(cfg: TrainConfig, num_examples: int, epoch_examples: int, clock_on: bool) -> float:
    """Schedule-clock units per optimizer step: ceil(N / B) / ceil(n_epoch / B) (1 when off)."""
    if not clock_on or epoch_examples >= num_examples:
        return 1.0
    return math.ceil(num_examples / cfg.batch_size) / max(math.ceil(epoch_examples / cfg.batch_size), 1)


def dropped_count(cfg: DynamicPruning, num_examples: int) -> int:
    """Quantile pool: examples skipped in a pruning epoch, ratio × (pool × N), rounded."""
    return round(cfg.ratio * round(cfg.pool * num_examples))


def epoch_steps(cfg: TrainConfig, num_examples: int) -> list[float]:
    """Epoch lengths known in advance (quantile pool, RS2): optimizer steps of each epoch of the
    run (the last one fractional for fractional ``epochs``)."""
    sampler = get_sampler(cfg.dynamic_pruning.rule)
    sizes = [sampler.epoch_size(cfg.dynamic_pruning, num_examples, epoch, cfg.epochs)
             for epoch in range(math.ceil(cfg.epochs))]
    return steps_of_sizes(sizes, cfg.batch_size, cfg.epochs)


def planned_by_epoch_steps(cfg: TrainConfig) -> bool:
    """True when the step plan is :func:`epoch_steps` (the sampler knows every epoch's size: the
    quantile pool, RS2); else the full-data plan."""
    pruning = cfg.dynamic_pruning
    return bool(pruning.ratio) and get_sampler(pruning.rule).epoch_size(pruning, 1, 0, cfg.epochs) is not None


def epochs_to_steps(cfg: TrainConfig, num_examples: int, epochs: float) -> float:
    """The step at which ``epochs`` (possibly fractional) passes over the data end (inf past the run)."""
    steps = epoch_steps(cfg, num_examples)
    whole = int(epochs)
    return math.inf if whole >= len(steps) else sum(steps[:whole]) + (epochs - whole) * steps[whole]


def well_learned_pool(cfg: DynamicPruning, scores: torch.Tensor) -> torch.Tensor:
    """Positions of D1: scores below the mean of the seen (finite) scores, or the ``pool`` quantile."""
    if cfg.pool_rule == "quantile":
        return torch.argsort(scores, stable=True)[:round(cfg.pool * len(scores))]
    seen = torch.isfinite(scores)
    if not bool(seen.any()):
        return torch.empty(0, dtype=torch.long)
    return torch.nonzero(seen & (scores < scores[seen].mean())).flatten()


def skipped_count(cfg: DynamicPruning, pool_size: int, num_examples: int) -> int:
    """Examples of D1 skipped: ``|D1| − int((1 − r)|D1|)`` (mean pool, official) or :func:`dropped_count`."""
    if cfg.pool_rule == "quantile":
        return dropped_count(cfg, num_examples)
    return pool_size - int((1.0 - cfg.ratio) * pool_size)


def select_examples(cfg: DynamicPruning, scores: torch.Tensor, order: torch.Tensor, *, seed: int, epoch: int):
    """(the epoch's order restricted to its examples, per-example loss weights) from the rule's sampler."""
    return get_sampler(cfg.rule).select(cfg, scores, order, seed=seed, epoch=epoch)


@register_sampler("infobatch")
class InfoBatch(EpochSampler):
    """InfoBatch (module docstring): prunes epochs 1 .. floor(δ·epochs) − 1, rescales the kept pool."""

    def prunes(self, cfg: DynamicPruning, epoch: int, epochs: float) -> bool:
        return cfg.ratio > 0 and 1 <= epoch < last_pruning_epoch(cfg, epochs)

    def epoch_size(self, cfg: DynamicPruning, num_examples: int, epoch: int, epochs: float) -> int | None:
        """Quantile pool: N minus :func:`dropped_count` in pruning epochs; mean pool: not known (None)."""
        if cfg.pool_rule != "quantile":
            return None
        return num_examples - (dropped_count(cfg, num_examples) if self.prunes(cfg, epoch, epochs) else 0)

    def select(self, cfg: DynamicPruning, scores: torch.Tensor, order: torch.Tensor, *, seed: int, epoch: int):
        return infobatch_examples(cfg, scores, order, seed=seed, epoch=epoch)


def infobatch_examples(cfg: DynamicPruning, scores: torch.Tensor, order: torch.Tensor, *, seed: int, epoch: int):
    """(order without the skipped examples, per-example loss weights) for one InfoBatch pruning epoch."""
    num = len(scores)
    pool = well_learned_pool(cfg, scores)
    generator = torch.Generator().manual_seed(derive_seed(seed, "dynamic_pruning", epoch))
    shuffled = pool[torch.randperm(len(pool), generator=generator)]
    skip = skipped_count(cfg, len(pool), num)
    dropped, kept_pool = shuffled[:skip], shuffled[skip:]
    keep = torch.ones(num, dtype=torch.bool)
    keep[dropped] = False
    weights = torch.ones(num)
    weights[kept_pool] = 1.0 / (1.0 - cfg.ratio)
    return order[keep[order]], weights


def lookahead_on_clock(model, averages: dict, cfg, *, epoch: int, step: int, clock: float, total_steps: int) -> None:
    """Lookahead after optimizer step ``step`` (1-based, every ``cfg.every`` steps) with its decay
    read on the schedule clock (= ``step`` unless the mean pool's clock is on)."""
    if lookahead_active(cfg, epoch) and step % cfg.every == 0:
        lookahead_update(model, averages, lookahead_decay(cfg, clock, total_steps))
