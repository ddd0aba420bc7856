"""``load_dataset``: resolve the data root, decode once into a checksummed ``.npz`` cache, subsample.

The cache's images are an uncompressed (``ZIP_STORED``) ``images.npy`` member, a plain ``.npy``
byte stream inside the archive. One rule (:data:`MAP_ABOVE_BYTES`): a split of more than 4 GiB
of pixels is memory-mapped in place (``np.memmap`` at the member's offset; a job's RAM then holds
only the pages it reads, never the whole 193 GB ImageNet train split) and verified by its cheap
stamp; a smaller one (CIFAR-10, Imagenette) is read into memory and fully checksummed, exactly
as before. Caches written before stamps have the same layout and are always fully checksummed.

Data root: ``data.root`` in the config, else the ``PRUNEBENCH_DATA`` environment variable, else
``<repo>/../shared/data``. The dataset folder is ``data.path`` under that root (or absolute).
Cache dir: ``data.cache_dir``, else ``PRUNEBENCH_CACHE``, else ``<repo>/.cache/prunebench``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
import zipfile
from pathlib import Path

import numpy as np

from prunebench.data.dataset import ImageDataset, content_checksum
from prunebench.data.sources import (
    SplitSource, check_split_classes, decode_imagefolder, detect_format, read_torchvision_cifar, scan_imagefolder, scan_torchvision_cifar,
)
from prunebench.errors import PrunebenchError
from prunebench.provenance import REPO_ROOT, atomic_write
from prunebench.seeding import derive_seed

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
DEFAULTS = {
    "dataset": "cifar10",
    "path": "cifar10-jpeg",
    "root": None,
    "format": "auto",
    "download": False,
    "image_size": 32,
    "train_size": None,
    "test_size": None,
    "subsample_seed": 0,
    "cache_dir": None,
    "workers": None,
    "unreadable": "error",
    "small_images": None,
}
# Splits with more pixel bytes than this are memory-mapped and stamp-verified (ImageNet: hashing
# 193 GB would take minutes per job); smaller ones (every CIFAR-10 and Imagenette split) are read
# into memory and fully checksummed, as before.
MAP_ABOVE_BYTES = 4 << 30
STAMP_BLOCKS, STAMP_BLOCK_BYTES = 64, 1 << 16
VERIFY_MODES = ("auto", "full", "stamp")
STREAM_BLOCK_BYTES = 64 << 20  # the block a streamed decode copies (and hashes) into the archive at a time
FIX_HINT = "set PRUNEBENCH_DATA (or data.root in the config) to the folder that holds it"


def with_defaults(data_cfg: dict | None) -> dict:
    """The data section with every key filled in (schema defaults)."""
    return {**DEFAULTS, **(data_cfg or {})}


def data_root(data_cfg: dict | None = None) -> Path:
    """``data.root`` > ``$PRUNEBENCH_DATA`` > ``<repo>/../shared/data``."""
    root = with_defaults(data_cfg)["root"] or os.environ.get("PRUNEBENCH_DATA") or REPO_ROOT.parent / "shared" / "data"
    return Path(root).expanduser()


def dataset_dir(data_cfg: dict | None = None) -> Path:
    """The dataset folder: ``data.path`` resolved against :func:`data_root` (absolute paths kept)."""
    path = Path(with_defaults(data_cfg)["path"]).expanduser()
    return path if path.is_absolute() else data_root(data_cfg) / path


def cache_dir(data_cfg: dict | None = None) -> Path:
    """``data.cache_dir`` > ``$PRUNEBENCH_CACHE`` > ``<repo>/.cache/prunebench``."""
    directory = with_defaults(data_cfg)["cache_dir"] or os.environ.get("PRUNEBENCH_CACHE") or REPO_ROOT / ".cache" / "prunebench"
    return Path(directory).expanduser()


def locate_split(data_cfg: dict, split: str) -> SplitSource:
    """Find a split on disk (raises one-line :class:`PrunebenchError` when it is missing)."""
    cfg = with_defaults(data_cfg)
    if split not in SPLITS:
        raise PrunebenchError(f"unknown split '{split}'; use one of: {', '.join(SPLITS)}")
    directory = dataset_dir(cfg)
    if not directory.is_dir() and not cfg["download"]:
        raise PrunebenchError(f"{cfg['dataset']} data not found: looked in {directory} (data root {data_root(cfg)}); {FIX_HINT}")
    fmt = detect_format(directory, split, cfg["format"], cfg["download"])
    if fmt == "torchvision":
        return scan_torchvision_cifar(directory, split, cfg["download"], FIX_HINT)
    source = scan_imagefolder(directory, split, FIX_HINT)
    if split != "train":
        train = scan_imagefolder(directory, "train", FIX_HINT)
        check_split_classes(train.classes, source.classes, source.directory, train.directory)
    return source


def small_image_policy(data_cfg: dict) -> str:
    """``data.small_images``; null means ``error`` for ImageNet-style trees (an image below the
    configured size means a wrong size or a damaged file) and ``upscale`` otherwise."""
    cfg = with_defaults(data_cfg)
    return cfg["small_images"] or ("error" if cfg["dataset"] == "imagenet" else "upscale")


def cache_path(data_cfg: dict, split: str, source: SplitSource) -> Path:
    """``<cache>/<dataset>/<split>-<size>px-<format>-<source fingerprint>.npz``."""
    cfg = with_defaults(data_cfg)
    skip = "-skipbad" if cfg["unreadable"] == "skip" else ""  # the default name is unchanged
    name = f"{split}-{cfg['image_size']}px-{source.format}{skip}-{source.fingerprint}.npz"
    return cache_dir(cfg) / cfg["dataset"] / name


def load_full_split(data_cfg: dict, split: str, verify: str = "auto") -> ImageDataset:
    """The whole split in canonical order, from the cache (memory-mapped when large, verified as
    ``verify`` says: see :func:`read_cache`) or decoded, cached and read back (fully verified).

    A cache written with ``small_images: upscale`` that holds upscaled images is not used under
    ``small_images: error`` (the cache name does not carry that policy): the split is decoded again,
    which refuses the small images in one line."""
    cfg = with_defaults(data_cfg)
    source = locate_split(cfg, split)
    path = cache_path(cfg, split, source)
    cached = read_cache(path, cfg["dataset"], split, verify=verify) if path.exists() else None
    if cached is not None and not (cached.decode_report.get("n_upscaled") and small_image_policy(cfg) == "error"):
        return cached
    if streams_to_disk(cfg, source):
        return reopen_written(path, cfg["dataset"], split, decode_to_cache(cfg, split, source, path))
    dataset = decode_split(cfg, split, source)
    write_cache(path, dataset)
    return reopen_written(path, dataset.name, split, dataset.checksum)


def streams_to_disk(cfg: dict, source: SplitSource) -> bool:
    """Whether a split is decoded straight into its cache file (:func:`decode_to_cache`): an
    ImageFolder split whose decoded pixels would exceed :data:`MAP_ABOVE_BYTES` (so it is mapped)."""
    side = int(cfg["image_size"])
    return source.format != "torchvision" and len(source.files) * side * side * 3 > MAP_ABOVE_BYTES


def reopen_written(path: Path, name: str, split: str, checksum: str) -> ImageDataset:
    """The split just written, read back (mapped when large) and fully verified against the decoded
    checksum: a fresh decode and a cache hit give the same dataset, and a large decoded copy is freed."""
    cached = read_cache(path, name, split, verify="full")
    if cached is None or cached.checksum != checksum:
        raise PrunebenchError(f"the cache just written to {path} does not read back; check that disk (or set "
                              "data.cache_dir / PRUNEBENCH_CACHE to another one) and rerun")
    return cached


def decode_split(cfg: dict, split: str, source: SplitSource) -> ImageDataset:
    """Decode every image of a split (slow path; the result is cached)."""
    start = time.perf_counter()
    report = {}
    if source.format == "torchvision":
        images, labels, classes = read_torchvision_cifar(source, split, cfg["image_size"])
    else:
        workers = cfg["workers"] or min(os.cpu_count() or 1, 8)
        images, kept, report = decode_imagefolder(source, cfg["image_size"], workers, cfg["unreadable"],
                                                  small_image_policy(cfg))
        labels, classes = np.asarray(source.labels, dtype=np.int64)[kept], list(source.classes)
        warn_decode_report(cfg, split, report)
    log.info("decoded %d %s %s images from %s in %.1f s", len(labels), cfg["dataset"], split, source.directory,
             time.perf_counter() - start)
    return ImageDataset(name=cfg["dataset"], split=split, images=images, labels=labels,
                        ids=np.arange(len(labels), dtype=np.int64), classes=classes,
                        checksum=content_checksum(images, labels, classes), source=str(source.directory),
                        decode_report=report if source.format != "torchvision" else {})


def warn_decode_report(cfg: dict, split: str, report: dict) -> None:
    """One warning line with what decoding converted, upscaled or skipped (nothing is silent)."""
    if report["n_converted"] or report["n_upscaled"] or report["n_skipped"]:
        log.warning("%s %s: %d non-RGB images converted to RGB %s, %d upscaled to %d px, %d unreadable skipped%s",
                    cfg["dataset"], split, report["n_converted"], report["converted"], report["n_upscaled"],
                    cfg["image_size"], report["n_skipped"],
                    f" ({', '.join(report['skipped'][:5])})" if report["n_skipped"] else "")


def decode_to_cache(cfg: dict, split: str, source: SplitSource, path: Path) -> str:
    """Decode a large ImageFolder split chunk by chunk straight into the cache at ``path``; its checksum.

    Memory: one decoding chunk per worker (``DECODE_CHUNK`` images) and the labels, never the split
    (ImageNet-1k at 224 px: 193 GB of pixels, ~0.6 GB of buffers). The pixels go to a raw file beside
    the cache as they are decoded, then into the archive's ``images.npy`` member in 64 MB blocks,
    hashed on the way (the same :func:`content_checksum` as an in-memory split: class names,
    labels, shape, pixels); the archive has the layout :func:`write_cache` gives, so it maps the
    same way. The raw file is removed whatever happens."""
    from prunebench.data.sources import decode_imagefolder

    start, side = time.perf_counter(), int(cfg["image_size"])
    raw = path.with_name(f".{path.name}.{os.getpid()}.pixels")
    workers = cfg["workers"] or min(os.cpu_count() or 1, 8)
    try:
        raw.parent.mkdir(parents=True, exist_ok=True)
        with open(raw, "wb") as pixels:
            _, kept, report = decode_imagefolder(source, side, workers, cfg["unreadable"], small_image_policy(cfg),
                                                 sink=lambda image: pixels.write(np.ascontiguousarray(image).data))
        labels, classes = np.asarray(source.labels, dtype=np.int64)[kept], list(source.classes)
        warn_decode_report(cfg, split, report)
        shape = (len(kept), side, side, 3)
        stamp = cache_stamp(np.memmap(raw, dtype=np.uint8, mode="r", shape=shape), labels, classes)
        written = {}
        atomic_write(path, lambda tmp: written.update(
            checksum=_write_streamed(tmp, raw, shape, labels, classes, str(source.directory), report, stamp)))
    except OSError as err:
        raise PrunebenchError(f"cannot decode {source.directory} into {path.parent}: {err.strerror or err}; free disk "
                              "space there (the cache needs the split's decoded size twice while it is written) or "
                              "set data.cache_dir / PRUNEBENCH_CACHE to a larger disk") from None
    finally:
        raw.unlink(missing_ok=True)
    log.info("decoded %d %s %s images from %s into %s in %.1f s (streamed)", len(kept), cfg["dataset"], split,
             source.directory, path, time.perf_counter() - start)
    return written["checksum"]


def _write_streamed(tmp: Path, raw: Path, shape: tuple, labels, classes, source: str, report: dict, stamp: str) -> str:
    """The cache archive at ``tmp`` from the raw pixel file (64 MB blocks, hashed on the way); its checksum."""
    digest = hashlib.sha256()
    digest.update("\n".join(classes).encode())
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    digest.update(str(shape).encode())
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as member, open(raw, "rb") as pixels:
            np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False, "shape": shape})
            for block in iter(lambda: pixels.read(STREAM_BLOCK_BYTES), b""):
                digest.update(block)
                member.write(block)
        checksum = "sha256:" + digest.hexdigest()
        small = {"labels": labels, "classes": np.asarray(classes), "checksum": np.asarray(checksum),
                 "source": np.asarray(source), "decode_report": np.asarray(json.dumps(report, sort_keys=True)),
                 "stamp": np.asarray(stamp)}
        for name, value in small.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)
    return checksum


def write_cache(path: Path, dataset: ImageDataset) -> None:
    """Atomically write the decoded split, its content checksum and its stamp to ``path``.

    ``np.savez`` stores members uncompressed, so the images stay mappable (see :func:`map_images`)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, images=dataset.images, labels=dataset.labels, classes=np.asarray(dataset.classes),
                     checksum=np.asarray(dataset.checksum), source=np.asarray(dataset.source),
                     decode_report=np.asarray(json.dumps(dataset.decode_report, sort_keys=True)),
                     stamp=np.asarray(cache_stamp(dataset.images, dataset.labels, dataset.classes)))

    atomic_write(path, write)


