"""From the tidy sweep table to the scaling summary (``results/<name>/scaling.json``).

A *strategy* is (protocol, metric, keep). Its runs at fraction kept f < 1 come from the sweep rows
of that strategy; the f = 1 runs are the shared baseline rows (``metric == "none"``,
``keep == "all"``), used for every strategy. Sizes are pruned dataset sizes P = n_kept = f·N.

The summary holds, per protocol:
* ``full_data``: fits of ε(P) on the f = 1 runs; with ≥ 5 sizes the best family and t intervals
  (``prunebench.scaling.intervals``), with fewer only point estimates and a ``reason``;
* ``curves``: the same per strategy and fixed f < 1;
* ``frontiers``: the Pareto frontier over f per strategy, with fits, a bootstrap-t ν interval that
  re-selects the frontier, and ``beyond_power_law``: the calibrated tests against curvature, the
  f = 1 curve and the random frontier with their measured false-positive rates and calibrated
  levels (the ALPHA-quantile of each test's null p-values; ``prunebench.scaling.calibration``);
* ``crossovers``: the keep-easy / keep-hard crossover initial size per (metric, f), with the
  standard error of every Δ and whether the sign change is resolved.

The error ε every fit reads is the task's ``eval_error`` (``prunebench.scaling.columns``: 1 − test
accuracy for a table without it); ``test_error`` in the seed-mean tables is its alias.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prunebench.scaling.calibration import (
    ALPHA, CAN_CONCLUDE, CANNOT_CONCLUDE, MIN_SIZES, calibrated_levels, frontier_interval, frontier_of_runs, null_p_values, rates_of, run_tests,
)
from prunebench.scaling.columns import ERROR, eval_metric, with_eval_columns
from prunebench.scaling.frontier import crossover_size, hard_minus_easy, pareto_frontier
from prunebench.scaling.intervals import fit_intervals
from prunebench.scaling.laws import FAMILIES, criterion_weights, fit_all, select_family
from prunebench.scaling.uncertainty import difference
from prunebench.seeding import derive_seed

BASELINE_METRIC, BASELINE_KEEP, RANDOM_METRIC = "none", "all", "random"
# Protocols whose runs form scaling curves over (N, f): the static selections. The baseline methods
# (rs2, compressed_schedule, infobatch) run at the largest N only and are compared on the
# accuracy-vs-compute figure (prunebench.figures.compute), not fitted.
SCALING_PROTOCOLS = ("fixed_epochs", "fixed_compute")
CONVENTION = {
    "direction": "higher score = harder; keep=hard keeps the highest scores, keep=easy the lowest",
    "fraction_kept": "f = kept / initial size; prune_ratio = 1 - f",
    "size": "pruned dataset size P = n_kept = f * initial_size",
    "error": "eps = the task's eval_error (image classification: test error = 1 - test accuracy, a fraction; "
             "1 - test_accuracy for a table without eval_error)",
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
    """Mean/std of ``eval_error`` over seeds per (initial_size, fraction_kept, n_kept) (+ keep/metric
    if present): ``eval_error``, ``eval_error_std``, their aliases ``test_error``/``test_error_std``,
    the mean ``eval_value`` and ``test_accuracy``, and ``n_seeds``."""
    runs = with_eval_columns(runs)
    keys = [c for c in ("metric", "keep", "initial_size", "fraction_kept", "n_kept") if c in runs.columns]
    grouped = runs.groupby(keys, as_index=False)
    means = grouped.agg(eval_error=(ERROR, "mean"), eval_error_std=(ERROR, "std"), eval_value=("eval_value", "mean"),
                        test_accuracy=("test_accuracy", "mean"), n_seeds=(ERROR, "size"))
    means = means.fillna({"eval_error_std": 0.0})
    return means.assign(test_error=means[ERROR], test_error_std=means["eval_error_std"])


def n_test_of(runs: pd.DataFrame):
    """Per-run test-set sizes (binomial fits), or None when the table has no ``n_test`` column."""
    return runs["n_test"].to_numpy(float) if "n_test" in runs.columns else None


def fit_curve(sizes, errors, n_test=None, *, criterion: str, confidence: float = 0.95, families=FAMILIES) -> dict:
    """Fits of every family; with ≥ ``MIN_SIZES`` distinct sizes also the selected family, criterion
    weights and t intervals of every family; with fewer, point estimates only and a ``reason``."""
    fits = fit_all(sizes, errors, families, n_test)
    n_sizes = len(np.unique(np.asarray(sizes, float)))
    out = {"n_points": int(len(sizes)), "sizes": sorted(float(s) for s in np.unique(sizes)),
           "likelihood": "binomial" if n_test is not None else "lognormal",
           "fits": {name: fit.to_dict() for name, fit in fits.items()}}
    if n_sizes < MIN_SIZES:
        return {**out, "best": None, "weights": {}, "intervals": {},
                "reason": f"{n_sizes} distinct sizes (fewer than {MIN_SIZES}): point estimates only, "
                          f"no family choice and no interval"}
    return {**out, "best": select_family(fits, criterion), "weights": criterion_weights(fits, criterion),
            "intervals": {name: fit_intervals(fit, confidence) for name, fit in fits.items()}, "reason": None}


def cells_of(runs: pd.DataFrame) -> pd.DataFrame:
    """Seed-mean cells of a strategy's runs: initial_size, fraction_kept, n_kept, mean_error (of
    ``eval_error``), n_test, n_seeds."""
    runs = with_eval_columns(runs)
    runs = runs if "n_test" in runs.columns else runs.assign(n_test=np.nan)
    grouped = runs.groupby(["initial_size", "fraction_kept", "n_kept"], as_index=False)
    return grouped.agg(mean_error=(ERROR, "mean"), n_test=("n_test", "first"), n_seeds=(ERROR, "size"))


def frontier_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(frontier points of seed means, the individual runs at those (N, f) points)."""
    frontier = pareto_frontier(seed_means(runs))
    on_frontier = runs.merge(frontier[["initial_size", "fraction_kept"]], on=["initial_size", "fraction_kept"])
    return frontier, on_frontier


