"""Memory-mapped decoded caches, lazy row-view subsets and host-resident training (ImageNet scale).

Tiny synthetic ImageFolder trees (a few KB of PNGs); ``MAP_ABOVE_BYTES`` is lowered to 0 so the
large-split path (memory map, stamp verification, host-resident batches) runs on them.
"""

from __future__ import annotations

import logging
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from prunebench.data import (
    RowView, cache_path, content_checksum, host_rows, is_memory_mapped, load_dataset, load_full_split, locate_split,
)
from prunebench.data import loading
from prunebench.training import TrainConfig, build_model, predict, train
from prunebench.training.loop import HostImages, resident_mode, training_images

CLASSES = ("ant", "bee", "cat")
SIDE = 16  # the smallest side airbench's three poolings take
TINY = dict(model="airbench", model_kwargs=dict(width=[8, 16, 16]), epochs=1, batch_size=8, lr=0.2, threads=1,
            whiten_samples=12, progress=False)


def write_tree(root, per_class=6, size=SIDE):
    """An ImageFolder tree of lossless PNGs whose pixels are seeded noise plus a class offset."""
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label, name in enumerate(CLASSES):
            folder = root / "toy" / split / name
            folder.mkdir(parents=True)
            for index in range(per_class):
                pixels = rng.integers(0, 120, (size, size, 3)) + 60 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index:02d}.png")
    return root


@pytest.fixture
def cfg(tmp_path):
    root = write_tree(tmp_path / "data")
    return dict(dataset="cifar10", root=str(root), path="toy", image_size=SIDE, cache_dir=str(tmp_path / "cache"), workers=1)


@pytest.fixture
def mapped(monkeypatch):
    """Treat every split as large: memory-mapped and stamp-verified."""
    monkeypatch.setattr(loading, "MAP_ABOVE_BYTES", 0)


def the_cache(cfg):
    return cache_path(cfg, "train", locate_split(cfg, "train"))


def test_cache_round_trips_pixels_labels_and_checksum_mapped_or_not(cfg, monkeypatch):
    in_memory = load_full_split(cfg, "train")
    assert not is_memory_mapped(in_memory.images)  # small splits: read into RAM, as before
    monkeypatch.setattr(loading, "MAP_ABOVE_BYTES", 0)
    monkeypatch.setattr(loading, "decode_split", lambda *a: pytest.fail("decoded again despite a valid cache"))
    mapped = load_full_split(cfg, "train")
    assert isinstance(mapped.images, np.memmap) and is_memory_mapped(mapped.images)
    assert not mapped.images.flags.writeable
    np.testing.assert_array_equal(np.asarray(mapped.images), in_memory.images)
    np.testing.assert_array_equal(mapped.labels, in_memory.labels)
    assert mapped.checksum == in_memory.checksum == content_checksum(mapped.images, mapped.labels, mapped.classes)
    assert mapped.classes == list(CLASSES) and len(mapped) == 18


def test_fresh_decode_is_returned_mapped_and_verified(cfg, mapped):
    dataset = load_full_split(cfg, "train")
    assert isinstance(dataset.images, np.memmap)
    assert dataset.checksum == content_checksum(np.asarray(dataset.images), dataset.labels, dataset.classes)


