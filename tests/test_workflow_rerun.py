"""Issue 11 items 2-3: a changed setting reruns exactly the jobs that depend on it (rule params carry
``prunebench.provenance.stage_hash``), thread counts are part of that identity, and a config whose
threads exceed --cores stops at parse time with one line.

Each test builds a throw-away workflow directory (the repository's Snakefile, workflow/ and src/ by
symlink), marks every output of the smoke config as made (``--touch`` records the params Snakemake
compares) and dry-runs (``snakemake -n``) edited copies of the config: nothing is trained."""

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prunebench.provenance import REPO_ROOT

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _snakemake(workdir: Path, config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "PRUNEBENCH_PYTHON": sys.executable}
    proc = subprocess.run([*SNAKEMAKE, "--configfile", str(config), *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _write_config(workdir: Path, name: str, edit=None) -> Path:
    config = yaml.safe_load((REPO_ROOT / "workflow/config/smoke.yaml").read_text())
    if edit:
        edit(config)
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def made_workflow(tmp_path_factory):
    """A workflow directory whose smoke outputs all exist and are recorded as made by the smoke config."""
    workdir = tmp_path_factory.mktemp("workflow")
    for name in ("Snakefile", "workflow", "src"):
        (workdir / name).symlink_to(REPO_ROOT / name)
    config = _write_config(workdir, "smoke")
    _snakemake(workdir, config, "--cores", "2", "--touch", "-q")  # metadata (params) of every job's outputs
    for encoded in (workdir / ".snakemake" / "metadata").iterdir():
        output = workdir / base64.b64decode(encoded.name.replace("@", "/")).decode()
        output.parent.mkdir(parents=True, exist_ok=True)
        output.touch()
    _snakemake(workdir, config, "--cores", "2", "--touch", "-q")  # now in dependency order of mtimes
    return workdir, config


def _planned(workdir: Path, config: Path) -> dict:
    """Job counts per rule of a dry run (the ``job  count`` table)."""
    out = _snakemake(workdir, config, "-n", "--cores", "2").stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("job ", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def test_unchanged_config_plans_nothing(made_workflow):
    workdir, config = made_workflow
    assert _planned(workdir, config) == {}


def test_metric_setting_reruns_that_metric_and_what_reads_it(made_workflow):
    workdir, _ = made_workflow
    config = _write_config(workdir, "el2n-k3", lambda c: c["metrics"]["el2n"].update(ensemble_size=3))
    planned = _planned(workdir, config)
    assert planned.get("metrics_compute") == 1, planned  # el2n only, not the 12 other metrics
    assert planned.get("metrics_correlations") == 1
    assert "theory_curves" not in planned and "data_prepare" not in planned


def test_probe_setting_reruns_every_score_and_point(made_workflow):
    workdir, _ = made_workflow
    config = _write_config(workdir, "probe-lr", lambda c: c["probe"].update(lr=0.1))
    planned = _planned(workdir, config)
    assert planned.get("metrics_compute") == 13 and planned.get("sweep_scores") == 3, planned
    assert planned.get("sweep_point") == 3, planned  # the 3 el2n points read rescored tables; random and f=1 do not
    assert "theory_curves" not in planned


def test_sweep_recipe_setting_reruns_every_point_not_the_scores(made_workflow):
    workdir, _ = made_workflow
    config = _write_config(workdir, "sweep-lr", lambda c: c["sweep"]["train"].update(lr=0.1))
    planned = _planned(workdir, config)
    assert planned.get("sweep_point") == 9 and "metrics_compute" not in planned and "sweep_scores" not in planned, planned


def test_sweep_threads_are_part_of_the_points_identity(made_workflow):
    workdir, _ = made_workflow
    config = _write_config(workdir, "two-threads", lambda c: c["sweep"].update(threads=2))
    planned = _planned(workdir, config)
    assert planned.get("sweep_point") == 9 and "metrics_compute" not in planned, planned


def test_jobs_pass_the_configured_thread_count(made_workflow):
    workdir, _ = made_workflow
    config = _write_config(workdir, "two-threads-p", lambda c: c["sweep"].update(threads=2))
    out = _snakemake(workdir, config, "-n", "-p", "--cores", "2", "--forcerun", "sweep_point").stdout
    assert out.count("--threads 2 ") == 9, out[-2000:]


def test_threads_above_cores_stop_at_parse_time(made_workflow):
    workdir, _ = made_workflow
    config = _write_config(workdir, "four-threads", lambda c: c["probe"].update(threads=4))
    proc = _snakemake(workdir, config, "-n", "--cores", "2", check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: probe.threads=4 but Snakemake may use only 2 core(s)"), proc.stderr
    assert "--cores 4" in lines[-1]


def test_sweep_size_above_the_train_set_stops_the_dry_run(made_workflow):
    workdir, _ = made_workflow
    config = _write_config(workdir, "too-big", lambda c: c["sweep"].update(sizes=[200, 4000]))
    proc = _snakemake(workdir, config, "-n", "--cores", "2", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: invalid config") and "sweep.sizes [4000]" in proc.stderr
