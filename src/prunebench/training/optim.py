"""Optimizer and per-step lr schedule: SGD-Nesterov parameter groups (airbench's 64x bias lr),
optional Muon filters, warmup/linear/constant schedules and dynamic pruning's schedule clock."""

from __future__ import annotations

import torch
from torch import nn

from prunebench.training.config import TrainConfig
from prunebench.training.muon import MuonSGD


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """Weights get ``lr``/``weight_decay``; ≤1-d params get them scaled by ``bias_lr_scale``;
    with ``muon.lr`` > 0, 4-d filters form a Muon group of their own."""
    def is_filter(param) -> bool:
        return cfg.muon.lr > 0 and param.ndim == 4

    trainable = [p for p in model.parameters() if p.requires_grad]
    filters = [p for p in trainable if is_filter(p)]
    weights = [p for p in trainable if p.ndim > 1 and not is_filter(p)]
    biases = [p for p in trainable if p.ndim <= 1]
    scale = cfg.bias_lr_scale
    groups = [dict(params=weights, lr=cfg.lr, weight_decay=cfg.weight_decay)]
    if biases:
        groups.append(dict(params=biases, lr=cfg.lr * scale, weight_decay=cfg.weight_decay / scale))
    if filters:
        groups.append(dict(params=filters, lr=cfg.muon.lr, momentum=cfg.muon.momentum, nesterov=cfg.muon.nesterov,
                           weight_decay=0.0, muon=True, ns_steps=cfg.muon.ns_steps))
    return [group for group in groups if group["params"]]


def lr_factor(step: int, total_steps: int, cfg: TrainConfig) -> float:
    """Multiplier of the peak lr at ``step`` (per-step schedule)."""
    if cfg.schedule == "constant":
        return 1.0
    decay_range = 1.0 - cfg.lr_end
    if cfg.schedule == "linear":
        return 1.0 - decay_range * step / total_steps
    peak = cfg.warmup * total_steps
    if step < peak:
        return cfg.warmup_start + (1.0 - cfg.warmup_start) * step / peak
    return cfg.lr_end + decay_range * (total_steps - step) / max(total_steps - peak, 1e-9)


def build_optimizer(model: nn.Module, cfg: TrainConfig, total_steps: int):
    groups = param_groups(model, cfg)
    optimizer_class = MuonSGD if any(group.get("muon") for group in groups) else torch.optim.SGD
    optimizer = optimizer_class(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, cfg))
    return optimizer, scheduler


def advance_schedule(scheduler, clock: float, clock_on: bool) -> None:
    """After an optimizer step: ``scheduler.step()``, or on dynamic pruning's schedule clock the
    lr LambdaLR gives at ``clock`` (its own rule, base_lr · factor(clock))."""
    if not clock_on:
        scheduler.step()
        return
    scheduler.last_epoch = clock
    for group, base_lr, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base_lr * factor(clock)
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]
