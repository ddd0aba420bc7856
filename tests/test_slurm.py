"""The SLURM path: the profile's resources per rule, and the smoke workflow on a real SLURM cluster.

Fast tests (no cluster): read workflow/profiles/slurm/config.yaml and the dry-run plan of each scale
through it, and turn every planned job into the `sbatch` line snakemake-executor-plugin-slurm would
submit (its own get_submit_command / set_gres_string): training jobs go to the `gpu` partition with
the GPU requested exactly once, everything else to `cpu` with no GPU, and every job's
`--cpus-per-task` equals the threads it runs with (`--threads` / `--workers` in its command).

Cluster test (marker `slurm`): runs the smoke workflow through workflow/profiles/slurm-local on the
one-node cluster of .ci/slurm/start.sh and locally, each in its own copy of the working tree, and
checks that the score tables and sweep accuracies are bit-identical. Without a cluster it skips,
saying so; with PRUNEBENCH_SLURM=1 (CI) a missing cluster fails it instead.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
TRAINING_RULES = {"metrics_compute", "metrics_models", "sweep_scores", "sweep_point"}  # probe / model training: the GPU jobs
CPU_JOB_MAX_MEM_MB = 8000
THREAD_OPTION = re.compile(r"--(?:threads|workers) (\d+)")


class JobResources(dict):
    """A planned job's resources, readable as attributes like Snakemake's (what the plugin uses)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as missing:
            raise AttributeError(name) from missing


def parse_resource_value(text: str):
    """``'2000'`` -> 2000; any other text unchanged (partitions, ``<TBD>`` disk sizes)."""
    return int(text) if re.fullmatch(r"-?\d+", text) else text


@functools.cache
def dry_run_plan(profile: str, config: str) -> dict[str, list[dict]]:
    """Jobs of ``snakemake -n --forceall --profile <profile>`` per rule: threads, resources and shell
    command (``--forceall``: the whole workflow, whatever outputs this checkout already has).

    The imagenet scale refuses to plan without its SSL encoder weights: a placeholder file stands in
    (only planned, never loaded)."""
    placeholder = Path(tempfile.gettempdir()) / "prunebench-test-ssl-encoder.pt"
    placeholder.write_bytes(b"placeholder")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PRUNEBENCH_SSL_CHECKPOINT": str(placeholder)}
    completed = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--forceall", "--profile", profile, "--configfile", config],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    plan: dict[str, list[dict]] = {}
    for block in completed.stdout.split("\n\n"):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        if not rule or not resources:
            continue
        threads = re.search(r"^\s+threads: (\d+)$", block, re.M)
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        pairs = (item.split("=", 1) for item in resources.group(1).split(", "))
        plan.setdefault(rule.group(1), []).append({
            "threads": int(threads.group(1)) if threads else 1,
            "resources": JobResources({key: parse_resource_value(value) for key, value in pairs}),
            "shell": shell.group(1) if shell else "",
        })
    return plan


def sbatch_line(rule: str, job: dict) -> str:
    """The sbatch call the SLURM executor plugin builds for this planned job (account left out)."""
    resources = job["resources"]
    plugin_job = SimpleNamespace(resources=resources, threads=job["threads"], name=rule)
    partition = f" -p {resources['slurm_partition']}" if resources.get("slurm_partition") else ""
    params = {"run_uuid": "test", "slurm_logfile": "test.log", "comment_str": rule,
              "account": "", "partition": partition, "workdir": ""}
    return get_submit_command(plugin_job, params) + set_gres_string(plugin_job)


def gpu_requests(sbatch: str) -> int:
    """How many times an sbatch line asks for a GPU (--gpus, --gres=gpu, --gpus-per-*)."""
    return len(re.findall(r"--gpus(?:-per-\w+)?[=\s]|--gres[=\s]\S*gpu", sbatch))


def cpus_per_task(sbatch: str) -> int:
    return int(re.search(r"--cpus-per-task=(\d+)", sbatch).group(1))


def partition_of(sbatch: str) -> str:
    return re.search(r" -p (\S+)", sbatch).group(1)


def test_profile_sets_no_empty_account_and_no_gpu_flags_outside_the_gpu_resource():
    profile = yaml.safe_load(PROFILE.read_text())
    sections = [profile.get("default-resources") or {}, *(profile.get("set-resources") or {}).values()]
    for resources in sections:
        assert resources.get("slurm_account", "unset") not in ("", None), "an empty account is sent as -A ''"
        assert "gres" not in resources and "gpu" not in str(resources.get("slurm_extra", "")), resources
    assert "cpus_per_task" not in str(profile), "cpus_per_task would override the threads the job runs with"


