"""Batched augmentation on the device: random mirror, random translation (pad + crop) and random crops."""

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
    n, _, h, w = images.shape
    padded = F.pad(images, (pad,) * 4, mode="reflect" if pad_mode == "reflect" else "constant")
    windows = padded.unfold(2, h, 1).unfold(3, w, 1).permute(0, 2, 3, 1, 4, 5)  # N×(2p+1)×(2p+1)×C×H×W view
    return windows[torch.arange(n, device=images.device), shifts[:, 0] + pad, shifts[:, 1] + pad]


def crop_batch(images: torch.Tensor, offsets: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Cut a height×width window from each image at its (top, left) offset."""
    n, c = images.shape[:2]
    rows = (offsets[:, 0:1] + torch.arange(height, device=images.device)).view(n, 1, height, 1)
    cols = (offsets[:, 1:2] + torch.arange(width, device=images.device)).view(n, 1, 1, width)
    batch = torch.arange(n, device=images.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=images.device).view(1, c, 1, 1)
    return images[batch, channel, rows, cols]


def alternating_flips(num_examples: int, seed_generator: torch.Generator, epoch: int) -> torch.Tensor:
    """airbench's derandomised mirror: one seeded coin per example, inverted every other epoch, so
    any two consecutive epochs show every example once each way."""
    base = torch.rand(num_examples, generator=seed_generator) < 0.5
    return base ^ bool(epoch % 2)