def test_subset_of_a_map_is_a_row_view_that_copies_nothing(cfg, mapped):
    full = load_full_split(cfg, "train")
    loaded = load_dataset({**cfg, "train_size": 9}, "train").images
    assert isinstance(loaded, RowView) and isinstance(loaded.base, np.memmap)
    assert loaded.base.filename == full.images.filename  # a view of the cache file's map, not a copy
    subset = full.subset(loading.balanced_subsample(full.labels, 9, seed=0))
    view = subset.images
    assert isinstance(view, RowView) and view.base is full.images
    assert view.shape == (9, SIDE, SIDE, 3) and len(view) == 9 and view.dtype == np.uint8 and view.ndim == 4
    assert view.nbytes == 9 * SIDE * SIDE * 3
    assert set(vars(view)) == {"base", "index"} and view.index.nbytes == 9 * 8  # no pixels of its own
    nested = subset.subset(np.arange(9)[::-1])  # a subset of a view is a view of the same base, not a copy
    assert isinstance(nested.images, RowView) and nested.images.base is view.base
    np.testing.assert_array_equal(np.asarray(view), np.asarray(full.images)[subset.ids])
    np.testing.assert_array_equal(np.asarray(nested.images), np.asarray(full.images)[subset.ids[::-1]])
    # Indexing gathers only the asked rows, in the asked order, as a plain writable array.
    rows = view[np.array([5, 0, 5, 2])]
    assert type(rows) is np.ndarray and rows.flags.writeable and rows.flags.c_contiguous
    np.testing.assert_array_equal(rows, np.asarray(full.images)[subset.ids[[5, 0, 5, 2]]])
    np.testing.assert_array_equal(view[3], np.asarray(full.images)[subset.ids[3]])
    np.testing.assert_array_equal(view[2:5, 1], np.asarray(full.images)[subset.ids[2:5], 1])
    np.testing.assert_array_equal(host_rows(view, slice(1, 4)), np.asarray(full.images)[subset.ids[1:4]])


def test_subset_of_in_memory_images_is_still_a_copy(cfg):
    full = load_full_split(cfg, "train")
    subset = full.subset([0, 3, 4])
    assert type(subset.images) is np.ndarray and not np.shares_memory(subset.images, full.images)


