"""Reading raw datasets from disk: ImageFolder trees (JPEG/PNG) and torchvision's CIFAR-10 format.

Canonical order (the example ids ``0..N-1`` of a split):

* ImageFolder: class folders sorted by name (label = rank), then file names sorted within each
  class (plain string sort of the relative path), exactly as ``torchvision.datasets.ImageFolder``.
* torchvision CIFAR-10: the official order of ``data_batch_1..5`` (train) and ``test_batch`` (test).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prunebench.errors import PrunebenchError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm")
TORCHVISION_CIFAR_DIR = "cifar-10-batches-py"


@dataclass(frozen=True)
class SplitSource:
    """Where one split lives on disk, and a fingerprint of its files (for the cache key)."""

    format: str  # "imagefolder" or "torchvision"
    directory: Path
    fingerprint: str
    files: tuple[str, ...] = ()  # ImageFolder: relative paths in canonical order
    labels: tuple[int, ...] = ()
    classes: tuple[str, ...] = ()


def split_directory_names(split: str) -> tuple[str, ...]:
    """Folder names tried for a split: ImageNet calls the held-out split ``val``."""
    return ("train",) if split == "train" else ("test", "val")


def detect_format(dataset_dir: Path, split: str, fmt: str = "auto", download: bool = False) -> str:
    """``imagefolder`` if ``<dir>/<split>/`` exists, ``torchvision`` if CIFAR batches exist or may be downloaded."""
    if fmt != "auto":
        return fmt
    if any((dataset_dir / name).is_dir() for name in split_directory_names(split)):
        return "imagefolder"
    if (dataset_dir / TORCHVISION_CIFAR_DIR).is_dir() or download:
        return "torchvision"
    return "imagefolder"  # reported as missing by scan_imagefolder


def scan_imagefolder(dataset_dir: Path, split: str, hint: str) -> SplitSource:
    """List ``<dir>/<split>/<class>/<file>`` in canonical order."""
    split_dir = next((dataset_dir / n for n in split_directory_names(split) if (dataset_dir / n).is_dir()), None)
    if split_dir is None:
        wanted = " or ".join(f"{dataset_dir / n}/" for n in split_directory_names(split))
        raise PrunebenchError(f"no {split} data: looked for {wanted} (ImageFolder <class>/<image> layout); {hint}")
    classes = sorted(entry.name for entry in os.scandir(split_dir) if entry.is_dir())
    files, labels, sizes = [], [], []
    for label, class_name in enumerate(classes):
        names = sorted(e.name for e in os.scandir(split_dir / class_name)
                       if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
        for name in names:
            files.append(f"{class_name}/{name}")
            labels.append(label)
            sizes.append((split_dir / class_name / name).stat().st_size)
    if not files:
        raise PrunebenchError(f"no images found under {split_dir}/<class>/ (extensions {', '.join(IMAGE_EXTENSIONS)}); {hint}")
    fingerprint = _fingerprint([f"{f}:{s}" for f, s in zip(files, sizes)])
    return SplitSource("imagefolder", split_dir, fingerprint, tuple(files), tuple(labels), tuple(classes))


def scan_torchvision_cifar(dataset_dir: Path, split: str, download: bool, hint: str) -> SplitSource:
    """torchvision's CIFAR-10 python batches under ``<dir>/cifar-10-batches-py`` (downloaded if asked)."""
    batches_dir = dataset_dir / TORCHVISION_CIFAR_DIR
    if not batches_dir.is_dir():
        if not download:
            raise PrunebenchError(f"no CIFAR-10 found: looked for {dataset_dir}/train/ and {batches_dir}/; {hint}")
        _download_cifar10(dataset_dir, hint)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    missing = [n for n in names if not (batches_dir / n).is_file()]
    if missing:
        raise PrunebenchError(f"CIFAR-10 batches missing in {batches_dir}: {', '.join(missing)}; re-download (data.download: true) or {hint}")
    fingerprint = _fingerprint([f"{n}:{(batches_dir / n).stat().st_size}" for n in names])
    return SplitSource("torchvision", dataset_dir, fingerprint)


def _download_cifar10(dataset_dir: Path, hint: str) -> None:
    import torchvision

    try:
        torchvision.datasets.CIFAR10(str(dataset_dir), train=True, download=True)
    except Exception as err:  # network errors come in many types
        raise PrunebenchError(f"could not download CIFAR-10 into {dataset_dir} ({err.__class__.__name__}: {err}); {hint}") from err


def _fingerprint(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------------

def decode_image(path: str, image_size: int) -> np.ndarray:
    """One image file → uint8 ``image_size``×``image_size``×3 (shorter side resized, center crop)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            width, height = img.size
            if (width, height) != (image_size, image_size):
                scale = image_size / min(width, height)
                new_size = (max(image_size, round(width * scale)), max(image_size, round(height * scale)))
                img = img.resize(new_size, Image.BILINEAR, reducing_gap=None)
                left, top = (new_size[0] - image_size) // 2, (new_size[1] - image_size) // 2
                img = img.crop((left, top, left + image_size, top + image_size))
            return np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as err:
        raise PrunebenchError(f"cannot decode image {path} ({err}); the dataset is corrupt: restore or re-download that file") from err


def _decode_chunk(args: tuple[list[str], int]) -> np.ndarray:
    paths, image_size = args
    return np.stack([decode_image(p, image_size) for p in paths])


def decode_imagefolder(source: SplitSource, image_size: int, workers: int) -> np.ndarray:
    """All images of an ImageFolder split, decoded in canonical order (process pool if large)."""
    paths = [str(source.directory / f) for f in source.files]
    chunk = 500
    jobs = [(paths[i:i + chunk], image_size) for i in range(0, len(paths), chunk)]
    if workers <= 1 or len(jobs) <= 1:
        return np.concatenate([_decode_chunk(job) for job in jobs])
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return np.concatenate(pool.map(_decode_chunk, jobs, chunksize=1))


def read_torchvision_cifar(source: SplitSource, split: str, image_size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """CIFAR-10 arrays in the official order; resized only if ``image_size`` != 32."""
    import torchvision

    try:
        dataset = torchvision.datasets.CIFAR10(str(source.directory), train=split == "train", download=False)
    except (RuntimeError, OSError, EOFError, KeyError, ValueError) as err:
        raise PrunebenchError(f"CIFAR-10 batches in {source.directory / TORCHVISION_CIFAR_DIR} are corrupt ({err}); "
                              "delete them and re-download (data.download: true) or use the ImageFolder copy") from err
    images = np.asarray(dataset.data, dtype=np.uint8)
    if image_size != images.shape[1]:
        import torch
        import torch.nn.functional as F

        tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float()
        tensor = F.interpolate(tensor, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
        images = tensor.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return images, np.asarray(dataset.targets, dtype=np.int64), list(dataset.classes)
