"""A timm-like model registry: built-in probes by name, any other name from timm."""

from __future__ import annotations

from typing import Callable

from torch import nn

from prunebench.errors import PrunebenchError

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Decorator: ``@register_model("airbench")`` on a ``fn(num_classes, **kwargs) -> nn.Module``."""
    def decorator(factory):
        if name in _MODELS:
            raise ValueError(f"model '{name}' is already registered")
        _MODELS[name] = factory
        return factory
    return decorator


def list_models() -> list[str]:
    """Names of the built-in models (any timm model name works too)."""
    return sorted(_MODELS)


def create_model(name: str, num_classes: int, *, pretrained: bool = False, checkpoint: str | None = None,
                 **kwargs) -> nn.Module:
    """Build a model by name. Built-ins take ``**kwargs``; other names go to ``timm.create_model``.

    For timm models, ``checkpoint`` is a local weights file (loaded via
    ``pretrained_cfg_overlay=dict(file=...)``, no network); ``pretrained=True`` without it asks
    timm to fetch weights, which needs the internet.
    """
    if name in _MODELS:
        if pretrained or checkpoint:
            raise PrunebenchError(f"model '{name}' has no pretrained weights; drop pretrained/checkpoint from probe.model_kwargs")
        return _MODELS[name](num_classes=num_classes, **kwargs)
    return create_timm_model(name, num_classes, pretrained=pretrained, checkpoint=checkpoint, **kwargs)


def create_timm_model(name: str, num_classes: int, *, pretrained: bool = False, checkpoint: str | None = None,
                      **kwargs) -> nn.Module:
    """``timm.create_model`` with weights from a local file when ``checkpoint`` is given."""
    import timm

    if not timm.is_model(name):
        raise PrunebenchError(
            f"unknown model '{name}'; use one of {', '.join(list_models())} or a timm model name (timm.list_models())"
        )
    if checkpoint is not None:
        from pathlib import Path

        if not Path(checkpoint).is_file():
            raise PrunebenchError(f"checkpoint {checkpoint} for model '{name}' not found; fix probe.model_kwargs.checkpoint")
        kwargs["pretrained_cfg_overlay"] = dict(file=str(checkpoint))
    try:
        return timm.create_model(name, num_classes=num_classes, pretrained=pretrained or checkpoint is not None, **kwargs)
    except (OSError, RuntimeError) as err:
        raise PrunebenchError(f"could not create timm model '{name}' ({err.__class__.__name__}: {err}); "
                              "pass a local checkpoint or set pretrained: false") from err
