"""From the tidy sweep table to the scaling summary (``results/<name>/scaling.json``).

A *strategy* is (protocol, metric, keep). Its runs at fraction kept f < 1 come from the sweep rows
of that strategy; the f = 1 runs are the shared baseline rows (``metric == "none"``,
``keep == "all"``), used for every strategy. Sizes are pruned dataset sizes P = n_kept = f·N.

The summary holds, per protocol:
* ``full_data``: fits of ε(P) on the f = 1 runs, best family, bootstrap CIs;
* ``curves``: the same per strategy and fixed f < 1;
* ``frontiers``: the Pareto frontier over f per strategy, with fits (compare with ``full_data``);
* ``crossovers``: the keep-easy / keep-hard crossover initial size per (metric, f).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prunebench.scaling.bootstrap import bootstrap_fit
from prunebench.scaling.frontier import crossover_size, hard_minus_easy, pareto_frontier
from prunebench.scaling.laws import FAMILIES, criterion_weights, fit_all, select_family

BASELINE_METRIC, BASELINE_KEEP = "none", "all"
CONVENTION = {
    "direction": "higher score = harder; keep=hard keeps the highest scores, keep=easy the lowest",
    "fraction_kept": "f = kept / initial size; prune_ratio = 1 - f",
    "size": "pruned dataset size P = n_kept = f * initial_size",
    "error": "test error = 1 - test accuracy (fraction, not percent)",
}


def baseline_rows(sweep: pd.DataFrame) -> pd.DataFrame:
    """The shared f = 1 runs (one per initial size and seed)."""
    return sweep[(sweep["metric"] == BASELINE_METRIC) & (sweep["keep"] == BASELINE_KEEP)]


def strategies(sweep: pd.DataFrame) -> list[tuple[str, str, str]]:
    """Sorted (protocol, metric, keep) triples that have pruned (f < 1) runs."""
    pruned = sweep[sweep["metric"] != BASELINE_METRIC]
    return sorted(set(map(tuple, pruned[["protocol", "metric", "keep"]].drop_duplicates().to_numpy())))


def strategy_rows(sweep: pd.DataFrame, protocol: str, metric: str, keep: str) -> pd.DataFrame:
    """The runs of one strategy, with the shared f = 1 baseline rows appended."""
    own = sweep[(sweep["protocol"] == protocol) & (sweep["metric"] == metric) & (sweep["keep"] == keep)]
    return pd.concat([own, baseline_rows(sweep)], ignore_index=True)


def seed_means(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean/std test error over seeds per (initial_size, fraction_kept, n_kept) (+ keep/metric if present)."""
    keys = [c for c in ("metric", "keep", "initial_size", "fraction_kept", "n_kept") if c in runs.columns]
    grouped = runs.groupby(keys, as_index=False)
    means = grouped.agg(test_error=("test_error", "mean"), test_error_std=("test_error", "std"),
                        test_accuracy=("test_accuracy", "mean"), n_seeds=("test_error", "size"))
    return means.fillna({"test_error_std": 0.0})


def fit_curve(sizes, errors, *, criterion: str, n_boot: int, seed: int, families=FAMILIES,
              confidence: float = 0.95) -> dict:
    """Fits of every family, the selected one, criterion weights, bootstrap CIs of the best and power law."""
    fits = fit_all(sizes, errors, families)
    best = select_family(fits, criterion)
    boot_families = sorted({"power_law", best} - {None}) if "power_law" in families else [best]
    return {
        "n_points": int(len(sizes)),
        "sizes": sorted(float(s) for s in np.unique(sizes)),
        "fits": {name: fit.to_dict() for name, fit in fits.items()},
        "best": best,
        "weights": criterion_weights(fits, criterion),
        "bootstrap": {name: bootstrap_fit(sizes, errors, name, n_boot=n_boot, seed=seed, confidence=confidence)
                      for name in boot_families if name},
    }


def frontier_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(frontier points of seed means, the individual runs at those (N, f) points)."""
    frontier = pareto_frontier(seed_means(runs))
    on_frontier = runs.merge(frontier[["initial_size", "fraction_kept"]], on=["initial_size", "fraction_kept"])
    return frontier, on_frontier


def crossover_table(sweep: pd.DataFrame, protocol: str) -> list[dict]:
    """Keep-easy/keep-hard crossover initial size per (metric, f < 1) of one protocol."""
    out = []
    pruned = sweep[(sweep["protocol"] == protocol) & sweep["keep"].isin(["easy", "hard"])]
    for metric, runs in pruned.groupby("metric"):
        deltas = hard_minus_easy(seed_means(runs))
        for f, rows in deltas.groupby("fraction_kept"):
            cross = crossover_size(rows["initial_size"], rows["delta"])
            out.append({"metric": metric, "fraction_kept": float(f), **cross,
                        "initial_sizes": rows["initial_size"].astype(float).tolist(),
                        "delta_hard_minus_easy": rows["delta"].astype(float).tolist()})
    return out


def analyse_sweep(sweep: pd.DataFrame, *, criterion: str = "bic", n_boot: int = 200, seed: int = 0,
                  confidence: float = 0.95) -> dict:
    """The full scaling summary of a sweep table (see the module docstring); JSON-safe (NaN → None)."""
    fit_options = {"criterion": criterion, "n_boot": n_boot, "seed": seed, "confidence": confidence}
    summary = {"convention": CONVENTION, **fit_options, "protocols": {}}
    base = baseline_rows(sweep)
    summary["full_data"] = fit_curve(base["n_kept"], base["test_error"], **fit_options) if len(base) else None
    for protocol in sorted(set(sweep["protocol"]) - {""}):
        summary["protocols"][protocol] = _analyse_protocol(sweep, protocol, fit_options)
    return json_safe(summary)


def json_safe(value, digits: int | None = None):
    """NaN/inf → None and numpy scalars → Python, recursively (strict JSON); floats rounded to
    ``digits`` significant digits when given."""
    if isinstance(value, dict):
        return {str(k): json_safe(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, digits) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        if not np.isfinite(value):
            return None
        return float(f"{value:.{digits}g}") if digits else value
    return value


def _analyse_protocol(sweep: pd.DataFrame, protocol: str, fit_options: dict) -> dict:
    curves, frontiers = [], []
    for proto, metric, keep in strategies(sweep):
        if proto != protocol:
            continue
        runs = strategy_rows(sweep, protocol, metric, keep)
        for f, rows in runs[runs["fraction_kept"] < 1].groupby("fraction_kept"):
            fit = fit_curve(rows["n_kept"], rows["test_error"], families=("power_law", "exponential"),
                            **fit_options)
            curves.append({"metric": metric, "keep": keep, "fraction_kept": float(f), **fit})
        points, on_frontier = frontier_runs(runs)
        fit = fit_curve(on_frontier["n_kept"], on_frontier["test_error"], **fit_options)
        frontiers.append({"metric": metric, "keep": keep, "points": _records(points), **fit})
    return {"curves": curves, "frontiers": frontiers, "crossovers": crossover_table(sweep, protocol)}


def _records(table: pd.DataFrame) -> list[dict]:
    columns = [c for c in ("initial_size", "fraction_kept", "n_kept", "test_error", "test_error_std", "n_seeds")
               if c in table.columns]
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in table[columns].to_dict("records")]
