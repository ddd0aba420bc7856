"""`snakemake --lint` is clean for every shipped scale (the workflow catalog's conventions: functions in
rules/common.smk, a software environment per rule, every non-file parameter through ``params``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from prunebench.config import CONFIG_DIR
from prunebench.provenance import REPO_ROOT

SCALES = sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


@pytest.mark.parametrize("scale", SCALES)
def test_snakemake_lint_is_clean(scale, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    if scale == "imagenet":  # its self-supervised prototypes need a local encoder checkpoint to parse
        checkpoint = tmp_path / "ssl.pt"
        torch.save({}, checkpoint)
        env["PRUNEBENCH_SSL_CHECKPOINT"] = str(checkpoint)
    proc = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--lint", "--configfile",
                           f"workflow/config/{scale}.yaml"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    report = proc.stdout + proc.stderr
    assert "Lints for" not in report and "in a good condition" in report, report[-3000:]
