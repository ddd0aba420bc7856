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
    empty = [c for label, c in enumerate(classes) if label not in set(labels)]
    if files and empty:
        raise PrunebenchError(f"class folder(s) {_examples([f'{split_dir}/{c}/' for c in empty])} hold no images "
                              f"(extensions {', '.join(IMAGE_EXTENSIONS)}); add the images or remove the empty folder(s) "
                              "from every split")
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

UNREADABLE_POLICIES = ("error", "skip")
SMALL_IMAGE_POLICIES = ("error", "upscale")


def decode_image(path: str, image_size: int) -> np.ndarray:
    """One image file → uint8 ``image_size``×``image_size``×3 (shorter side resized, center crop)."""
    array, issues = decode_image_checked(path, image_size)
    if array is None:
        raise PrunebenchError(f"cannot decode image {path} ({issues[0][1]}); the dataset is corrupt: restore or re-download that file")
    return array


def decode_image_checked(path: str, image_size: int, small_images: str = "upscale"):
    """``(array, issues)``: the decoded image (None if unreadable or refused) and what was wrong with the file.

    ``issues`` is a tuple of ``(kind, detail)`` pairs, empty for a plain RGB image at or above
    ``image_size``: ``("converted", mode)`` (a non-RGB image — grayscale, CMYK, palette, RGBA —
    converted to RGB), ``("small", "WxH")`` (shorter side below ``image_size``; decoded by upscaling
    unless ``small_images`` is ``error``, then the array is None) or ``("unreadable", reason)`` (alone).
    A small non-RGB image carries both ``small`` and ``converted``.
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            mode = img.mode
            width, height = img.size
            small = (("small", f"{width}x{height}"),) if min(width, height) < image_size else ()
            converted = (("converted", mode),) if mode != "RGB" else ()
            if small and small_images == "error":
                return None, small + converted
            img = img.convert("RGB")
            if (width, height) != (image_size, image_size):
                scale = image_size / min(width, height)
                new_size = (max(image_size, round(width * scale)), max(image_size, round(height * scale)))
                img = img.resize(new_size, Image.BILINEAR, reducing_gap=None)
                left, top = (new_size[0] - image_size) // 2, (new_size[1] - image_size) // 2
                img = img.crop((left, top, left + image_size, top + image_size))
            array = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as err:
        return None, (("unreadable", f"{err.__class__.__name__}: {err}"),)
    return array, small + converted


def _decode_chunk(args: tuple) -> tuple[list, list]:
    paths, image_size, small_images = args
    arrays, issues = [], []
    for path in paths:
        array, found = decode_image_checked(path, image_size, small_images)
        arrays.append(array)
        issues.append(found)
    return arrays, issues


def _issues_of_kind(files: list[str], issues: list[tuple], kind: str) -> list[tuple[str, str]]:
    """``(file, detail)`` of every file whose issues include ``kind``."""
    return [(f, detail) for f, found in zip(files, issues) for k, detail in found if k == kind]


def _examples(files, limit: int = 3) -> str:
    shown = ", ".join(files[:limit])
    return shown + (f" and {len(files) - limit} more" if len(files) > limit else "")


DECODE_CHUNK = 500  # images per decoding task (and per worker's buffer when streaming to a sink)


def decode_imagefolder(source: SplitSource, image_size: int, workers: int, unreadable: str = "error",
                       small_images: str = "upscale", sink=None) -> tuple[np.ndarray | None, np.ndarray, dict]:
    """All images of an ImageFolder split, decoded in canonical order (process pool if large).

    Returns ``(images, kept, report)``: ``kept`` the positions (in ``source.files``) decoded, and
    ``report`` the counts of what was not plain RGB at or above ``image_size`` (``converted``:
    non-RGB images converted to RGB, by mode; ``upscaled``; ``skipped``: unreadable files left out
    under ``unreadable: skip``, with their names). Nothing is dropped or altered silently: an
    unreadable file (``unreadable: error``, the default) or an image smaller than ``image_size``
    (``small_images: error``) is one :class:`PrunebenchError` line with the count, the files and the fix.

    ``sink``: a callable taking each decoded image (H×W×3 uint8, canonical order) as it arrives,
    chunk by chunk; ``images`` is then ``None`` and memory holds one chunk per worker, not the split
    (how :func:`prunebench.data.loading.decode_to_cache` writes ImageNet-1k's 193 GB straight to disk).
    """
    if unreadable not in UNREADABLE_POLICIES:
        raise PrunebenchError(f"data.unreadable is '{unreadable}'; use one of {', '.join(UNREADABLE_POLICIES)}")
    if small_images not in SMALL_IMAGE_POLICIES:
        raise PrunebenchError(f"data.small_images is '{small_images}'; use one of {', '.join(SMALL_IMAGE_POLICIES)}")
    paths = [str(source.directory / f) for f in source.files]
    jobs = [(paths[i:i + DECODE_CHUNK], image_size, small_images) for i in range(0, len(paths), DECODE_CHUNK)]
    arrays, decoded, issues = [], [], []
    for chunk_arrays, chunk_issues in _decoded_chunks(jobs, workers):
        for array in chunk_arrays:
            decoded.append(array is not None)
            if array is not None and sink is not None:
                sink(array)
            elif sink is None:
                arrays.append(array)
        issues.extend(chunk_issues)
    files = list(source.files)
    unread, small = _issues_of_kind(files, issues, "unreadable"), _issues_of_kind(files, issues, "small")
    where = source.directory
    if unread and unreadable == "error":
        raise PrunebenchError(
            f"{len(unread)} of {len(files)} images under {where} cannot be decoded ({unread[0][0]}: {unread[0][1]}; "
            f"files: {_examples([f for f, _ in unread])}); restore or re-download them, or set data.unreadable: skip "
            "to leave them out (the count is logged and stored)")
    if small and small_images == "error":
        sizes = sorted(small, key=lambda item: min(map(int, item[1].split("x"))))
        raise PrunebenchError(
            f"{len(small)} of {len(files)} images under {where} are smaller than data.image_size {image_size} "
            f"(smallest {sizes[0][0]}: {sizes[0][1]}; files: {_examples([f for f, _ in sizes])}); lower "
            f"data.image_size to at most {min(min(map(int, s.split('x'))) for _, s in small)}, replace those images, "
            "or set data.small_images: upscale")
    kept = np.flatnonzero(np.asarray(decoded, dtype=bool)).astype(np.int64)
    if len(kept) == 0:
        raise PrunebenchError(f"no image under {where} could be decoded; restore the dataset")
    converted: dict[str, int] = {}
    for _, mode in _issues_of_kind(files, issues, "converted"):
        converted[mode] = converted.get(mode, 0) + 1
    report = {"n_files": len(files), "n_decoded": int(len(kept)), "converted": dict(sorted(converted.items())),
              "n_converted": int(sum(converted.values())), "n_upscaled": len(small) if small_images == "upscale" else 0,
              "n_skipped": len(unread), "skipped": [f for f, _ in unread]}
    return (None if sink is not None else np.stack([arrays[k] for k in kept])), kept, report


def _decoded_chunks(jobs, workers: int):
    """``(arrays, issues)`` of each decoding task, in order, as they finish (``imap``: nothing waits
    for the whole split)."""
    if workers <= 1 or len(jobs) <= 1:
        yield from (_decode_chunk(job) for job in jobs)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_decode_chunk, jobs, chunksize=1)


def check_split_classes(train_classes, test_classes, test_dir, train_dir) -> None:
    """The held-out split must have exactly the train split's class folders (labels are ranks of the
    sorted names, so any difference would silently relabel every held-out image)."""
    train_classes, test_classes = list(train_classes), list(test_classes)
    if train_classes == test_classes:
        return
    missing = sorted(set(train_classes) - set(test_classes))
    extra = sorted(set(test_classes) - set(train_classes))
    parts = ([f"missing in {test_dir.name}: {_examples(missing)}"] if missing else []) + \
            ([f"not in train: {_examples(extra)}"] if extra else [])
    raise PrunebenchError(
        f"the class folders of {test_dir} differ from {train_dir} ({len(test_classes)} vs {len(train_classes)} classes; "
        f"{'; '.join(parts)}); the {test_dir.name}/ split needs one <class>/ folder per train class, named alike "
        "(ImageNet's flat val/ folder: sort it into <wnid>/ folders with the devkit's ground truth, e.g. valprep.sh)")


def class_folder_counts(split_dir: Path) -> dict[str, int]:
    """Image count per class folder of an ImageFolder split (a cheap listing, no decoding)."""
    return {entry.name: sum(1 for e in os.scandir(entry.path) if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
            for entry in sorted(os.scandir(split_dir), key=lambda e: e.name) if entry.is_dir()}


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
