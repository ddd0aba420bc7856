"""The dataset every stage works on: decoded uint8 images with canonical ids.

``images`` is an in-memory array (small splits, synthetic tasks), a read-only ``np.memmap`` of the
decoded cache (every split loaded by :func:`prunebench.data.load_full_split`), or a
:class:`RowView` (a subset of a memory map: rows are read from the file only when indexed).
:func:`host_rows` turns any of them into a batch that ``torch.from_numpy`` accepts.
"""

from __future__ import annotations

import hashlib
import mmap
from dataclasses import dataclass, field, replace

import numpy as np


def is_memory_mapped(images) -> bool:
    """Whether ``images`` reads from a file map (a :class:`RowView`, an ``np.memmap`` or a view of one)."""
    if isinstance(images, RowView):
        return True
    while isinstance(images, np.ndarray):
        images = images.base
    return isinstance(images, mmap.mmap)


class RowView:
    """The rows ``index`` of a (memory-mapped) ``base`` array, read only when indexed.

    A subset of a 193 GB ImageNet map costs its index array, not a copy of its rows. Indexing
    (int, slice, index or boolean array, or a tuple starting with one) gathers just those rows,
    in sorted order for locality, and returns them in the asked order as an in-memory array;
    ``np.asarray(view)`` materialises every row (fine at small scale only). Other ndarray
    attributes fall back to the materialised array, so small-scale callers keep working.
    """

    def __init__(self, base: np.ndarray, index):
        self.base = base
        self.index = np.asarray(index, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.base.shape[1:])

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def ndim(self) -> int:
        return self.base.ndim

    @property
    def nbytes(self) -> int:
        """Bytes the rows would take once materialised (nothing is allocated until then)."""
        return int(np.prod(self.shape)) * self.base.dtype.itemsize

    def subset(self, positions) -> "RowView":
        """A view of the rows at ``positions`` of this view (same base, composed index)."""
        return RowView(self.base, self.index[np.asarray(positions, dtype=np.int64)])

    def __getitem__(self, key):
        if isinstance(key, tuple):
            head, rest = (key[0] if key else slice(None)), key[1:]
            rows = self[head]
            return rows[rest] if np.ndim(self.index[_as_key(head)]) == 0 else rows[(slice(None), *rest)]
        rows = self.index[_as_key(key)]
        if np.ndim(rows) == 0:
            return np.array(self.base[int(rows)])
        return self._gather(rows)

    def _gather(self, rows: np.ndarray) -> np.ndarray:
        """``base[rows]`` read in sorted row order (sequential pages), returned in ``rows`` order."""
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.base.shape[1:]), dtype=self.base.dtype)
        out[order] = self.base[rows[order]]
        return out

    def __array__(self, dtype=None, copy=None):
        array = self._gather(self.index)
        return array if dtype is None else array.astype(dtype, copy=False)

    def __getattr__(self, name):
        if name.startswith("__") or name in ("base", "index"):  # numpy's protocol probes; unpickling
            raise AttributeError(name)
        return getattr(np.asarray(self), name)

    def __repr__(self) -> str:
        return f"RowView({len(self.index)} of {len(self.base)} rows, shape {self.shape}, {self.dtype})"


def _as_key(key):
    """An int/slice as is; anything else (list, torch tensor, boolean mask) as a numpy array."""
    if isinstance(key, (int, np.integer, slice)):
        return key
    return np.asarray(key)


def host_rows(images, key) -> np.ndarray:
    """``images[key]`` as a writable, C-contiguous, in-memory ndarray (what ``torch.from_numpy``
    wants): a view when ``images`` is an in-memory array and the rows are contiguous (no change
    for small splits), a copy of just those rows out of a memory map or :class:`RowView`."""
    rows = images[key]
    if is_memory_mapped(rows) or not rows.flags.writeable:
        return np.array(rows, order="C")
    return np.ascontiguousarray(rows)

# Per-dataset channel statistics (RGB, on the 0..1 scale) used by :func:`normalize`.
CHANNEL_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Decoded images of one split, in canonical order (or a subset of it).

    ``images`` is ``uint8`` N×H×W×3 (in memory, memory-mapped or a :class:`RowView`), ``labels``
    ``int64`` N, ``ids`` ``int64`` N: the canonical
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
        """The examples at ``positions`` (indices into this dataset); their ids are kept.

        In-memory images are copied (as always); memory-mapped ones become a :class:`RowView`,
        so a 640,000-image sweep subset of ImageNet costs its index, not 96 GB of RAM."""
        positions = np.asarray(positions, dtype=np.int64)
        return replace(self, images=subset_rows(self.images, positions), labels=self.labels[positions],
                       ids=self.ids[positions])

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=self.num_classes)


def subset_rows(images, positions: np.ndarray):
    """``images[positions]``: a copy for in-memory arrays, a lazy :class:`RowView` of a memory map."""
    if isinstance(images, RowView):
        return images.subset(positions)
    if is_memory_mapped(images):
        return RowView(images, np.arange(len(images), dtype=np.int64)[positions])
    return images[positions]


def channel_stats(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Channel mean/std for a dataset name; unknown names use ImageNet's."""
    return CHANNEL_STATS.get(name, CHANNEL_STATS["imagenet"])


def content_checksum(images: np.ndarray, labels: np.ndarray, classes: list[str]) -> str:
    """sha256 of the decoded pixels, labels and class names (what the cache must reproduce).

    Reads every pixel (a memory map is hashed page by page, without a RAM copy): minutes at
    ImageNet scale, so :func:`prunebench.data.loading.read_cache` runs it only on small caches."""
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

    if is_memory_mapped(images):
        images = host_rows(images, slice(None))
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
