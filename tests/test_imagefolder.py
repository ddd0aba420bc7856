"""ImageNet-style ImageFolder trees with bad input: each problem is one clear line or a counted report.

Small synthetic trees of tiny JPEGs made in ``tmp_path`` (prunebench.data.sources / .loading):
a val/ split whose class folders differ from train/, an empty class folder, an unreadable
(corrupt bytes) JPEG, non-RGB (grayscale, CMYK) JPEGs, images below ``data.image_size``, and a
class with fewer images than the class-balance rule needs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from prunebench.data import cache_path, check_class_counts, load_dataset, load_full_split, locate_split
from prunebench.data.loading import small_image_policy
from prunebench.errors import PrunebenchError

WNIDS = ("n01440764", "n02102040", "n02979186")


def write_jpeg(path: Path, size=(16, 16), mode: str = "RGB", value: int = 128) -> Path:
    """A flat-colour JPEG of ``size`` (width, height) in PIL ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    array = np.full((size[1], size[0], channels), value, dtype=np.uint8).squeeze(-1 if channels == 1 else ())
    Image.fromarray(array, mode=mode).save(path, format="JPEG", quality=95)
    return path


def write_tree(root: Path, per_class: int = 3, train=WNIDS, val=WNIDS, size=(16, 16)) -> Path:
    """``root/imagenet/{train,val}/<wnid>/<wnid>_<k>.JPEG``: ``per_class`` RGB JPEGs per class folder."""
    for split, classes in (("train", train), ("val", val)):
        for label, wnid in enumerate(classes):
            for k in range(per_class):
                write_jpeg(root / "imagenet" / split / wnid / f"{wnid}_{k}.JPEG", size, value=40 * label + 10 * k)
    return root / "imagenet"


def data_cfg(tree: Path, tmp_path: Path, **extra) -> dict:
    """An ImageNet data section reading ``tree`` at 16 px, cached under ``tmp_path``."""
    return {"dataset": "imagenet", "path": str(tree), "image_size": 16, "cache_dir": str(tmp_path / "cache"),
            "workers": 1, **extra}


def one_line(info: pytest.ExceptionInfo, *fragments: str) -> str:
    """The error message, checked to be one line that contains every fragment."""
    message = str(info.value)
    assert "\n" not in message, message
    missing = [f for f in fragments if f not in message]
    assert not missing, f"{missing} not in: {message}"
    return message


# -- class folders ---------------------------------------------------------------------------------

def test_val_classes_differ_from_train_is_one_line_naming_the_fix(tmp_path):
    tree = write_tree(tmp_path, val=(WNIDS[0], WNIDS[1], "n09999999"))
    with pytest.raises(PrunebenchError) as info:
        load_dataset(data_cfg(tree, tmp_path), "test")
    one_line(info, f"{tree / 'val'}", "3 vs 3 classes", f"missing in val: {WNIDS[2]}", "not in train: n09999999",
             "one <class>/ folder per train class", "valprep.sh")


def test_val_missing_a_class_is_refused_before_decoding(tmp_path, monkeypatch):
    tree = write_tree(tmp_path, val=WNIDS[:2])
    monkeypatch.setattr("prunebench.data.loading.decode_split", lambda *a: pytest.fail("decoded a mislabelled split"))
    with pytest.raises(PrunebenchError) as info:
        load_dataset(data_cfg(tree, tmp_path), "test")
    one_line(info, "2 vs 3 classes", f"missing in val: {WNIDS[2]}")


def test_matching_val_classes_load_with_train_labels(tmp_path):
    cfg = data_cfg(write_tree(tmp_path), tmp_path)
    train, val = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    assert train.classes == val.classes == list(WNIDS)
    np.testing.assert_array_equal(val.labels, np.repeat(np.arange(3), 3))


def test_empty_class_folder_is_named_with_the_fix(tmp_path):
    tree = write_tree(tmp_path)
    (tree / "train" / "n00000001").mkdir()
    (tree / "train" / "n00000001" / "notes.txt").write_text("not an image")
    with pytest.raises(PrunebenchError) as info:
        load_dataset(data_cfg(tree, tmp_path), "train")
    one_line(info, f"{tree / 'train' / 'n00000001'}/", "hold no images", "remove the empty folder(s) from every split")