def crossover_table(sweep: pd.DataFrame, protocol: str) -> list[dict]:
    """Keep-easy/keep-hard crossover initial size per (metric, f < 1) of one protocol, with the
    standard error of every Δ (``prunebench.scaling.uncertainty``); ``resolved`` when the Δ on both
    sides of the sign change are outside 1.96 se."""
    out = []
    pruned = sweep[(sweep["protocol"] == protocol) & sweep["keep"].isin(["easy", "hard"])]
    for metric, runs in pruned.groupby("metric"):
        deltas = hard_minus_easy(seed_means(runs))
        for f, rows in deltas.groupby("fraction_kept"):
            rows = rows.sort_values("initial_size")
            cross = crossover_size(rows["initial_size"], rows["delta"])
            diffs = [_delta_difference(runs, n, f) for n in rows["initial_size"]]
            bracket = [i for i, n in enumerate(rows["initial_size"]) if float(n) in cross["bracket"]]
            out.append({"metric": metric, "fraction_kept": float(f), **cross,
                        "initial_sizes": rows["initial_size"].astype(float).tolist(),
                        "delta_hard_minus_easy": rows["delta"].astype(float).tolist(),
                        "delta_se": [d["se"] for d in diffs], "se_method": diffs[0]["se_method"] if diffs else None,
                        "resolved": bool(bracket) and all(diffs[i]["resolved"] for i in bracket)})
    return out


def _delta_difference(runs: pd.DataFrame, initial_size, f) -> dict:
    cell = runs[(runs["initial_size"] == initial_size) & np.isclose(runs["fraction_kept"], f)]
    hard, easy = cell[cell["keep"] == "hard"], cell[cell["keep"] == "easy"]
    return difference(hard[ERROR], _n_test_or_nan(hard), easy[ERROR], _n_test_or_nan(easy))


