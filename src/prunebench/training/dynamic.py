"""InfoBatch-style dynamic data pruning inside the training loop (Qin et al., ICLR 2024).

Every example keeps a score: its training loss when last seen. In a pruning epoch (every epoch
after the first, before the annealing fraction ``anneal`` of the run) the ``pool`` fraction of
examples with the lowest scores is the "well-learned" set; a seeded random ``ratio`` of it is
skipped for that epoch, and the kept well-learned examples get loss weight 1/(1 − ratio), so the
expected gradient is unchanged (InfoBatch eq. 3). InfoBatch's pool is "score below the mean";
a fixed quantile is used here so that every epoch's length, and with it the step-indexed lr,
resolution and lookahead schedules, is known before training starts.
"""

from __future__ import annotations

import math

import torch

from prunebench.seeding import derive_seed
from prunebench.training.config import DynamicPruning, TrainConfig


def pruning_epoch(cfg: DynamicPruning, epoch: int, epochs: float) -> bool:
    """True if ``epoch`` skips part of the well-learned pool (not the first, not the annealing tail)."""
    return cfg.ratio > 0 and 1 <= epoch < cfg.anneal * epochs


def dropped_count(cfg: DynamicPruning, num_examples: int) -> int:
    """Examples skipped in a pruning epoch: ratio × (pool × N), rounded."""
    return round(cfg.ratio * round(cfg.pool * num_examples))


def epoch_steps(cfg: TrainConfig, num_examples: int) -> list[float]:
    """Optimizer steps of each epoch of the run (the last one fractional for fractional ``epochs``)."""
    count = math.ceil(cfg.epochs)
    steps = []
    for epoch in range(count):
        size = num_examples - (dropped_count(cfg.dynamic_pruning, num_examples)
                               if pruning_epoch(cfg.dynamic_pruning, epoch, cfg.epochs) else 0)
        steps.append(float(math.ceil(size / cfg.batch_size)))
    steps[-1] *= cfg.epochs - (count - 1)
    return steps


def epochs_to_steps(cfg: TrainConfig, num_examples: int, epochs: float) -> float:
    """The step at which ``epochs`` (possibly fractional) passes over the data end (inf past the run)."""
    steps = epoch_steps(cfg, num_examples)
    whole = int(epochs)
    return math.inf if whole >= len(steps) else sum(steps[:whole]) + (epochs - whole) * steps[whole]


def select_examples(cfg: DynamicPruning, scores: torch.Tensor, order: torch.Tensor, *, seed: int, epoch: int):
    """(order without the skipped examples, per-example loss weights) for one pruning epoch."""
    num = len(scores)
    pool = torch.argsort(scores, stable=True)[:round(cfg.pool * num)]
    generator = torch.Generator().manual_seed(derive_seed(seed, "dynamic_pruning", epoch))
    shuffled = pool[torch.randperm(len(pool), generator=generator)]
    skip = dropped_count(cfg, num)
    dropped, kept_pool = shuffled[:skip], shuffled[skip:]
    keep = torch.ones(num, dtype=torch.bool)
    keep[dropped] = False
    weights = torch.ones(num)
    weights[kept_pool] = 1.0 / (1.0 - cfg.ratio)
    return order[keep[order]], weights