# -- unreadable and non-RGB files ------------------------------------------------------------------

def corrupt_one(tree: Path) -> Path:
    """Overwrite one train JPEG with bytes that are no image (a JPEG header, then garbage)."""
    bad = tree / "train" / WNIDS[1] / f"{WNIDS[1]}_1.JPEG"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20)
    return bad


def test_unreadable_jpeg_is_refused_by_default_with_count_and_name(tmp_path):
    tree = write_tree(tmp_path)
    corrupt_one(tree)
    with pytest.raises(PrunebenchError) as info:
        load_dataset(data_cfg(tree, tmp_path), "train")
    one_line(info, f"1 of 9 images under {tree / 'train'} cannot be decoded", f"{WNIDS[1]}/{WNIDS[1]}_1.JPEG",
             "data.unreadable: skip")


def test_unreadable_jpeg_under_skip_is_counted_logged_and_cached(tmp_path, caplog):
    tree = write_tree(tmp_path)
    corrupt_one(tree)
    cfg = data_cfg(tree, tmp_path, unreadable="skip")
    with caplog.at_level(logging.WARNING, logger="prunebench.data.loading"):
        dataset = load_full_split(cfg, "train")
    assert len(dataset) == 8 and np.bincount(dataset.labels).tolist() == [3, 2, 3]
    assert dataset.decode_report["n_skipped"] == 1
    assert dataset.decode_report["skipped"] == [f"{WNIDS[1]}/{WNIDS[1]}_1.JPEG"]
    assert "1 unreadable skipped" in caplog.text and f"{WNIDS[1]}_1.JPEG" in caplog.text
    path = cache_path(cfg, "train", locate_split(cfg, "train"))
    assert "-skipbad-" in path.name
    assert load_full_split(cfg, "train").decode_report == dataset.decode_report  # from the cache


def test_grayscale_and_cmyk_jpegs_are_converted_and_counted(tmp_path, caplog):
    tree = write_tree(tmp_path)
    write_jpeg(tree / "train" / WNIDS[0] / f"{WNIDS[0]}_0.JPEG", mode="L", value=77)
    write_jpeg(tree / "train" / WNIDS[2] / f"{WNIDS[2]}_2.JPEG", mode="CMYK", value=0)
    with caplog.at_level(logging.WARNING, logger="prunebench.data.loading"):
        dataset = load_full_split(data_cfg(tree, tmp_path), "train")
    assert dataset.images.shape == (9, 16, 16, 3)
    assert dataset.decode_report["converted"] == {"CMYK": 1, "L": 1} and dataset.decode_report["n_converted"] == 2
    gray = dataset.images[0].astype(int)
    assert np.abs(gray - 77).max() <= 2 and (gray[..., 0] == gray[..., 2]).all()
    assert "2 non-RGB images converted to RGB" in caplog.text


# -- image size ------------------------------------------------------------------------------------

def test_images_below_image_size_are_refused_for_imagenet(tmp_path):
    tree = write_tree(tmp_path, size=(40, 40))
    write_jpeg(tree / "train" / WNIDS[1] / f"{WNIDS[1]}_0.JPEG", size=(30, 20))
    write_jpeg(tree / "train" / WNIDS[2] / f"{WNIDS[2]}_0.JPEG", size=(24, 36))
    with pytest.raises(PrunebenchError) as info:
        load_dataset(data_cfg(tree, tmp_path, image_size=32), "train")
    one_line(info, "2 of 9 images", "smaller than data.image_size 32", f"smallest {WNIDS[1]}/{WNIDS[1]}_0.JPEG: 30x20",
             "lower data.image_size to at most 20", "data.small_images: upscale")


def test_images_below_image_size_are_upscaled_and_counted_when_asked(tmp_path):
    tree = write_tree(tmp_path, size=(40, 40))
    write_jpeg(tree / "train" / WNIDS[1] / f"{WNIDS[1]}_0.JPEG", size=(30, 20), mode="L")
    dataset = load_full_split(data_cfg(tree, tmp_path, image_size=32, small_images="upscale"), "train")
    assert dataset.images.shape == (9, 32, 32, 3)
    assert dataset.decode_report["n_upscaled"] == 1
    assert dataset.decode_report["converted"] == {"L": 1}  # a small grayscale image is counted as both