def _n_test_or_nan(rows: pd.DataFrame):
    return rows["n_test"].to_numpy(float) if "n_test" in rows.columns and len(rows) else np.array([np.nan])


def analyse_sweep(sweep: pd.DataFrame, *, criterion: str = "bic", n_boot: int = 200, seed: int = 0,
                  confidence: float = 0.95, n_null: int = 400) -> dict:
    """The full scaling summary of a sweep table (see the module docstring); JSON-safe (NaN → None).
    ``eval_metric``: the task's metric whose error (``eval_error``) was fitted."""
    sweep = with_eval_columns(sweep)
    fit_options = {"criterion": criterion, "confidence": confidence}
    summary = {"convention": CONVENTION, **fit_options, "n_boot": n_boot, "n_null": n_null, "seed": seed,
               "min_sizes": MIN_SIZES, "eval_metric": eval_metric(sweep), "protocols": {}}
    base = baseline_rows(sweep)
    summary["full_data"] = fit_curve(base["n_kept"], base[ERROR], n_test_of(base), **fit_options) \
        if len(base) else None
    for protocol in sorted(set(sweep["protocol"]) & set(SCALING_PROTOCOLS)):
        summary["protocols"][protocol] = _analyse_protocol(sweep, protocol, summary["full_data"],
                                                           {**fit_options, "n_boot": n_boot, "n_null": n_null,
                                                            "seed": seed})
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


def _analyse_protocol(sweep: pd.DataFrame, protocol: str, full_data: dict | None, options: dict) -> dict:
    fit_options = {"criterion": options["criterion"], "confidence": options["confidence"]}
    curves, frontiers, strategy_runs = [], [], {}
    for proto, metric, keep in strategies(sweep):
        if proto != protocol:
            continue
        runs = strategy_rows(sweep, protocol, metric, keep)
        strategy_runs[(metric, keep)] = runs
        for f, rows in runs[runs["fraction_kept"] < 1].groupby("fraction_kept"):
            fit = fit_curve(rows["n_kept"], rows[ERROR], n_test_of(rows),
                            families=("power_law", "exponential"), **fit_options)
            curves.append({"metric": metric, "keep": keep, "fraction_kept": float(f), **fit})
    dispersion = pooled_dispersion(curves)
    random_runs = strategy_runs.get((RANDOM_METRIC, RANDOM_METRIC))
    null_cache: dict = {}
    for (metric, keep), runs in strategy_runs.items():
        points, on_frontier = frontier_runs(runs)
        fit = fit_curve(on_frontier["n_kept"], on_frontier[ERROR], n_test_of(on_frontier), **fit_options)
        entry = {"metric": metric, "keep": keep, "points": _records(points), **fit}
        if "n_test" in runs.columns:
            entry.update(_frontier_statistics(runs, on_frontier, random_runs, full_data, dispersion, null_cache,
                                              options, strategy=(metric, keep)))
        frontiers.append(entry)
    return {"dispersion": dispersion, "curves": curves, "frontiers": frontiers,
            "crossovers": crossover_table(sweep, protocol)}


def pooled_dispersion(curves: list[dict]) -> float:
    """Quasi-likelihood dispersion φ = max(1, Σ RSS / Σ (n − p)) of the per-f power-law fits: the
    run-to-run variance in units of the binomial variance (1 = test-set noise only)."""
    rss = dof = 0.0
    for curve in curves:
        fit = curve["fits"]["power_law"]
        if curve["likelihood"] == "binomial" and fit["dof"] > 0 and np.isfinite(fit["rss"]):
            rss, dof = rss + fit["rss"], dof + fit["dof"]
    return float(max(1.0, rss / dof)) if dof else 1.0


