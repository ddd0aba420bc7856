"""Metrics declare the per-example outputs they need; a metric the config's task cannot record is
refused in one line when the config is read (``load_config``) and when the workflow is parsed
(``snakemake -n``), before any job runs. The task here is a throw-away one that records only the loss."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prunebench.config import load_config
from prunebench.errors import PrunebenchError
from prunebench.provenance import REPO_ROOT
from prunebench.tasks import unregister_task

# Registers the task in a process (the pytest process by exec, Snakemake's through sitecustomize).
LOSS_ONLY_TASK = '''
from prunebench.tasks import register_task
from prunebench.tasks.image_classification import ImageClassification


class LossOnly(ImageClassification):
    """Image classification that records only the per-example loss."""

    outputs = frozenset({"loss"})


register_task("loss-only")(LossOnly)
'''
REFUSAL = "metric 'el2n' needs per-example probabilities, which task 'loss-only' does not record"


@pytest.fixture
def loss_only_task():
    """The throw-away task, registered for one test."""
    exec(LOSS_ONLY_TASK, {})
    yield "loss-only"
    unregister_task("loss-only")


def _smoke_config(tmp_path: Path, names: list[str]) -> Path:
    """The smoke scale run by the loss-only task with ``metrics.names`` = ``names``, as a YAML file."""
    config = yaml.safe_load((REPO_ROOT / "workflow/config/smoke.yaml").read_text())
    config["task"] = "loss-only"
    config["metrics"]["names"] = names
    config["sweep"]["metrics"] = [m for m in config["sweep"].get("metrics") or [] if m in names]
    path = tmp_path / f"loss-only-{len(names)}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_load_config_refuses_a_metric_the_task_cannot_serve(loss_only_task, tmp_path):
    assert load_config(_smoke_config(tmp_path, ["random", "loss"]))["task"] == loss_only_task
    with pytest.raises(PrunebenchError) as err:
        load_config(_smoke_config(tmp_path, ["random", "loss", "el2n"]))
    message = str(err.value)
    assert message.startswith("invalid config ") and REFUSAL in message and "\n" not in message
    assert "drop 'el2n' from metrics.names" in message


def test_snakemake_parse_refuses_a_metric_the_task_cannot_serve(tmp_path):
    """The real workflow, dry-run: the refusal is the last stderr line, exit status 2, no traceback."""
    snakemake = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")
    if snakemake is None:
        pytest.skip("snakemake is not installed in this environment")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(LOSS_ONLY_TASK)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT / "src")])}
    outcomes = {}
    for names in (["random", "loss"], ["random", "loss", "el2n"]):
        outcomes[len(names)] = subprocess.run(
            [snakemake, "-n", "--nolock", "--cores", "2", "--configfile", str(_smoke_config(tmp_path, names))],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    served, refused = outcomes[2], outcomes[3]
    assert served.returncode == 0, (served.stdout + served.stderr)[-2000:]
    assert refused.returncode == 2, (refused.stdout + refused.stderr)[-2000:]
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"error: {REFUSAL}") and "Traceback" not in refused.stderr


def test_cli_refuses_the_config_in_one_line(tmp_path):
    """Through the entry point (``python -m prunebench workflow``): the config is refused when it is
    read, before Snakemake starts: one ``error:`` line, exit status 2."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(LOSS_ONLY_TASK)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT / "src")])}
    config = _smoke_config(tmp_path, ["random", "loss", "el2n"])
    proc = subprocess.run([sys.executable, "-m", "prunebench", "workflow", "--config", str(config), "--", "-n"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-2000:]
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and REFUSAL in proc.stderr
    assert proc.stderr.startswith(f"error: invalid config {config}: ")