def cache_stamp(images: np.ndarray, labels: np.ndarray, classes: list[str]) -> str:
    """Cheap fingerprint of a decoded split: sha256 of the class names, labels, shape, dtype and
    ``STAMP_BLOCKS`` evenly spaced ``STAMP_BLOCK_BYTES`` blocks of the pixels (first and last
    included): about 4 MB read, whatever the split size."""
    digest = hashlib.sha256()
    digest.update("\n".join(classes).encode())
    digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    digest.update(f"{tuple(images.shape)} {np.dtype(images.dtype).str}".encode())
    flat = np.asarray(images).reshape(-1).view(np.uint8)
    starts = np.unique(np.linspace(0, max(flat.size - STAMP_BLOCK_BYTES, 0), STAMP_BLOCKS).astype(np.int64))
    for start in starts:
        digest.update(flat[start:start + STAMP_BLOCK_BYTES].tobytes())
    return "stamp:" + digest.hexdigest()


class _Unmappable(ValueError):
    """The images member cannot be mapped in place (compressed): it is read into memory instead."""


def map_images(path: Path, member: str = "images.npy") -> np.ndarray:
    """The ``.npy`` member of an uncompressed ``.npz`` as a read-only ``np.memmap`` (no RAM until read).

    Raises ``ValueError`` (or ``zipfile.BadZipFile``) when the archive is truncated or the member's
    stored size disagrees with its ``.npy`` header's shape and dtype, :class:`_Unmappable` when compressed."""
    with zipfile.ZipFile(path) as archive:  # a truncated file has lost its central directory: BadZipFile
        info = archive.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        raise _Unmappable(member)
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise ValueError("bad local zip header")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        start = info.header_offset + 30 + name_len + extra_len
        handle.seek(start)
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        offset = handle.tell()
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if fortran or info.file_size != offset - start + nbytes or os.path.getsize(path) < offset + nbytes:
        raise ValueError("images member truncated or inconsistent with its header")
    if nbytes == 0:
        return np.empty(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def read_cache(path: Path, name: str, split: str, verify: str = "auto") -> ImageDataset | None:
    """The cached split, images memory-mapped, if it loads and verifies; ``None`` (and a one-line
    warning) if corrupt, so the caller decodes again.

    Images above :data:`MAP_ABOVE_BYTES` stay a read-only ``np.memmap``; smaller ones are read into
    memory (as before). ``verify``: ``full`` recomputes the content checksum over every pixel
    (what ``data prepare`` and a fresh write use); ``stamp`` checks, in milliseconds, that the zip
    is whole (a truncated file loses its central directory), that the images member's size
    matches its ``.npy`` header (shape and dtype), that its row count matches the labels, and the
    stored :func:`cache_stamp` (catches a replaced or rewritten file); ``auto`` is ``stamp`` for
    mapped images and ``full`` for in-memory ones (exactly as before). A cache without a stamp
    (written before stamps) is always fully verified."""
    if verify not in VERIFY_MODES:
        raise PrunebenchError(f"cache verify mode '{verify}' is unknown; use one of {', '.join(VERIFY_MODES)}")
    try:
        images, meta = _read_cache_parts(path)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("cache %s is unreadable (%s); decoding the dataset again", path, err.__class__.__name__)
        return None
    problem = _verify_cache(images, meta, verify)
    if problem:
        log.warning("cache %s %s; decoding the dataset again", path, problem)
        return None
    return ImageDataset(name=name, split=split, images=images, labels=meta["labels"],
                        ids=np.arange(len(meta["labels"]), dtype=np.int64), classes=meta["classes"],
                        checksum=meta["checksum"], source=meta["source"], decode_report=meta["report"])


def _read_cache_parts(path: Path) -> tuple[np.ndarray, dict]:
    """(images: mapped, or in memory if compressed; the small arrays as a dict)."""
    with np.load(path, allow_pickle=False) as archive:
        meta = dict(labels=archive["labels"].astype(np.int64), classes=[str(c) for c in archive["classes"]],
                    checksum=str(archive["checksum"]), source=str(archive["source"]),
                    report=json.loads(str(archive["decode_report"])) if "decode_report" in archive.files else {},
                    stamp=str(archive["stamp"]) if "stamp" in archive.files else None)
        try:
            images = map_images(path)
        except _Unmappable:
            images = None
        if images is None or images.nbytes <= MAP_ABOVE_BYTES:
            images = archive["images"]
    return images, meta


def _verify_cache(images: np.ndarray, meta: dict, verify: str) -> str | None:
    """What is wrong with a loaded cache (a phrase for the warning), or ``None`` when it verifies."""
    if images.ndim != 4 or images.dtype != np.uint8 or len(images) != len(meta["labels"]):
        return f"holds images of shape {images.shape} {images.dtype} for {len(meta['labels'])} labels"
    if meta["stamp"] is not None:
        stamp = cache_stamp(images, meta["labels"], meta["classes"])
        if stamp != meta["stamp"]:
            return f"fails its stamp (stored {meta['stamp'][:22]}, found {stamp[:22]})"
    full = verify == "full" or meta["stamp"] is None or (verify == "auto" and not isinstance(images, np.memmap))
    if full:
        actual = content_checksum(images, meta["labels"], meta["classes"])
        if actual != meta["checksum"]:
            return f"fails its checksum (stored {meta['checksum']}, found {actual})"
    return None


def balanced_subsample(labels, size: int, seed: int) -> np.ndarray:
    """Sorted positions of a class-balanced random subset of ``size`` examples.

    Each class gets ``size // C`` (the remainder goes to classes in a seeded order; a class with
    too few examples gives its share to the others). For a fixed seed the subsets are nested:
    a smaller size is a subset of a larger one.
    """
    labels = np.asarray(labels)
    if not 0 < size <= len(labels):
        raise PrunebenchError(f"subsample size {size} must be between 1 and the split size {len(labels)}; fix data.train_size/test_size")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    class_order = rng.permutation(len(classes))
    members = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    quota = _balanced_quota(np.array([len(m) for m in members]), size, class_order)
    return np.sort(np.concatenate([m[:q] for m, q in zip(members, quota)]))


def _balanced_quota(available: np.ndarray, size: int, class_order: np.ndarray) -> np.ndarray:
    """Water-filling: equal shares, capped by what each class has, remainder in ``class_order``."""
    quota = np.zeros(len(available), dtype=np.int64)
    remaining = size
    while remaining > 0:
        open_classes = [c for c in class_order if quota[c] < available[c]]
        share, extra = divmod(remaining, len(open_classes))
        for rank, c in enumerate(open_classes):
            take = min(share + (rank < extra), available[c] - quota[c])
            quota[c] += take
            remaining -= take
    return quota


def load_dataset(data_cfg: dict, split: str) -> ImageDataset:
    """A split, decoded once and cached, subsampled to ``data.<split>_size`` (class-balanced, seeded)."""
    cfg = with_defaults(data_cfg)
    return subsample_split(load_full_split(cfg, split), cfg)


def subsample_split(full: ImageDataset, data_cfg: dict) -> ImageDataset:
    """The configured ``<split>_size`` subsample of a full split (itself when the size is null/too big)."""
    cfg = with_defaults(data_cfg)
    size = cfg[f"{full.split}_size"]
    if size is None or size >= len(full):
        return full
    positions = balanced_subsample(full.labels, size, derive_seed(cfg["subsample_seed"], "subsample", full.split))
    return full.subset(positions)


def check_class_counts(labels, classes, size: int, class_balance: float, what: str = "sweep size") -> None:
    """Refuse (one line) a train set where a class has fewer images than class-balanced selection needs.

    With ``class_balance`` > 0 (the paper's ImageNet rule, 0.5) a class's floor is
    ``ceil(class_balance * f * N_c)`` of its ``N_c`` images in the initial dataset, and that
    dataset is meant to hold the class's balanced share ``floor(size / C)``. A class with fewer
    images than that share would enter short (:func:`balanced_subsample` gives its quota to the
    others) and its floor would be computed from the short count, so the balance would not hold.
    A ``size`` of the whole train set is never refused: nothing is subsampled, every class enters
    with all its images (ImageNet's natural imbalance, 732 to 1,300 per class) and its floor is
    computed from that count, which is the paper's rule.
    """
    labels = np.asarray(labels)
    if class_balance <= 0 or int(size) >= len(labels):
        return
    counts = np.bincount(labels, minlength=len(classes))
    need = int(size) // len(classes)
    short = [(classes[c], int(n)) for c, n in enumerate(counts) if n < need]
    if short:
        short.sort(key=lambda item: item[1])
        names = ", ".join(f"'{c}' ({n})" for c, n in short[:3]) + (f" and {len(short) - 3} more" if len(short) > 3 else "")
        largest = int(counts.min()) * len(classes)
        raise PrunebenchError(
            f"{len(short)} of {len(classes)} classes have fewer train images than {what} {size} needs for class "
            f"balance {class_balance} ({need} per class): {names}; lower sweep.sizes to at most {largest}, add images "
            "to those classes, or set selection.class_balance: 0")