@pytest.mark.parametrize("damage", ["truncate", "replace_pixels"])
def test_a_damaged_mapped_cache_is_detected_and_decoded_again(cfg, mapped, caplog, damage):
    original = np.asarray(load_full_split(cfg, "train").images).copy()
    path = the_cache(cfg)
    if damage == "truncate":
        data = path.read_bytes()
        path.unlink()  # a new inode: the first split's live map is not cut under it
        path.write_bytes(data[:len(data) // 2])
    else:  # same size, same header, last block of pixels changed: only the stamp can tell
        with zipfile.ZipFile(path) as archive:
            arrays = {name[:-4]: np.load(archive.open(name)) for name in archive.namelist()}
        arrays["images"][-1] ^= 0x5A
        path.unlink()
        np.savez(path, **arrays)
    with caplog.at_level(logging.WARNING, logger="prunebench.data.loading"):
        rebuilt = load_full_split(cfg, "train")
    assert "decoding the dataset again" in caplog.text
    assert ("unreadable" if damage == "truncate" else "fails its stamp") in caplog.text
    np.testing.assert_array_equal(np.asarray(rebuilt.images), original)
    assert loading.read_cache(path, "cifar10", "train", verify="full") is not None  # the rebuilt cache verifies


def test_truncated_images_member_is_caught_by_its_header(cfg, mapped, caplog):
    """A cache whose images member is shorter than its .npy header says (a rewritten central
    directory keeps the zip readable) is refused by the cheap check."""
    load_full_split(cfg, "train")
    path = the_cache(cfg)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["images.npy"] = members["images.npy"][:-64]
    path.unlink()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with caplog.at_level(logging.WARNING, logger="prunebench.data.loading"):
        assert loading.read_cache(path, "cifar10", "train") is None
    assert "unreadable (ValueError)" in caplog.text


def test_old_cache_without_stamp_is_fully_checksummed(cfg, mapped, caplog):
    """Caches written before stamps (no ``stamp`` member) still load, mapped, after a full checksum;
    one whose pixels were altered is refused by that checksum."""
    load_full_split(cfg, "train")
    path = the_cache(cfg)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files if key != "stamp"}
    path.unlink()
    np.savez(path, **arrays)  # the pre-stamp layout
    old = loading.read_cache(path, "cifar10", "train")
    assert old is not None and isinstance(old.images, np.memmap)
    assert old.checksum == str(arrays["checksum"])
    arrays["images"][4, 2, 2, 1] ^= 0x01
    path.unlink()
    np.savez(path, **arrays)
    with caplog.at_level(logging.WARNING, logger="prunebench.data.loading"):
        rebuilt = load_full_split(cfg, "train")
    assert "fails its checksum" in caplog.text
    assert rebuilt.checksum == str(arrays["checksum"])  # decoded again: the original pixels
    with np.load(path) as archive:
        assert "stamp" in archive.files  # rewritten in the current layout


def test_compressed_cache_is_read_in_memory_and_verified(cfg, mapped):
    load_full_split(cfg, "train")
    path = the_cache(cfg)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    path.unlink()
    np.savez_compressed(path, **arrays)
    dataset = loading.read_cache(path, "cifar10", "train")
    assert dataset is not None and not is_memory_mapped(dataset.images)
    np.testing.assert_array_equal(dataset.images, arrays["images"])


def test_residency_rule(tmp_path, monkeypatch):
    """In-memory images: device. Memory-mapped: host on the CPU, and on an accelerator when larger
    than DEVICE_FRACTION of its memory."""
    from prunebench.training import loop

    in_memory = np.zeros((4, 8, 8, 3), np.uint8)
    mapped = np.memmap(tmp_path / "x.npy", dtype=np.uint8, mode="w+", shape=(4, 8, 8, 3))
    view = RowView(mapped, np.array([3, 1]))
    cpu = torch.device("cpu")
    assert resident_mode(in_memory, cpu) == "device"
    assert resident_mode(mapped, cpu) == resident_mode(view, cpu) == "host"
    assert resident_mode(view, cpu, "device") == "device" and resident_mode(in_memory, cpu, "host") == "host"
    monkeypatch.setattr(loop, "device_memory", lambda device: 4 * view.nbytes)  # exactly the fraction: fits
    assert resident_mode(view, cpu) == "device"
    monkeypatch.setattr(loop, "device_memory", lambda device: 4 * view.nbytes - 1)
    assert resident_mode(view, cpu) == "host"
    with pytest.raises(Exception, match="use one of auto, device, host"):
        resident_mode(in_memory, cpu, "gpu")


def test_training_on_a_mapped_subset_matches_training_in_memory(cfg, monkeypatch):
    in_memory_train = load_dataset({**cfg, "train_size": 15}, "train")
    test_set = load_dataset(cfg, "test")
    monkeypatch.setattr(loading, "MAP_ABOVE_BYTES", 0)
    mapped_train = load_dataset({**cfg, "train_size": 15}, "train")
    assert isinstance(mapped_train.images, RowView) and type(in_memory_train.images) is np.ndarray
    np.testing.assert_array_equal(mapped_train.ids, in_memory_train.ids)
    cpu = torch.device("cpu")
    assert resident_mode(mapped_train.images, cpu) == "host"
    assert isinstance(training_images(mapped_train, cpu), HostImages)

    def fit(train_set, resident):
        config = TrainConfig.from_dict(TINY)
        model = build_model(config, train_set.num_classes, seed=3)
        result = train(model, train_set, config, seed=3, test_set=test_set, resident=resident)
        return result, torch.cat([p.detach().flatten() for p in model.parameters()])

    device_run, device_weights = fit(in_memory_train, "auto")
    host_run, host_weights = fit(mapped_train, "auto")
    assert device_run.train_steps == host_run.train_steps == 2
    assert torch.equal(device_weights, host_weights)
    np.testing.assert_array_equal(device_run.test_logits, host_run.test_logits)
    assert device_run.history[0]["train_loss"] == host_run.history[0]["train_loss"]
    mapped_test = load_dataset(cfg, "test")
    assert is_memory_mapped(mapped_test.images)
    config = TrainConfig.from_dict(TINY)
    logits = predict(host_run.model, mapped_test, tta=config.tta, batch_size=config.eval_batch_size)
    np.testing.assert_array_equal(logits, host_run.test_logits)  # prediction by slices of a mapped set


def test_metrics_read_a_mapped_subset_batch_wise_with_the_in_memory_result(cfg, monkeypatch):
    """input-norm and SimCLR (which once copied the whole set to a tensor) give the same numbers
    on a memory-mapped RowView as on the same rows in memory."""
    from prunebench.metrics.input_norm import input_norms
    from prunebench.metrics.ssl_encoder import SIMCLR_DEFAULTS, train_simclr

    in_memory = load_dataset({**cfg, "train_size": 12}, "train")
    monkeypatch.setattr(loading, "MAP_ABOVE_BYTES", 0)
    mapped = load_dataset({**cfg, "train_size": 12}, "train")
    assert isinstance(mapped.images, RowView)
    np.testing.assert_array_equal(input_norms(mapped, batch_size=5), input_norms(in_memory, batch_size=5))
    simclr = {**SIMCLR_DEFAULTS, "epochs": 1, "batch_size": 6}
    kwargs = dict(seed=1, device="cpu", backbone_name="airbench", backbone_kwargs=dict(width=[8, 16, 16]))
    weights = [torch.cat([p.detach().flatten() for p in train_simclr(d, simclr, **kwargs).parameters()])
               for d in (in_memory, mapped)]
    assert torch.equal(*weights)


def test_a_large_split_is_decoded_straight_to_disk_with_the_in_memory_result(tmp_path, monkeypatch):
    """Above MAP_ABOVE_BYTES the split streams into its cache (one chunk of images in memory at a
    time): the same archive contents and checksum as the in-memory path, at a fraction of its memory."""
    import tracemalloc

    from prunebench.data import sources

    root = write_tree(tmp_path / "data", per_class=40, size=64)
    base = dict(dataset="cifar10", root=str(root), path="toy", image_size=64, workers=1)
    in_memory = load_full_split({**base, "cache_dir": str(tmp_path / "a")}, "train")
    pixel_bytes = in_memory.images.nbytes  # 120 images x 12 KB
    monkeypatch.setattr(loading, "MAP_ABOVE_BYTES", 0)
    monkeypatch.setattr(sources, "DECODE_CHUNK", 4)
    monkeypatch.setattr(loading, "STREAM_BLOCK_BYTES", 1 << 14)
    monkeypatch.setattr(loading, "decode_split", lambda *a: pytest.fail("the in-memory decode ran"))
    tracemalloc.start()
    streamed = load_full_split({**base, "cache_dir": str(tmp_path / "b")}, "train")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert isinstance(streamed.images, np.memmap)
    assert streamed.checksum == in_memory.checksum
    np.testing.assert_array_equal(np.asarray(streamed.images), in_memory.images)
    assert peak < pixel_bytes / 3, (peak, pixel_bytes)
    with zipfile.ZipFile(the_cache({**base, "cache_dir": str(tmp_path / "b")})) as archive:
        assert sorted(archive.namelist()) == sorted(zipfile.ZipFile(the_cache({**base, "cache_dir": str(tmp_path / "a")})).namelist())
    assert not list((tmp_path / "b").rglob("*.pixels"))  # the raw pixel file is gone


def test_a_streamed_decode_skips_and_counts_an_unreadable_file(cfg, mapped, caplog):
    from pathlib import Path

    (Path(cfg["root"]) / "toy" / "train" / "bee" / "00.png").write_bytes(b"not a png")
    with caplog.at_level(logging.WARNING):
        dataset = load_full_split({**cfg, "unreadable": "skip"}, "train")
    assert len(dataset) == 17 and dataset.decode_report["n_skipped"] == 1
    assert dataset.decode_report["skipped"] == ["bee/00.png"]
    assert "1 unreadable skipped" in caplog.text
    assert np.bincount(dataset.labels).tolist() == [6, 5, 6]