@pytest.mark.parametrize("config", ["cifar10", "imagenet", "smoke"])
def test_every_planned_job_gets_the_resources_its_rule_needs(config):
    plan = dry_run_plan("workflow/profiles/slurm", f"workflow/config/{config}.yaml")
    assert TRAINING_RULES & set(plan), f"no training jobs planned at the {config} scale"
    for rule, jobs in plan.items():
        for job in jobs:
            sbatch = sbatch_line(rule, job)
            assert cpus_per_task(sbatch) == job["threads"], (rule, sbatch)
            ran_with = THREAD_OPTION.search(job["shell"])
            if ran_with:  # the command's own thread option: what the job really runs with
                assert int(ran_with.group(1)) == job["threads"], (rule, job["shell"])
            if rule in TRAINING_RULES or rule.startswith("sweep_shard_"):
                assert partition_of(sbatch) == "gpu" and gpu_requests(sbatch) == 1, (rule, sbatch)
            elif rule != "all":
                assert partition_of(sbatch) == "cpu" and gpu_requests(sbatch) == 0, (rule, sbatch)
                assert job["resources"]["mem_mb"] <= CPU_JOB_MAX_MEM_MB, (rule, job["resources"])


def test_shard_jobs_go_where_the_profile_sends_sweep_points(tmp_path):
    """With sweep.shard_size > 0 the sweep runs as rules sweep_shard_<i>, which the profile cannot
    name: they take sweep_point's set-resources (the gpu partition, one GPU) from it."""
    config = yaml.safe_load((REPO / "workflow/config/imagenet.yaml").read_text())
    config["sweep"]["shard_size"] = 16
    path = tmp_path / "imagenet-sharded.yaml"
    path.write_text(yaml.safe_dump(config))
    plan = dry_run_plan("workflow/profiles/slurm", str(path))
    shards = {rule: jobs for rule, jobs in plan.items() if rule.startswith("sweep_shard_")}
    assert shards and "sweep_point" not in plan
    for rule, jobs in shards.items():
        sbatch = sbatch_line(rule, jobs[0])
        assert partition_of(sbatch) == "gpu" and gpu_requests(sbatch) == 1, (rule, sbatch)
        assert jobs[0]["resources"]["mem_mb"] == config["sweep"]["resources"]["mem_mb"]


def test_cifar10_plan_runs_the_configured_threads_not_the_dry_run_default():
    """Snakemake caps threads at --cores (1 in a dry run unless the profile sets it)."""
    plan = dry_run_plan("workflow/profiles/slurm", "workflow/config/cifar10.yaml")
    config = yaml.safe_load((REPO / "workflow/config/cifar10.yaml").read_text())
    assert {job["threads"] for job in plan["sweep_point"]} == {config["sweep"]["threads"]}
    assert {job["threads"] for job in plan["theory_curves"]} == {config["theory"]["workers"]}


def test_local_test_profile_is_the_real_one_without_gpus():
    """slurm-local inherits every resource of slurm; only the GPU jobs move to cpu with gpu=0."""
    real = dry_run_plan("workflow/profiles/slurm", "workflow/config/smoke.yaml")
    local = dry_run_plan("workflow/profiles/slurm-local", "workflow/config/smoke.yaml")
    assert real.keys() == local.keys()
    for rule in real:
        for real_job, local_job in zip(real[rule], local[rule], strict=True):
            expected = dict(real_job["resources"])
            if rule in TRAINING_RULES or rule.startswith("sweep_shard_"):
                expected.update(slurm_partition="cpu", gpu=0)
            assert dict(local_job["resources"]) == expected, rule
            assert local_job["threads"] == real_job["threads"], rule
            assert gpu_requests(sbatch_line(rule, local_job)) == 0, rule


# --- the smoke workflow on the one-node cluster of .ci/slurm/start.sh ------------------------------

SMOKE = "workflow/config/smoke.yaml"
COPY_EXCLUDED = ("results/", "figures/", "logs/", ".snakemake/")


