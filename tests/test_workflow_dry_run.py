"""Every shipped scale (workflow/config/*.yaml) plans through the project's entry point,
``python -m prunebench workflow --config <scale> -- -n``, in an empty directory: nothing is made yet,
so every job of the scale is planned, and the plan's job counts match what the config asks for.

Nothing reads a dataset when the workflow is parsed (the data stage is the ``data_prepare`` job), so
the dry runs point ``PRUNEBENCH_DATA`` at an empty folder: a scale whose data this machine lacks still
plans. The imagenet scale's self-supervised prototypes need a local encoder checkpoint to parse
(``metrics.ssl-prototypes.checkpoint``); an empty placeholder stands in for it. Each dry run takes
seconds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prunebench.config import SCALES, load_config
from prunebench.provenance import REPO_ROOT
from prunebench.sweep.plan import plan_points, sweep_settings
from prunebench.sweep.shard import chunk_plan


def required_cores(config: dict) -> int:
    """The --cores a scale needs: its largest configured thread count (fewer stops the parse)."""
    return max((config.get(section) or {}).get("threads") or 1 for section in ("probe", "sweep"))


def planned_jobs(output: str) -> dict[str, int]:
    """Job counts per rule from a dry run's ``Job stats`` table."""
    assert "Job stats:" in output, output[-3000:]
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def expected_sweep_jobs(config: dict) -> dict[str, int]:
    """The sweep jobs the plan needs: one per point, or one per shard with ``sweep.shard_size`` set."""
    points = plan_points(config) if config.get("sweep") else []
    shard_size = sweep_settings(config)["shard_size"]
    if points and shard_size:
        return {f"sweep_shard_{i}": 1 for i in range(len(chunk_plan(points, shard_size)))}
    return {"sweep_point": len(points)} if points else {}


@pytest.fixture(scope="module")
def empty_workdir(tmp_path_factory):
    """A directory holding only the workflow (Snakefile, workflow/, src/ by symlink), no results."""
    workdir = tmp_path_factory.mktemp("dry-run")
    for name in ("Snakefile", "workflow", "src"):
        (workdir / name).symlink_to(REPO_ROOT / name)
    return workdir


def dry_run(scale: str, workdir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """``python -m prunebench workflow --config <scale> -- -n`` in ``workdir``, without any data."""
    (tmp_path / "data").mkdir()
    checkpoint = tmp_path / "ssl.pt"
    torch.save({}, checkpoint)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "PRUNEBENCH_DATA": str(tmp_path / "data"),
           "PRUNEBENCH_SSL_CHECKPOINT": str(checkpoint), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "prunebench", "workflow", "--config", scale, "--directory", str(workdir),
               "--cores", str(required_cores(load_config(scale))), "--", "-n", "--nolock"]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("scale", SCALES)
def test_every_shipped_scale_plans(scale, empty_workdir, tmp_path):
    config = load_config(scale)
    proc = dry_run(scale, empty_workdir, tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    jobs = planned_jobs(output)
    assert jobs["all"] == 1 and jobs["data_prepare"] == 1, jobs
    assert jobs.get("metrics_compute", 0) == len((config.get("metrics") or {}).get("names") or []), jobs
    sweep_jobs = {rule: n for rule, n in jobs.items() if rule == "sweep_point" or rule.startswith("sweep_shard_")}
    assert sweep_jobs == expected_sweep_jobs(config), jobs
    assert {"theory_curves", "theory_figures"} <= set(jobs), jobs
    if config.get("task") == "retrieval":  # no scaling stage, yet a headline (headline build --refit)
        assert jobs.get("headline_build") == 1 and "scaling_fit" not in jobs, jobs
