"""Statistical comparison of regenerated trained outputs with the committed ones.

Retrained numbers are not bit-reproducible across CPUs: the same seed gives different floats on AVX2
and AVX-512 kernels and on another thread count, and training amplifies the difference. So the
regenerated score tables and sweep accuracies are compared with the committed ones against the
spread between two *legitimate* regenerations, the committed seed and the next one (the calibration,
:mod:`prunebench.checks.calibration`):

* **score tables**, per metric: Spearman's rho between committed and regenerated scores over the
  same example ids. Fails when ``rho < floor = max(rho_null, rho_cal / 2)``: ``rho_cal`` is the
  agreement of the two calibration runs, ``rho_null = z_{1-a} / sqrt(n - 1)`` the one-sided level-a
  cut-off of rho under independence (a metric that silently returns random or shuffled scores).
  A metric whose calibration agreement is itself below ``2 * rho_null`` (an estimator that is noise
  at this scale) cannot be checked this way and is reported as ``NO-POWER`` (not a failure).
* **sweep values**: the paired differences ``d_i = v_regen_i - v_committed_i`` of the task's
  ``eval_value`` (test accuracy for image classification, test perplexity for text-lm, NDCG@10 for
  retrieval; :mod:`prunebench.scaling.columns`) over the n points of the grid. With ``sigma`` the root-mean-square of the m calibration differences:
  ``t = mean(d) sqrt(n) / sigma`` (~ Student t, m dof: a shift of the whole grid, e.g. a training
  regression) and ``F = mean(d^2) / sigma^2`` (~ F(n, m): points moving more than legitimate
  perturbations move them). Points that are bit-identical give d = 0 and pass.

Every test runs at ``alpha_family / k`` (Bonferroni over the k tests), so the designed family-wise
false-alarm rate of one check is at most ``alpha_family`` under these models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from prunebench.errors import PrunebenchError

POINT_KEYS = ["protocol", "initial_size", "metric", "keep", "fraction_kept", "seed"]
VALUE_COLUMN = "eval_value"   # prunebench.scaling.columns.VALUE: the task's own test value of a point


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (scipy; average ranks for ties), NaN when either side is constant."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def null_rho(n: int, alpha: float) -> float:
    """One-sided level-``alpha`` cut-off of Spearman's rho of n independent pairs: z_{1-a}/sqrt(n-1)."""
    return float(stats.norm.ppf(1 - alpha) / np.sqrt(max(n - 1, 1)))


def score_agreement(committed: Path, regenerated: Path, metrics: list[str]) -> dict[str, dict]:
    """Per metric: ``{"rho", "n"}`` between the two folders' ``scores/<metric>.parquet`` (common ids)."""
    from prunebench.metrics.storage import read_scores

    agreement = {}
    for metric in metrics:
        old = read_scores(committed / "scores" / f"{metric}.parquet")
        new = read_scores(regenerated / "scores" / f"{metric}.parquet")
        common, old_at, new_at = np.intersect1d(old.ids, new.ids, return_indices=True)
        if len(common) < 3:
            raise PrunebenchError(f"score tables of {metric} share {len(common)} example ids; "
                                  "the regenerated scale is not the committed one (check its data section)")
        agreement[metric] = {"rho": spearman(old.scores[old_at], new.scores[new_at]), "n": int(len(common))}
    return agreement


def paired_differences(committed: pd.DataFrame, regenerated: pd.DataFrame) -> pd.DataFrame:
    """One row per committed sweep point: both ``eval_value``s and ``diff`` (NaN where not regenerated).
    A table without ``eval_value`` (written before the Task seam) is read as test accuracy."""
    from prunebench.scaling.columns import with_eval_columns

    missing = [k for k in POINT_KEYS if k not in committed.columns or k not in regenerated.columns]
    missing += [] if {"test_accuracy", VALUE_COLUMN} & set(committed.columns) & set(regenerated.columns) \
        else [VALUE_COLUMN]
    if missing:
        raise PrunebenchError(f"sweep tables lack column(s) {', '.join(missing)}; regenerate them with this version")
    old, new = (with_eval_columns(t, (VALUE_COLUMN,))[POINT_KEYS + [VALUE_COLUMN]] for t in (committed, regenerated))
    pairs = old.merge(new, on=POINT_KEYS, how="left", suffixes=("_committed", "_regenerated"))
    pairs["diff"] = pairs[f"{VALUE_COLUMN}_regenerated"] - pairs[f"{VALUE_COLUMN}_committed"]
    return pairs