def _frontier_statistics(runs, on_frontier, random_runs, full_data, dispersion, null_cache, options, *,
                         strategy) -> dict:
    """The frontier's bootstrap-t ν interval (frontier re-selected) and the calibrated tests."""
    if on_frontier["n_kept"].nunique() < MIN_SIZES:
        return {"beyond_power_law": {"verdict": f"not tested: fewer than {MIN_SIZES} frontier sizes"}}
    cells = cells_of(runs)
    interval = frontier_interval(cells, runs, on_frontier, dispersion, n_boot=options["n_boot"],
                                 seed=derive_seed(options["seed"], "frontier", *strategy),
                                 confidence=options["confidence"])
    base = baseline_rows(runs)
    random_frontier = None if strategy[0] == RANDOM_METRIC or random_runs is None else frontier_of_runs(random_runs)
    tests = run_tests(on_frontier, base, random_frontier)
    p_values = _null_p_values(cells, full_data, dispersion, null_cache, options)
    rates = None if p_values is None else rates_of(p_values)
    return {"intervals": {"power_law": interval}, "beyond_power_law": {
        "tests": tests, "alpha": ALPHA, "false_positive_rate": rates, "n_null": options["n_null"],
        "calibrated_level": None if p_values is None else calibrated_levels(p_values),
        "null": "pure power law a*P^-nu (the f = 1 fit) at this sweep's sizes, fractions, seeds and n_test, "
                f"binomial runs with dispersion {dispersion:.3g}, both frontiers re-selected in every repeat",
        "beyond_power_law": beyond_power_law(tests), "verdict": verdict(tests, rates),
        "can_conclude": CAN_CONCLUDE, "cannot_conclude": CANNOT_CONCLUDE}}


def _null_p_values(cells, full_data, dispersion, cache, options) -> dict | None:
    """The tests' p-values under the f = 1 power law at this design (cached per design)."""
    power_law = ((full_data or {}).get("fits") or {}).get("power_law") or {}
    a, nu = (power_law.get("params") or {}).get("a"), (power_law.get("params") or {}).get("nu")
    if a is None or nu is None or not np.isfinite(nu) or options["n_null"] < 1:
        return None
    design = cells[["initial_size", "fraction_kept", "n_kept", "n_test", "n_seeds"]]
    key = tuple(map(tuple, design.to_numpy().tolist()))
    if key not in cache:
        cache[key] = null_p_values(design, a, nu, dispersion, n_null=options["n_null"],
                                   seed=derive_seed(options["seed"], "null", len(cache)))
    return cache[key]


VERDICT_TEXT = {  # test: (text when it rejects, text when it does not)
    "curvature": ("bends down in log-log", "no bend in log-log shown"),
    "vs_full_data": ("falls faster than the f = 1 curve", "not shown to fall faster than the f = 1 curve"),
    "vs_random": ("falls faster than the random frontier", "not shown to fall faster than the random frontier"),
}


def beyond_power_law(tests: dict) -> bool | None:
    """The frontier falls faster than the f = 1 curve, and (for a metric) faster than the random
    frontier, both at ALPHA; None when the f = 1 comparison could not be computed. The curvature
    test alone is not enough: a shared error ceiling near chance bends every small-data curve."""
    against = [tests.get("vs_full_data"), tests.get("vs_random")]
    if against[0] is None:
        return None
    return all(test["p_value"] < ALPHA for test in against if test is not None)


def verdict(tests: dict, rates: dict | None) -> str:
    """One line: the outcome of each test at ALPHA, with its p-value and measured false-positive rate."""
    parts = []
    for name, (rejected, kept) in VERDICT_TEXT.items():
        test = tests.get(name)
        if test is None:
            continue
        rate = (rates or {}).get(name)
        rate_text = "not measured" if rate is None else f"{rate:.3f}"
        outcome = rejected if test["p_value"] < ALPHA else kept
        parts.append(f"{outcome} (p = {test['p_value']:.3g}, measured false-positive rate {rate_text})")
    return "; ".join(parts) if parts else "not tested"


def _records(table: pd.DataFrame) -> list[dict]:
    columns = [c for c in ("initial_size", "fraction_kept", "n_kept", "test_error", "test_error_std", "n_seeds")
               if c in table.columns]
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in table[columns].to_dict("records")]
