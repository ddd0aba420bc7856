"""Calibration of the statistical check: the spread between two legitimate regenerations.

A scale's trained outputs are regenerated with the same code, config and thread count but another
master seed (``seed + 1``: other initial weights, data orders, sweep subsets and test subset). Their
differences bound what a regeneration on another machine legitimately shows. A kernel switch on the
same CPU (``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2``), the calibration used before, did not:
with the ci tables made on an Intel Xeon, the kernel-switched regeneration there agreed at Spearman
0.94 (influence), 0.98 (GraNd) and sweep rms 0.023, while a regeneration on an AMD EPYC gave 0.34,
0.35 and rms 0.037, and the CI machine's of 2026-12-02 gave 0.04, 0.36 and rms 0.050. A few
rounding differences early in training move it onto another trajectory, which is what a new seed
does; so the seed spread, not the kernel spread, is the legitimate spread (``--perturb`` still adds
environment variables, e.g. kernels, on top):

* ``sweep.sigma = sqrt(mean(d_i^2))`` over the m paired sweep values, the task's ``eval_value`` (both runs noisy, so this is
  the spread of a committed-vs-regenerated difference), with ``n_points = m`` degrees of freedom;
* ``scores[metric] = {"rho", "n"}``: Spearman agreement of each metric's two score tables (a metric
  whose two seeds agree no better than chance, e.g. ``random`` or memorization at ci scale, is then
  reported NO-POWER by the check, not tested).

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
                              "regenerate with another seed (--calibration-seed)")
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