def cluster_problem() -> str | None:
    """Why the test cluster cannot take jobs (None when sinfo shows a usable node and sacct answers)."""
    if shutil.which("sinfo") is None or shutil.which("sacct") is None:
        return "sinfo/sacct not installed"
    try:
        nodes = subprocess.run(["sinfo", "-h", "-p", "cpu", "-o", "%t"], capture_output=True, text=True, timeout=20)
        accounting = subprocess.run(["sacct", "-n", "-X", "-S", "now"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo/sacct did not answer within 20 s"
    if nodes.returncode != 0 or not re.search(r"idle|mix|alloc", nodes.stdout):
        return f"no usable node in partition cpu ({(nodes.stdout + nodes.stderr).strip() or 'sinfo gave nothing'})"
    if accounting.returncode != 0:
        return f"sacct does not answer: {accounting.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def slurm_cluster():
    problem = cluster_problem()
    if problem is None:
        return
    message = f"SLURM test cluster not up: {problem}; start it with `.ci/slurm/start.sh` (as root)"
    if os.environ.get("PRUNEBENCH_SLURM") == "1":
        pytest.fail(message + " (PRUNEBENCH_SLURM=1: CI must run this test)")
    pytest.skip(message)


def copy_working_tree(destination: Path) -> Path:
    """The working tree's tracked and unignored files, without any outputs, under ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout.split("\0")
    for relative in filter(None, listed):
        source = REPO / relative
        if relative.startswith(COPY_EXCLUDED) or not source.is_file():
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return destination


def run_smoke(workdir: Path, snakemake_args: list[str]) -> tuple[float, int]:
    """Run the smoke workflow in ``workdir`` on that copy's code: (wall seconds, jobs it ran)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(workdir / "src"),  # the copy's package, not the live tree others may edit
        "PRUNEBENCH_CACHE": os.environ.get("PRUNEBENCH_CACHE", str(REPO / ".cache" / "prunebench")),
        "PRUNEBENCH_DATA": os.environ.get("PRUNEBENCH_DATA", str(REPO.parent / "shared" / "data")),
        "MPLBACKEND": "Agg",
    }
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-m", "snakemake", "--configfile", SMOKE, *snakemake_args],
                               cwd=workdir, env=env, capture_output=True, text=True, timeout=3600)
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    total = re.search(r"^total\s+(\d+)$", completed.stdout + completed.stderr, re.M)
    return time.monotonic() - started, int(total.group(1))


def completed_slurm_jobs_since(start: str) -> dict[str, int]:
    """COMPLETED jobs in the accounting since ``start``, counted per job name (one name per run)."""
    listed = subprocess.run(["sacct", "-n", "-X", "-P", "-S", start, "-o", "JobName,State"],
                            capture_output=True, text=True, check=True, timeout=60).stdout
    counts: dict[str, int] = {}
    for line in filter(None, listed.splitlines()):
        name, state = line.split("|")
        if state == "COMPLETED":
            counts[name] = counts.get(name, 0) + 1
    return counts


def score_tables(results: Path) -> dict[str, pd.DataFrame]:
    return {str(path.relative_to(results)): pd.read_parquet(path, columns=["example_id", "score"])
            for path in sorted(results.rglob("scores/**/*.parquet"))}


def sweep_accuracies(results: Path) -> pd.DataFrame:
    sweep = pd.read_parquet(results / "sweep.parquet")
    keys = [column for column in ("protocol", "n", "metric", "keep", "fraction_kept", "seed") if column in sweep]
    accuracy = [column for column in sweep.columns if "accuracy" in column]
    assert keys and accuracy, list(sweep.columns)
    return sweep[keys + accuracy].sort_values(keys).reset_index(drop=True)


@pytest.mark.slurm
def test_smoke_workflow_through_slurm_equals_the_local_run(slurm_cluster, tmp_path):
    snapshot = copy_working_tree(tmp_path / "snapshot")
    local_tree = shutil.copytree(snapshot, tmp_path / "local")
    slurm_tree = shutil.copytree(snapshot, tmp_path / "slurm")
    # locally only what is compared (every score table, the sweep); through SLURM the whole workflow
    local_s, _ = run_smoke(local_tree, ["--cores", "2", "--profile", "workflow/profiles/local",
                                        "--until", "metrics_correlations", "sweep_aggregate"])
    submitted_from = time.strftime("%Y-%m-%dT%H:%M:%S")
    slurm_s, slurm_jobs = run_smoke(slurm_tree, ["--profile", "workflow/profiles/slurm-local"])
    print(f"smoke workflow: local {local_s:.0f} s, through SLURM {slurm_s:.0f} s ({slurm_jobs} jobs)")
    # every job but the target rule `all` (run in the main process) went through sbatch and finished
    assert sorted(completed_slurm_jobs_since(submitted_from).values())[-1:] == [slurm_jobs - 1]

    local_results, slurm_results = local_tree / "results" / "smoke", slurm_tree / "results" / "smoke"
    local_scores, slurm_scores = score_tables(local_results), score_tables(slurm_results)
    assert local_scores and local_scores.keys() == slurm_scores.keys()
    for name, table in local_scores.items():
        np.testing.assert_array_equal(table["example_id"], slurm_scores[name]["example_id"], err_msg=name)
        np.testing.assert_array_equal(table["score"], slurm_scores[name]["score"], err_msg=name)
    pd.testing.assert_frame_equal(sweep_accuracies(local_results), sweep_accuracies(slurm_results), check_exact=True)
