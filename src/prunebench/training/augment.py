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
    padded = F.pad(images, (pad,) * 4, mode="reflect" if pad_mode == "reflect" else "constant")
    return crop_batch(padded, shifts + pad, images.shape[-2], images.shape[-1])


def crop_batch(images: torch.Tensor, offsets: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Cut a height×width window from each image at its (top, left) offset, gathered through an
    ``unfold`` view of all windows (one index per image, not one per pixel)."""
    windows = images.unfold(2, height, 1).unfold(3, width, 1).permute(0, 2, 3, 1, 4, 5)  # N×rows×cols×C×h×w
    return windows[torch.arange(len(images), device=images.device), offsets[:, 0], offsets[:, 1]]


def alternating_flips(num_examples: int, seed_generator: torch.Generator, epoch: int) -> torch.Tensor:
    """airbench's derandomised mirror: one seeded coin per example, inverted every other epoch, so
    any two consecutive epochs show every example once each way."""
    base = torch.rand(num_examples, generator=seed_generator) < 0.5
    return base ^ bool(epoch % 2)
