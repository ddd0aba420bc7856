"""Batched augmentation on the device: random mirror and random translation (pad + crop)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def draw_epoch_augmentation(num_examples: int, translate: int, generator: torch.Generator):
    """Per-example flip flags and (dy, dx) shifts for one epoch, drawn on the CPU generator."""
    flips = torch.rand(num_examples, generator=generator) < 0.5
    shifts = torch.randint(-translate, translate + 1, (num_examples, 2), generator=generator)
    return flips, shifts


def flip_batch(images: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Mirror the images whose flag is set (N×C×H×W)."""
    return torch.where(flips.view(-1, 1, 1, 1), images.flip(-1), images)


def translate_batch(images: torch.Tensor, shifts: torch.Tensor, pad: int, pad_mode: str = "reflect") -> torch.Tensor:
    """Shift each image by its (dy, dx) in ``[-pad, pad]``, filling by reflection or zeros."""
    if pad == 0:
        return images
    n, c, h, w = images.shape
    padded = F.pad(images, (pad,) * 4, mode="reflect" if pad_mode == "reflect" else "constant")
    rows = (shifts[:, 0:1] + pad + torch.arange(h, device=images.device)).view(n, 1, h, 1)
    cols = (shifts[:, 1:2] + pad + torch.arange(w, device=images.device)).view(n, 1, 1, w)
    batch = torch.arange(n, device=images.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=images.device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]
