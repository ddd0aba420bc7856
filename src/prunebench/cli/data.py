"""``python -m prunebench data prepare|info --config CFG``: cache a config's datasets, or say where they are."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="decode and cache a config's datasets; show where they come from",
                                   description=__doc__.splitlines()[0])
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION", required=True)
    prepare = actions.add_parser("prepare", help="decode+cache train and test, write the manifest JSON")
    prepare.add_argument("--config", default="ci", help="scale name or YAML path (default ci)")
    prepare.add_argument("--out", help="manifest path (default results/<name>/data/manifest.json)")
    prepare.set_defaults(func=run_prepare)
    info = actions.add_parser("info", help="print the data root, dataset folder, format and cache state")
    info.add_argument("--config", default="ci", help="scale name or YAML path (default ci)")
    info.set_defaults(func=run_info)


def split_manifest(data_cfg: dict, split: str) -> dict:
    """Load (decoding once) one split and describe it, with what decoding found (``decode_report``:
    non-RGB images converted, by mode; images upscaled; unreadable files skipped, by name; empty for
    the torchvision/numpy formats), so a converted or skipped image is in the committed manifest,
    not only in a log."""
    from prunebench.data import cache_path, load_full_split, locate_split, subsample_split

    full = load_full_split(data_cfg, split, verify="full")  # the one job that re-hashes every pixel
    dataset = subsample_split(full, data_cfg)
    return dict(
        size=len(dataset), full_size=len(full), checksum=full.checksum, source=full.source,
        cache=str(cache_path(data_cfg, split, locate_split(data_cfg, split))),
        image_shape=list(full.images.shape[1:]), class_counts=dataset.class_counts().tolist(),
        ids_sha256=_ids_hash(dataset.ids), classes=full.classes, decode_report=dict(full.decode_report or {}),
    )


def _ids_hash(ids) -> str:
    import hashlib

    import numpy as np

    return hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()[:16]


def run_prepare(args: argparse.Namespace) -> int:
    from prunebench.config import load_config, results_dir
    from prunebench.data import with_defaults
    from prunebench.provenance import code_version, config_hash

    config = load_config(args.config)
    if (config.get("task") or "image-classification") != "image-classification":
        return _prepare_task_splits(config, args)
    data_cfg = with_defaults(config["data"])
    splits = {split: split_manifest(data_cfg, split) for split in ("train", "test")}
    classes = [info.pop("classes") for info in splits.values()][0]
    manifest = dict(name=config["name"], dataset=data_cfg["dataset"], classes=classes,
                    splits=splits, data_config=data_cfg, config_hash=config_hash(config["data"]),
                    code_version=code_version())
    out = Path(args.out) if args.out else results_dir(config) / "data" / "manifest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    for split, info in splits.items():
        log.info("%s %s: %d of %d images, %s, cache %s", data_cfg["dataset"], split, info["size"], info["full_size"],
                 info["checksum"][:19], info["cache"])
    log.info("wrote %s", out)
    return 0


def _prepare_task_splits(config: dict, args: argparse.Namespace) -> int:
    """Another task's manifest: each of its splits loaded through ``Task.load_split`` (size, checksum,
    ids hash, and the stratum counts of ``Task.strata``); a split the task lacks is left out."""
    from prunebench.config import results_dir
    from prunebench.errors import PrunebenchError
    from prunebench.provenance import code_version, config_hash
    from prunebench.tasks import task_of_config

    import numpy as np

    task, splits = task_of_config(config), {}
    for split in getattr(task, "splits", ("train", "test")):
        try:
            examples = task.load_split(config["data"], split)
        except PrunebenchError:
            if split in ("train", "test"):
                raise
            continue
        strata = task.strata(examples)
        splits[split] = dict(size=len(examples), checksum=examples.checksum, ids_sha256=_ids_hash(examples.ids),
                             strata_counts=None if strata is None else np.bincount(np.asarray(strata)).tolist())
        log.info("%s %s: %d examples, %s", task.name, split, len(examples), examples.checksum[:19])
    manifest = dict(name=config["name"], task=task.name, splits=splits, data_config=config["data"],
                    config_hash=config_hash(config["data"]), code_version=code_version())
    out = Path(args.out) if args.out else results_dir(config) / "data" / "manifest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    log.info("wrote %s", out)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from prunebench.config import load_config
    from prunebench.data import cache_path, data_root, dataset_dir, locate_split, with_defaults

    data_cfg = with_defaults(load_config(args.config)["data"])
    print(f"dataset:     {data_cfg['dataset']}")
    print(f"data root:   {data_root(data_cfg)}")
    print(f"folder:      {dataset_dir(data_cfg)}")
    for split in ("train", "test"):
        source = locate_split(data_cfg, split)
        path = cache_path(data_cfg, split, source)
        size = data_cfg[f"{split}_size"] or "all"
        state = "cached" if path.exists() else "not cached (run: python -m prunebench data prepare)"
        print(f"{split + ':':<12} {source.format} at {source.directory}, size {size}; {state} {path}")
    return 0
