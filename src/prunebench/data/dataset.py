"""The in-memory dataset every stage works on: decoded uint8 images with canonical ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

# Per-dataset channel statistics (RGB, on the 0..1 scale) used by :func:`normalize`.
CHANNEL_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Decoded images of one split, in canonical order (or a subset of it).

    ``images`` is ``uint8`` N×H×W×3, ``labels`` ``int64`` N, ``ids`` ``int64`` N: the canonical
    id of each example in the *full* split (``0..N_full-1``). ``checksum`` identifies the full
    decoded split (see :func:`content_checksum`); a subset keeps it and its ids.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    classes: list[str]
    checksum: str
    source: str = field(default="", compare=False)
    # What decoding found (ImageFolder): counts of converted non-RGB, upscaled and skipped files.
    decode_report: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not (len(self.images) == len(self.labels) == len(self.ids)):
            raise ValueError("images, labels and ids must have the same length")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    @property
    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(mean, std) per RGB channel for :func:`normalize`."""
        return channel_stats(self.name)

    def subset(self, positions) -> "ImageDataset":
        """The examples at ``positions`` (indices into this dataset); their ids are kept."""
        positions = np.asarray(positions, dtype=np.int64)
        return replace(self, images=self.images[positions], labels=self.labels[positions], ids=self.ids[positions])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.num_classes)


def channel_stats(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Channel mean/std for a dataset name; unknown names use ImageNet's."""
    return CHANNEL_STATS.get(name, CHANNEL_STATS["imagenet"])


def content_checksum(images: np.ndarray, labels: np.ndarray, classes: list[str]) -> str:
    """sha256 of the decoded pixels, labels and class names (what the cache must reproduce)."""
    digest = hashlib.sha256()
    digest.update("\n".join(classes).encode())
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    digest.update(str(images.shape).encode())
    digest.update(np.ascontiguousarray(images).data)
    return "sha256:" + digest.hexdigest()


def normalize(images, mean_std=None, name: str = "cifar10"):
    """uint8 image tensor (N×H×W×3 or N×3×H×W) → float32 N×3×H×W, standardized per channel.

    ``mean_std`` is a (mean, std) pair on the 0..1 scale; by default the stats of dataset ``name``.
    """
    import torch

    images = torch.as_tensor(images)
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.shape[1] != 3 and images.shape[-1] == 3:
        images = images.permute(0, 3, 1, 2)
    mean, std = mean_std if mean_std is not None else channel_stats(name)
    dtype = torch.float32 if images.dtype == torch.uint8 else images.dtype
    mean = torch.tensor(mean, dtype=dtype, device=images.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(std, dtype=dtype, device=images.device).view(1, 3, 1, 1) * 255
    return (images.to(dtype) - mean) / std
