"""Calibration of the statistical check: the spread between two legitimate regenerations.

A scale's trained outputs are regenerated twice with the same code, config and thread count but
different floating-point kernels (e.g. ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` against the
machine's default AVX-512 kernels, the difference between the two CPUs this project has met). Their
differences are what a regeneration on another machine legitimately shows:

* ``sweep.sigma = sqrt(mean(d_i^2))`` over the m paired sweep accuracies (both runs noisy, so this is
  the spread of a committed-vs-regenerated difference), with ``n_points = m`` degrees of freedom;
* ``scores[metric] = {"rho", "n"}``: Spearman agreement of each metric's two score tables.

Written to ``results/<scale>/check_calibration.json`` (committed) by
``python -m prunebench check-headline --calibrate``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from prunebench.errors import PrunebenchError

ALPHA_FAMILY = 0.01
CALIBRATION_FILE = "check_calibration.json"


def calibrate(committed: Path, regenerated: Path, scale: str, perturbation: dict[str, str],
              alpha_family: float = ALPHA_FAMILY) -> dict:
    """The calibration document of ``committed`` against a perturbed regeneration of it."""
    from prunebench.checks.trained import metrics_of, paired_differences, score_agreement
    from prunebench.sweep import read_sweep_table

    pairs = paired_differences(read_sweep_table(committed / "sweep.parquet"),
                               read_sweep_table(regenerated / "sweep.parquet"))
    diffs = pairs["diff"].dropna().to_numpy(dtype=float)
    if len(diffs) < 5 or not np.any(diffs != 0):
        raise PrunebenchError(f"the perturbed regeneration in {regenerated} has {len(diffs)} paired sweep points, "
                              f"{int(np.sum(diffs != 0))} of them different: it cannot calibrate the check; "
                              "regenerate with other kernels (--perturb ATEN_CPU_CAPABILITY=avx2)")
    return {
        "scale": scale,
        "alpha_family": alpha_family,
        "sweep": {"sigma": float(np.sqrt(np.mean(diffs ** 2))), "n_points": int(len(diffs)),
                  "mean_diff": float(diffs.mean()), "max_abs_diff": float(np.abs(diffs).max()),
                  "bit_identical_points": int(np.sum(diffs == 0))},
        "scores": score_agreement(committed, regenerated, metrics_of(committed)),
        "perturbation": perturbation,
        "machine": machine_description(),
        "committed_on": tables_machine(committed),
        "regenerated_on": tables_machine(regenerated),
        "command": f"python -m prunebench check-headline --config {scale} --calibrate",
    }


def machine_description() -> dict:
    """This machine (:func:`prunebench.provenance.environment`) plus the kernel-choice variables set."""
    from prunebench.provenance import environment

    chosen = {k: v for k, v in os.environ.items() if k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    return {**environment(), "kernel_env": chosen}


def tables_machine(folder: Path) -> dict:
    """The machine stamped in the first score table of ``folder`` (cpu model, kernel capability, threads)."""
    from prunebench.checks.trained import metrics_of
    from prunebench.metrics.storage import read_scores
    from prunebench.provenance import ENVIRONMENT_KEYS

    names = metrics_of(folder)
    if not names:
        return {}
    provenance = read_scores(folder / "scores" / f"{names[0]}.parquet").provenance
    return {key: provenance.get(key) for key in ENVIRONMENT_KEYS}


def write_calibration(document: dict, path: Path) -> Path:
    from prunebench.provenance import atomic_write

    text = json.dumps(document, indent=1, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def read_calibration(path: Path) -> dict:
    """The committed calibration; one-line error naming the command that makes it."""
    if not path.is_file():
        raise PrunebenchError(f"{path} not found; calibrate the check with "
                              "`python -m prunebench check-headline --config <scale> --calibrate`")
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PrunebenchError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}); restore it from git") from None
    if not {"scale", "alpha_family", "sweep", "scores"} <= set(document):
        raise PrunebenchError(f"{path} lacks scale/alpha_family/sweep/scores; recalibrate with --calibrate")
    return document
