"""Datasets: decoded once into a checksummed uint8 cache, with canonical example ids.

``load_dataset(cfg["data"], "train")`` is the entry point. Canonical ids (``0..N-1`` of the full
split): ImageFolder trees order classes by name, then files by name; torchvision's CIFAR-10 keeps
the official order. Subsets (``train_size``/``test_size``) keep those ids. Loaded splits are
memory-mapped from the cache and their subsets are lazy :class:`RowView` s (no RAM until read).
"""

from prunebench.data.dataset import (
    CHANNEL_STATS, ImageDataset, RowView, channel_stats, content_checksum, host_rows, is_memory_mapped, normalize,
)
from prunebench.data.loading import (
    balanced_subsample, cache_dir, check_class_counts, cache_path, data_root, dataset_dir, load_dataset, load_full_split, locate_split,
    subsample_split, with_defaults,
)

__all__ = [
    "CHANNEL_STATS", "ImageDataset", "balanced_subsample", "check_class_counts", "cache_dir", "cache_path", "channel_stats",
    "content_checksum", "data_root", "dataset_dir", "host_rows", "is_memory_mapped", "load_dataset", "load_full_split",
    "locate_split", "normalize", "RowView", "subsample_split", "with_defaults",
]