def test_a_cache_written_with_upscaling_does_not_bypass_small_images_error(tmp_path):
    tree = write_tree(tmp_path, size=(40, 40))
    write_jpeg(tree / "train" / WNIDS[1] / f"{WNIDS[1]}_0.JPEG", size=(30, 20))
    load_full_split(data_cfg(tree, tmp_path, image_size=32, small_images="upscale"), "train")
    with pytest.raises(PrunebenchError) as info:
        load_full_split(data_cfg(tree, tmp_path, image_size=32, small_images="error"), "train")
    one_line(info, "1 of 9 images", "smaller than data.image_size 32", "data.small_images: upscale")


def test_small_image_policy_defaults_to_error_only_for_imagenet():
    assert small_image_policy({"dataset": "imagenet"}) == "error"
    assert small_image_policy({"dataset": "cifar10"}) == "upscale"
    assert small_image_policy({"dataset": "imagenet", "small_images": "upscale"}) == "upscale"


# -- class balance ---------------------------------------------------------------------------------

def short_class_dataset(tmp_path):
    """Train split with 4, 4 and 1 images in its three classes."""
    tree = write_tree(tmp_path, per_class=4)
    for k in (1, 2, 3):
        (tree / "train" / WNIDS[2] / f"{WNIDS[2]}_{k}.JPEG").unlink()
    return load_full_split(data_cfg(tree, tmp_path), "train")


def test_class_with_fewer_images_than_the_balance_rule_needs_is_refused(tmp_path):
    dataset = short_class_dataset(tmp_path)
    with pytest.raises(PrunebenchError) as info:
        check_class_counts(dataset.labels, dataset.classes, 8, 0.5, what="sweep size N =")
    one_line(info, "1 of 3 classes have fewer train images than sweep size N = 8 needs for class balance 0.5",
             "(2 per class)", f"'{WNIDS[2]}' (1)", "lower sweep.sizes to at most 3", "selection.class_balance: 0")


def test_class_counts_pass_when_every_class_has_its_share_or_balance_is_off(tmp_path):
    dataset = short_class_dataset(tmp_path)
    assert check_class_counts(dataset.labels, dataset.classes, 5, 0.5) is None  # 5 // 3 = 1 per class: enough
    assert check_class_counts(dataset.labels, dataset.classes, 8, 0.0) is None  # no class balance: no floor
    with pytest.raises(PrunebenchError):
        check_class_counts(dataset.labels, dataset.classes, 6, 0.5)  # 2 per class: one class short


def test_the_whole_naturally_imbalanced_train_set_passes_the_balance_check(tmp_path):
    """At N = the whole split nothing is subsampled: each class's floor comes from its own count."""
    dataset = short_class_dataset(tmp_path)
    assert check_class_counts(dataset.labels, dataset.classes, len(dataset), 0.5) is None  # 9 images: 4/4/1


def test_the_data_manifest_records_what_decoding_converted_and_skipped(tmp_path):
    """`data prepare`'s split manifest carries the decode report (converted by mode, skipped by name)."""
    from prunebench.cli.data import split_manifest
    from prunebench.data import with_defaults

    tree = write_tree(tmp_path)
    write_jpeg(tree / "train" / WNIDS[0] / f"{WNIDS[0]}_0.JPEG", mode="L", value=77)
    (tree / "val" / WNIDS[1] / f"{WNIDS[1]}_1.JPEG").write_bytes(b"not a jpeg")
    cfg = with_defaults(data_cfg(tree, tmp_path, unreadable="skip"))
    train, test = split_manifest(cfg, "train"), split_manifest(cfg, "test")
    assert train["decode_report"]["converted"] == {"L": 1} and train["decode_report"]["n_skipped"] == 0
    assert test["decode_report"]["n_skipped"] == 1 and test["size"] == 8
    assert test["decode_report"]["skipped"] == [f"{WNIDS[1]}/{WNIDS[1]}_1.JPEG"]
