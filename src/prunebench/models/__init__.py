"""Probe models: a registry of built-ins (``airbench``, ``resnet18_cifar``) with timm as fallback."""

from __future__ import annotations

import torch
from torch import nn

from prunebench.models import airbench as _airbench  # noqa: F401  (registers "airbench")
from prunebench.models import resnet_cifar as _resnet_cifar  # noqa: F401  (registers "resnet18_cifar")
from prunebench.models.airbench import WIDTH_PRESETS, AirbenchNet
from prunebench.models.registry import create_model, create_timm_model, list_models, register_model
from prunebench.models.resnet_cifar import ResNetCifar


def embed(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Penultimate features (B×D): ``model.embed`` for built-ins, timm's pre-logits otherwise."""
    if hasattr(model, "embed"):
        return model.embed(x)
    if hasattr(model, "forward_features") and hasattr(model, "forward_head"):
        return model.forward_head(model.forward_features(x), pre_logits=True)
    return _input_of_last_linear(model, x)


def _input_of_last_linear(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Generic fallback: capture the input of the model's last ``nn.Linear``."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TypeError(f"cannot find penultimate features of {type(model).__name__}: no embed() and no nn.Linear")
    captured = []
    handle = linears[-1].register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
    try:
        model(x)
    finally:
        handle.remove()
    return captured[-1].flatten(1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "AirbenchNet", "ResNetCifar", "WIDTH_PRESETS", "count_parameters", "create_model", "create_timm_model", "embed",
    "list_models", "register_model",
]
