"""The ImageNet-1k run on a cluster, planned: ``snakemake -n`` of the ``imagenet`` config through the
SLURM profile against a synthetic ImageFolder tree of ImageNet-1k's shape.

The tree has ImageNet-1k's 1,000 ``n<8 digits>`` class folders in ``train/`` and ``val/`` with one
tiny JPEG each; the config is workflow/config/imagenet.yaml with ``data.path`` pointed at it and the
ImageNet-1k sweep sizes its comment names (320,000 / 640,000 / 1,281,167), nothing else changed.
The plan must hold every stage, and every job the resources its rule needs: training jobs
(metric scores, subset scores, sweep points) one GPU on the ``gpu`` partition with the config's
memory and time, everything else the ``cpu`` partition and no GPU. Planning reads no image; the
loader's scan of the tree (class folders, val = train classes) is checked alongside.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml
from PIL import Image

from prunebench.data import locate_split
from prunebench.sweep.plan import plan_points
from test_slurm import REPO, dry_run_plan, gpu_requests, partition_of, sbatch_line

IMAGENET_1K = {"classes": 1000, "train": 1_281_167, "val": 50_000}
SIZES = [320000, 640000, 1281167]  # imagenet.yaml's suggestion for ImageNet-1k
TRAINING_COMMANDS = re.compile(r"-m prunebench (metrics compute|metrics models|sweep scores|sweep point|sweep shard) ")
STAGES = {"data_prepare", "metrics_compute", "metrics_models", "metrics_correlations", "sweep_scores", "sweep_point", "sweep_aggregate",
          "scaling_fit", "figures_empirical", "headline_build", "theory_curves", "all"}


def write_imagenet_tree(root, n_classes: int = IMAGENET_1K["classes"]):
    """``root/train|val/n<8 digits>/<wnid>_0.JPEG``: one 8x8 JPEG per class and split (ImageNet's layout)."""
    pixels = Image.fromarray(np.full((8, 8, 3), 128, dtype=np.uint8))
    for split in ("train", "val"):
        for k in range(n_classes):
            folder = root / split / f"n{1440764 + k:08d}"
            folder.mkdir(parents=True)
            pixels.save(folder / f"{folder.name}_0.JPEG", format="JPEG")
    return root


@pytest.fixture(scope="module")
def imagenet_1k(tmp_path_factory):
    """(config path, config) of imagenet.yaml on a synthetic ImageNet-1k-shaped tree at its sizes."""
    tree = write_imagenet_tree(tmp_path_factory.mktemp("ilsvrc2012"))
    config = yaml.safe_load((REPO / "workflow/config/imagenet.yaml").read_text())
    config["data"]["path"] = str(tree)
    config["sweep"]["sizes"] = SIZES
    path = tmp_path_factory.mktemp("config") / "imagenet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, config


@pytest.fixture(scope="module")
def plan(imagenet_1k):
    return dry_run_plan("workflow/profiles/slurm", str(imagenet_1k[0]))


def test_the_loader_scans_the_synthetic_tree_as_imagenet_1k(imagenet_1k):
    data = imagenet_1k[1]["data"]
    train, val = locate_split(data, "train"), locate_split(data, "test")  # val: its classes checked against train
    assert len(train.classes) == len(val.classes) == IMAGENET_1K["classes"] and val.directory.name == "val"


def test_the_plan_has_every_stage_and_one_job_per_metric_table_and_point(plan, imagenet_1k):
    config = imagenet_1k[1]
    assert STAGES <= set(plan), sorted(STAGES - set(plan))
    assert len(plan["metrics_compute"]) == len(config["metrics"]["names"])
    non_random = [m for m in config["sweep"]["metrics"] if m != "random"]
    assert len(plan["sweep_scores"]) == len(non_random) * len(SIZES) * len(config["sweep"]["seeds"])
    assert len(plan["sweep_point"]) == len(plan_points(config))
    assert {int(n) for n in re.findall(r"--size (\d+)", " ".join(j["shell"] for j in plan["sweep_point"]))} == set(SIZES)


def test_training_jobs_get_one_gpu_and_the_configured_memory_and_time(plan, imagenet_1k):
    config = imagenet_1k[1]
    wanted = {"metrics compute": config["metrics"]["resources"], "metrics models": config["metrics"]["resources"],
              "sweep scores": config["metrics"]["resources"],
              "sweep point": config["sweep"]["resources"], "sweep shard": config["sweep"]["resources"]}
    jobs = [(rule, job) for rule, rule_jobs in plan.items() for job in rule_jobs if TRAINING_COMMANDS.search(job["shell"])]
    assert len(jobs) >= len(plan["sweep_point"]) + len(plan["metrics_compute"])
    for rule, job in jobs:
        sbatch, resources = sbatch_line(rule, job), job["resources"]
        configured = wanted[TRAINING_COMMANDS.search(job["shell"]).group(1)]
        assert partition_of(sbatch) == "gpu" and gpu_requests(sbatch) == 1, (rule, sbatch)
        assert (resources["mem_mb"], resources["runtime"]) == (configured["mem_mb"], configured["runtime"]), rule


def test_every_other_job_runs_on_cpu_with_memory_and_time_set(plan):
    for rule, jobs in plan.items():
        for job in jobs:
            if rule == "all" or TRAINING_COMMANDS.search(job["shell"]):
                continue
            sbatch = sbatch_line(rule, job)
            assert partition_of(sbatch) == "cpu" and gpu_requests(sbatch) == 0, (rule, sbatch)
            assert job["resources"]["mem_mb"] > 0 and job["resources"]["runtime"] > 0, (rule, job["resources"])


# docs/imagenet.md, "GPU-hours per stage": one run of the config's 16-epoch recipe on all of
# ImageNet-1k is 1.33 GPU-h on an H100; an outcome pass over the train split 0.04 GPU-h.
RUN_GPU_H, OUTCOME_PASS_GPU_H = 1.33, 0.04


def test_subset_models_are_spread_over_jobs_that_fit_the_time_limit(plan, imagenet_1k):
    """memorization's 1,000 and influence's 2 x 1,000 subset models run as ``metrics_models`` chunk
    jobs (``metrics.models_per_job``), each within the score jobs' runtime; the metric jobs train none."""
    from prunebench.metrics.chunks import chunked_sets

    config = imagenet_1k[1]
    sets = chunked_sets(config)
    assert {key: entry["models"] for key, entry in sets.items()} == {"subsample": 1000, "influence": 2000}
    assert len(plan["metrics_models"]) == sum(entry["chunks"] for entry in sets.values())
    ratio, per_job = config["metrics"]["subsample"]["ratio"], config["metrics"]["models_per_job"]
    # a memorization model sees `ratio` of the train set; an influence model `ratio` of the other fold (half)
    share = {"subsample": ratio, "influence": ratio / 2}
    limit_h = config["metrics"]["resources"]["runtime"] / 60
    for job in plan["metrics_models"]:
        key = re.search(r"--model-set (\S+)", job["shell"]).group(1)
        hours = per_job * (share[key] * RUN_GPU_H + OUTCOME_PASS_GPU_H)
        assert hours <= limit_h and job["resources"]["runtime"] / 60 == limit_h, (key, hours, limit_h)
    memorization_job = next(j for j in plan["metrics_compute"] if "--metric memorization " in j["shell"])
    assert memorization_job["resources"]["runtime"] / 60 == limit_h


def test_the_decoded_imagenet_1k_split_fits_in_each_job_that_loads_it(plan, imagenet_1k):
    """ImageNet-1k's 193 GB of decoded train pixels never sit in a job's memory: ``data_prepare``
    streams them into the cache (prunebench.data.loading.decode_to_cache: one decoding chunk per
    worker) and every later job maps the cache (lazy row views, host-resident batches), holding
    ~24 bytes per image (labels, ids, a row index) plus its batches. Each job's mem_mb must cover
    that, and memorization's job its 1,000 x N outcome matrix (float64, stacked once)."""
    from types import SimpleNamespace

    from prunebench.data import loading, sources

    config = imagenet_1k[1]
    side, n_train = config["data"]["image_size"], IMAGENET_1K["train"]
    image_bytes = side * side * 3
    split = SimpleNamespace(format="imagefolder", files=[None] * n_train)
    assert n_train * image_bytes > 190e9 and loading.streams_to_disk(loading.with_defaults(config["data"]), split)
    workers = 8  # data.workers null = min(cores, 8)
    need_mb = {
        "data_prepare": (2 * workers * sources.DECODE_CHUNK * image_bytes + loading.STREAM_BLOCK_BYTES
                         + 24 * n_train) / 1e6,
        "sweep_point": (24 * n_train + 4 * config["probe"]["batch_size"] * image_bytes) / 1e6,
        "sweep_scores": (24 * n_train + 4 * config["probe"]["batch_size"] * image_bytes) / 1e6,
        "metrics_compute": (2 * 8 * config["metrics"]["subsample"]["models"] * n_train) / 1e6,
    }
    for rule, mb in need_mb.items():
        granted = min(job["resources"]["mem_mb"] for job in plan[rule])
        assert mb <= granted, f"{rule}: needs ~{mb:.0f} MB, gets {granted} MB"
