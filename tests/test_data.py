"""Data layer: canonical ids, the checksummed cache, bad inputs, balanced subsampling, normalisation."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from prunebench.cli import main as cli_main
from prunebench.data import (
    balanced_subsample, cache_path, data_root, load_dataset, load_full_split, locate_split, normalize,
)
from prunebench.data import loading
from prunebench.errors import PrunebenchError
from prunebench.provenance import REPO_ROOT

CLASSES = ("zebra", "ant", "moth")  # deliberately not in sorted order on disk creation
SHARED_DATA = Path(os.environ.get("PRUNEBENCH_DATA", REPO_ROOT.parent / "shared" / "data"))


def pixel_value(class_index: int, file_index: int) -> int:
    return 10 + 40 * class_index + 3 * file_index


def write_imagefolder(root: Path, counts=(4, 3, 5), size=(8, 8), splits=("train", "test")) -> Path:
    """A lossless PNG ImageFolder tree whose pixel value encodes (sorted class, sorted file)."""
    for split in splits:
        for class_name, count in zip(CLASSES, counts):
            label = sorted(CLASSES).index(class_name)
            folder = root / "toy" / split / class_name
            folder.mkdir(parents=True)
            for index in reversed(range(count)):  # written out of order on purpose
                array = np.full((*size[::-1], 3), pixel_value(label, index), dtype=np.uint8)
                Image.fromarray(array).save(folder / f"img{index:02d}.png")
    return root


def toy_cfg(root: Path, tmp_path: Path, **extra) -> dict:
    return {**dict(dataset="cifar10", root=str(root), path="toy", image_size=8, cache_dir=str(tmp_path / "cache"),
                   workers=1), **extra}


@pytest.fixture
def toy(tmp_path):
    root = write_imagefolder(tmp_path / "data")
    return toy_cfg(root, tmp_path)


def test_imagefolder_ids_follow_sorted_classes_then_sorted_files(toy):
    dataset = load_dataset(toy, "train")
    assert dataset.classes == sorted(CLASSES)
    np.testing.assert_array_equal(dataset.ids, np.arange(12))
    expected_counts = {"ant": 3, "moth": 5, "zebra": 4}
    expected_labels = np.repeat(np.arange(3), [expected_counts[c] for c in sorted(CLASSES)])
    np.testing.assert_array_equal(dataset.labels, expected_labels)
    file_index = np.concatenate([np.arange(expected_counts[c]) for c in sorted(CLASSES)])
    np.testing.assert_array_equal(dataset.images[:, 0, 0, 0], pixel_value(dataset.labels, file_index))
    assert dataset.images.dtype == np.uint8 and dataset.images.shape == (12, 8, 8, 3)


def test_ids_are_stable_across_cache_rebuilds(toy, tmp_path):
    first = load_dataset(toy, "train")
    second = load_dataset({**toy, "cache_dir": str(tmp_path / "other-cache")}, "train")
    np.testing.assert_array_equal(first.ids, second.ids)
    np.testing.assert_array_equal(first.images, second.images)
    assert first.checksum == second.checksum


def test_cache_miss_then_hit(toy, monkeypatch):
    path = cache_path(toy, "train", locate_split(toy, "train"))
    assert not path.exists()
    first = load_dataset(toy, "train")
    assert path.exists()

    def fail(*args, **kwargs):
        raise AssertionError("decoded again despite a valid cache")

    monkeypatch.setattr(loading, "decode_split", fail)
    second = load_dataset(toy, "train")
    assert second.checksum == first.checksum
    np.testing.assert_array_equal(second.images, first.images)


def test_cache_key_changes_when_source_files_change(toy):
    before = cache_path(toy, "train", locate_split(toy, "train"))
    extra = Path(toy["root"]) / "toy" / "train" / "ant" / "img99.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(extra)
    after = cache_path(toy, "train", locate_split(toy, "train"))
    assert before != after
    assert len(load_dataset(toy, "train")) == 13


@pytest.mark.parametrize("damage", ["flip_pixels", "truncate"])
def test_corrupt_cache_is_detected_and_rebuilt(toy, caplog, damage):
    original = load_dataset(toy, "train")
    path = cache_path(toy, "train", locate_split(toy, "train"))
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    else:
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in archive.files}
        arrays["images"][0, 0, 0, 0] ^= 0xFF
        np.savez(path, **arrays)
    with caplog.at_level(logging.WARNING, logger="prunebench.data.loading"):
        rebuilt = load_dataset(toy, "train")
    assert "decoding the dataset again" in caplog.text
    np.testing.assert_array_equal(rebuilt.images, original.images)
    assert rebuilt.checksum == original.checksum
    assert loading.read_cache(path, "cifar10", "train") is not None  # the rebuilt cache verifies


def assert_one_line(error: PrunebenchError, *fragments: str) -> None:
    message = str(error)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_root_names_where_it_looked_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNEBENCH_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(PrunebenchError) as info:
        load_dataset({"dataset": "cifar10", "cache_dir": str(tmp_path)}, "train")
    assert_one_line(info.value, str(tmp_path / "nowhere" / "cifar10-jpeg"), "PRUNEBENCH_DATA", "data.root")


def test_missing_split_folder(tmp_path):
    root = write_imagefolder(tmp_path / "data", splits=("train",))
    with pytest.raises(PrunebenchError) as info:
        load_dataset(toy_cfg(root, tmp_path), "test")
    assert_one_line(info.value, "test/", "val/", "PRUNEBENCH_DATA")


def test_split_without_images(tmp_path):
    (tmp_path / "data" / "toy" / "train" / "cat").mkdir(parents=True)
    with pytest.raises(PrunebenchError) as info:
        load_dataset(toy_cfg(tmp_path / "data", tmp_path), "train")
    assert_one_line(info.value, "no images found")


def test_corrupt_image_file_is_named(toy):
    bad = Path(toy["root"]) / "toy" / "train" / "moth" / "img03.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(PrunebenchError) as info:
        load_dataset(toy, "train")
    assert_one_line(info.value, str(bad), "decode", "re-download")  # not "corrupt": the tmp path holds that word


def test_cli_prints_one_error_line(tmp_path, capsys):
    config = dict(name="bad", seed=0, data=dict(dataset="cifar10", root=str(tmp_path / "missing")),
                  probe=dict(model="airbench"))
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli_main(["data", "info", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and str(tmp_path / "missing") in err


def test_config_root_beats_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNEBENCH_DATA", "/from/env")
    assert data_root({"root": str(tmp_path)}) == tmp_path
    assert data_root({}) == Path("/from/env")
    monkeypatch.delenv("PRUNEBENCH_DATA")
    assert data_root({}) == REPO_ROOT.parent / "shared" / "data"


def test_images_are_resized_and_center_cropped(tmp_path):
    folder = tmp_path / "data" / "toy" / "train" / "n0001"
    folder.mkdir(parents=True)
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, 10:30] = 200  # the center band survives the crop
    Image.fromarray(wide).save(folder / "a.png")
    dataset = load_dataset(toy_cfg(tmp_path / "data", tmp_path, image_size=10, dataset="imagenet"), "train")
    assert dataset.images.shape == (1, 10, 10, 3)
    assert dataset.images.min() >= 150  # the black side bands were cropped away
    assert (dataset.images[0, :, 1:-1] == 200).all()


def test_balanced_subsample_is_balanced_seeded_and_nested():
    labels = np.repeat(np.arange(10), 100)
    positions = balanced_subsample(labels, 250, seed=3)
    counts = np.bincount(labels[positions], minlength=10)
    assert counts.sum() == 250 and counts.max() - counts.min() <= 1
    assert np.all(np.diff(positions) > 0)
    np.testing.assert_array_equal(positions, balanced_subsample(labels, 250, seed=3))
    assert not np.array_equal(positions, balanced_subsample(labels, 250, seed=4))
    smaller = balanced_subsample(labels, 120, seed=3)
    assert set(smaller) <= set(positions)


def test_balanced_subsample_handles_rare_classes():
    labels = np.array([0] * 50 + [1] * 3 + [2] * 50)
    counts = np.bincount(labels[balanced_subsample(labels, 30, seed=0)])
    assert counts.tolist() == [14, 3, 13] or counts.tolist() == [13, 3, 14]
    with pytest.raises(PrunebenchError):
        balanced_subsample(labels, 500, seed=0)


def test_subset_keeps_ids(toy):
    dataset = load_dataset({**toy, "train_size": 6}, "train")
    assert len(dataset) == 6
    assert np.bincount(dataset.labels).tolist() == [2, 2, 2]
    full = load_full_split(toy, "train")
    np.testing.assert_array_equal(full.images[dataset.ids], dataset.images)
    np.testing.assert_array_equal(full.labels[dataset.ids], dataset.labels)


def test_normalize_layouts_and_statistics():
    images = torch.randint(0, 256, (4, 6, 6, 3), dtype=torch.uint8)
    nchw = normalize(images)
    assert nchw.shape == (4, 3, 6, 6) and nchw.dtype == torch.float32
    torch.testing.assert_close(normalize(images.permute(0, 3, 1, 2)), nchw)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    torch.testing.assert_close(normalize(torch.full((1, 2, 2, 3), 191, dtype=torch.uint8), (mean, std)),
                               torch.full((1, 3, 2, 2), (191 / 255 - 0.5) / 0.25))


@pytest.mark.skipif(not (SHARED_DATA / "cifar10-jpeg" / "test").is_dir(), reason="shared CIFAR-10 not available")
def test_real_cifar10_test_split():
    cfg = {"dataset": "cifar10", "root": str(SHARED_DATA), "path": "cifar10-jpeg", "test_size": 200}
    full = load_full_split(cfg, "test")
    assert len(full) == 10000 and full.num_classes == 10 and full.classes[0] == "airplane"
    np.testing.assert_array_equal(np.bincount(full.labels), [1000] * 10)
    assert np.all(np.diff(full.labels) >= 0)  # class-grouped canonical order
    first_file = SHARED_DATA / "cifar10-jpeg" / "test" / "airplane" / sorted(
        os.listdir(SHARED_DATA / "cifar10-jpeg" / "test" / "airplane"))[0]
    np.testing.assert_array_equal(full.images[0], np.asarray(Image.open(first_file).convert("RGB")))
    subset = load_dataset(cfg, "test")
    assert len(subset) == 200 and np.bincount(subset.labels).tolist() == [20] * 10
    np.testing.assert_array_equal(full.images[subset.ids], subset.images)


def write_torchvision_cifar(root: Path, per_batch: int = 3) -> Path:
    """Fake CIFAR-10 python batches (torchvision's format); pixel value = global index."""
    import pickle

    folder = root / "tv" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for batch, name in enumerate(names):
        index = batch * per_batch + np.arange(per_batch)
        data = np.repeat(index[:, None], 3072, axis=1).astype(np.uint8)
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": data, "labels": [int(i % 10) for i in index]}, handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, handle)
    return root


def test_torchvision_format_keeps_the_official_order(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    root = write_torchvision_cifar(tmp_path / "data")
    cfg = dict(dataset="cifar10", root=str(root), path="tv", cache_dir=str(tmp_path / "cache"))
    train_set, test_set = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert locate_split(cfg, "train").format == "torchvision"
    assert len(train_set) == 15 and len(test_set) == 3
    np.testing.assert_array_equal(train_set.images[:, 0, 0, 0], np.arange(15))  # data_batch_1..5 in order
    np.testing.assert_array_equal(train_set.labels, np.arange(15) % 10)
    assert test_set.images[0, 5, 5, 2] == 15 and train_set.classes[3] == "class3"


def test_corrupt_torchvision_batches_fail_in_one_line(tmp_path):
    root = write_torchvision_cifar(tmp_path / "data")  # md5 sums do not match the real ones
    with pytest.raises(PrunebenchError) as info:
        load_dataset(dict(dataset="cifar10", root=str(root), path="tv", cache_dir=str(tmp_path / "c")), "train")
    assert_one_line(info.value, "corrupt", "re-download")