def metrics_of(folder: Path) -> list[str]:
    """Metric names with a score table under ``folder/scores``."""
    return sorted(path.stem for path in (folder / "scores").glob("*.parquet"))


def check_trained(committed: Path, regenerated: Path, calibration: dict) -> list[dict]:
    """Check rows (``name, scale, expected, got, tol, diff, status``) of the statistical comparison."""
    from prunebench.sweep import read_sweep_table

    scale = calibration["scale"]
    score_cal = calibration["scores"]
    metrics = sorted(score_cal)
    agreement = score_agreement(committed, regenerated, metrics)
    testable = [m for m in metrics if has_power(score_cal[m], calibration["alpha_family"])]
    alpha = calibration["alpha_family"] / (len(testable) + 2)
    rows = [_score_row(m, agreement[m], score_cal[m], alpha, scale, m in testable) for m in metrics]
    pairs = paired_differences(read_sweep_table(committed / "sweep.parquet"),
                               read_sweep_table(regenerated / "sweep.parquet"))
    rows += sweep_rows(pairs, calibration["sweep"], alpha, scale)
    return rows


def has_power(score_calibration: dict, alpha_family: float) -> bool:
    """Whether two legitimate runs of a metric agree clearly better than chance (see the module doc)."""
    rho = score_calibration["rho"]
    return bool(np.isfinite(rho) and rho >= 2 * null_rho(score_calibration["n"], alpha_family))


def _score_row(metric: str, got: dict, calibrated: dict, alpha: float, scale: str, testable: bool) -> dict:
    floor = max(null_rho(got["n"], alpha), calibrated["rho"] / 2)
    row = {"name": f"score_agreement_{metric}", "scale": scale, "expected": _round(calibrated["rho"]),
           "got": _round(got["rho"]), "tol": f">= {floor:.3f}", "diff": None}
    if not testable:
        return {**row, "tol": "no power", "status": "NO-POWER"}
    passed = np.isfinite(got["rho"]) and got["rho"] >= floor
    return {**row, "diff": got["rho"] - calibrated["rho"], "status": "PASS" if passed else "FAIL"}


def sweep_rows(pairs: pd.DataFrame, sweep_calibration: dict, alpha: float, scale: str) -> list[dict]:
    """The mean-shift (t) and spread (F) rows, plus one MISSING row per point not regenerated."""
    missing = pairs[pairs["diff"].isna()]
    rows = [{"name": "sweep_point_" + "_".join(str(r[k]) for k in POINT_KEYS), "scale": scale,
             "expected": r[f"{VALUE_COLUMN}_committed"], "got": None, "tol": "", "diff": None, "status": "MISSING"}
            for _, r in missing.iterrows()]
    diffs = pairs["diff"].dropna().to_numpy(dtype=float)
    sigma, dof = float(sweep_calibration["sigma"]), int(sweep_calibration["n_points"])
    if len(diffs) == 0:
        return rows
    t_stat = float(diffs.mean() * np.sqrt(len(diffs)) / sigma)
    t_p = float(2 * stats.t.sf(abs(t_stat), dof))
    f_stat = float(np.mean(diffs ** 2) / sigma ** 2)
    f_p = float(stats.f.sf(f_stat, len(diffs), dof))
    identical = int(np.sum(diffs == 0))
    rows.append({"name": f"sweep_mean_shift ({len(diffs)} points, {identical} bit-identical)", "scale": scale,
                 "expected": 0.0, "got": _round(float(diffs.mean())), "tol": f"p={t_p:.3g} >= {alpha:.2g}",
                 "diff": None, "status": "PASS" if t_p >= alpha else "FAIL"})
    rows.append({"name": "sweep_spread (rms of d vs calibrated sigma)", "scale": scale,
                 "expected": _round(sigma), "got": _round(float(np.sqrt(np.mean(diffs ** 2)))),
                 "tol": f"p={f_p:.3g} >= {alpha:.2g}", "diff": None, "status": "PASS" if f_p >= alpha else "FAIL"})
    return rows


def _round(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)
