"""airbench94's lookahead-style weight averaging (Zhang et al. 2019 Lookahead, as an EMA).

Every ``every`` steps from epoch ``start_epochs`` on: θ̄ ← ρ θ̄ + (1 − ρ) θ, then θ ← θ̄, with
ρ = decay_base^every · (step / total_steps)^decay_pow; at each epoch end θ ← θ̄. The averages
are a plain name → tensor dict (floating-point state: weights, biases, BN running statistics),
so they checkpoint with the rest of the run.
"""

from __future__ import annotations

import torch
from torch import nn

from prunebench.training.config import Lookahead


def lookahead_active(cfg: Lookahead, epoch: int) -> bool:
    return cfg.every > 0 and epoch >= cfg.start_epochs


def lookahead_decay(cfg: Lookahead, step: int, total_steps: int) -> float:
    """ρ at ``step``: decay_base^every · (step / total_steps)^decay_pow."""
    return cfg.decay_base ** cfg.every * (step / total_steps) ** cfg.decay_pow


@torch.no_grad()
def lookahead_update(model: nn.Module, averages: dict, decay: float) -> None:
    """θ̄ ← decay·θ̄ + (1 − decay)·θ and θ ← θ̄; an empty ``averages`` is first filled with θ."""
    state = model.state_dict()
    if not averages:
        averages.update({name: value.detach().clone() for name, value in state.items() if value.is_floating_point()})
        return
    for name, average in averages.items():
        average.lerp_(state[name], 1.0 - decay)
        state[name].copy_(average)


def lookahead_step(model: nn.Module, averages: dict, cfg: Lookahead, *, epoch: int, step: int, total_steps: int) -> None:
    """Called after optimizer step number ``step`` (1-based): update every ``cfg.every`` steps."""
    if lookahead_active(cfg, epoch) and step % cfg.every == 0:
        lookahead_update(model, averages, lookahead_decay(cfg, step, total_steps))


def lookahead_sync(model: nn.Module, averages: dict) -> None:
    """End of epoch: copy the averages into the model (θ ← θ̄)."""
    if averages:
        lookahead_update(model, averages, 1.0)
