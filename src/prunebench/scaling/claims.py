"""The four empirical claims of issue 14 as pure functions of the sweep table (Sorscher et al. 2022).

Every function takes the tidy sweep table (``results/<scale>/sweep.parquet``) and returns a plain
dict with ``value``, ``interval``, ``n_seeds``, ``verdict`` (one of :data:`VERDICTS`) and a
``detail``; ``prunebench.headline.claim_entries`` turns them into headline entries. Seeds are
paired throughout: seed s of every strategy at an initial size N starts from the same N initial
examples, so differences are taken within a seed before they are averaged.

1. :func:`crossover_claim` — keep hard vs keep easy at fixed f. The paper (Fig. 1, 3): keep easy
   is better at small N, keep hard at large N. Per seed and N, Δ_s(N) = ε_hard − ε_easy; ordinary
   least squares Δ = b₀ + b₁·(ln N − m) over every (N, seed); the crossover ln N* = m − b₀/b₁ with
   Fieller's interval (Fieller 1954; the centred regressor makes b₀ and b₁ uncorrelated), the set
   of x with (b₀ + b₁(x − m))² ≤ t²·(se₀² + (x − m)²·se₁²), t = t_{0.975, n−2}.
2. :func:`beyond_power_law_claim` — the keep-hard frontier falls faster than the f = 1 power law
   (Fig. 3), by the calibrated test of :mod:`prunebench.scaling.calibration` (its false-positive
   rate measured on simulated power laws at this sweep's design and seed noise, and the rejection
   level lowered to the α-quantile of the null p-values where the nominal test is liberal), with
   the random frontier as the control.
3. :func:`no_loss_claim` — the smallest f whose accuracy at N_max is within one standard error of
   full data: d_s = acc_s(f) − acc_s(1), SE = sd(d)/√k (paired by seed; one seed: the binomial
   errors of both runs in quadrature), f* = the smallest f with d̄ ≥ −SE at f and at every larger f.
4. :func:`ranking_claim` — pairwise decision accuracy (Magnusson et al. 2025, DataDecide): for
   every pair of strategies, does the order of their seed-mean accuracies at a small N agree with
   the order at N_max; averaged over pairs and f, with a percentile bootstrap over seeds
   (``scipy.stats.bootstrap``, seeds resampled jointly for every strategy).

Every claim reads the task's error ``eval_error`` (``prunebench.scaling.columns``; 1 − test accuracy
for a table without it): an accuracy difference above is the error difference with the sign
turned (acc(f) − acc(1) = ε(1) − ε(f)), and "better" is the lower error.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from prunebench.scaling.columns import ERROR, with_eval_error
from prunebench.scaling.uncertainty import Z_RESOLVED

REPRODUCED, NOT_REPRODUCED, NOT_RESOLVED, NO_ROWS = (
    "reproduced", "not reproduced", "not resolved at this scale", "no rows")
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_RESOLVED, NO_ROWS)
ALPHA = 0.05
STATIC_KEEPS = ("easy", "hard", "random")
BASELINE = ("none", "all")


def _claim(value, interval, n_seeds, verdict, detail) -> dict:
    return {"value": value, "interval": list(interval) if interval is not None else None, "n_seeds": int(n_seeds),
            "verdict": verdict, "detail": detail}


def no_rows(what: str) -> dict:
    """The claim of a table that lacks the rows it needs: says so instead of failing."""
    return _claim(NO_ROWS, None, 0, NO_ROWS, {"reason": f"no rows: {what}"})


def _select(sweep: pd.DataFrame, protocol: str, metric: str, keep: str, f: float | None = None) -> pd.DataFrame:
    rows = sweep[(sweep["protocol"] == protocol) & (sweep["metric"] == metric) & (sweep["keep"] == keep)]
    return rows if f is None else rows[np.isclose(rows["fraction_kept"], f)]


def baseline(sweep: pd.DataFrame) -> pd.DataFrame:
    """The shared f = 1 runs (fixed_epochs, metric ``none``, keep ``all``)."""
    return _select(sweep, "fixed_epochs", *BASELINE, 1.0)


# ----------------------------------------------------------------------------------------------
# 1. Crossover
# ----------------------------------------------------------------------------------------------

def paired_gaps(sweep: pd.DataFrame, protocol: str, metric: str, f: float, value: str = ERROR) -> pd.DataFrame:
    """hard − easy of ``value`` (the error) per (initial_size, seed) at f (rows where both ran):
    initial_size, seed, gap."""
    sweep = with_eval_error(sweep)
    keys = ["initial_size", "seed"]
    hard = _select(sweep, protocol, metric, "hard", f)[keys + [value]]
    easy = _select(sweep, protocol, metric, "easy", f)[keys + [value]]
    both = hard.merge(easy, on=keys, suffixes=("_hard", "_easy"))
    return both.assign(gap=both[f"{value}_hard"] - both[f"{value}_easy"])[keys + ["gap"]].sort_values(keys)


def fieller_interval(b0: float, b1: float, se0: float, se1: float, t: float) -> tuple[float, float] | None:
    """Fieller's interval of x₀ = −b₀/b₁ for uncorrelated estimates: {x : (b₀ + b₁x)² ≤ t²(se₀² + x²se₁²)};
    None when it is unbounded (b₁ not resolved from 0: b₁² ≤ t²se₁²)."""
    a = b1 ** 2 - t ** 2 * se1 ** 2
    if not a > 0:
        return None
    half = np.sqrt(max((b0 * b1) ** 2 - a * (b0 ** 2 - t ** 2 * se0 ** 2), 0.0))
    return (float((-b0 * b1 - half) / a), float((-b0 * b1 + half) / a))


def gap_trend(gaps: pd.DataFrame) -> dict | None:
    """OLS of the gap on centred ln N (``scipy.stats.linregress``); None with < 3 points or < 2 sizes."""
    if len(gaps) < 3 or gaps["initial_size"].nunique() < 2:
        return None
    x = np.log(gaps["initial_size"].to_numpy(float))
    centre = float(x.mean())
    fit = stats.linregress(x - centre, gaps["gap"].to_numpy(float))
    dof = len(gaps) - 2
    return {"b0": float(fit.intercept), "b1": float(fit.slope), "se0": float(fit.intercept_stderr),
            "se1": float(fit.stderr), "centre": centre, "dof": dof, "t": float(stats.t.ppf(1 - ALPHA / 2, dof)),
            "t_one_sided": float(stats.t.ppf(1 - ALPHA, dof))}


def _predicted_gap(trend: dict, size: float) -> tuple[float, float]:
    """(b₀ + b₁u, its standard error) at u = ln N − m (b₀, b₁ uncorrelated)."""
    u = np.log(size) - trend["centre"]
    return trend["b0"] + trend["b1"] * u, float(np.hypot(trend["se0"], u * trend["se1"]))


def crossover_claim(sweep: pd.DataFrame, protocol: str, metric: str, f: float) -> dict:
    """Claim 1 at one (metric, f): the crossover N* of the fitted gap, Fieller interval, verdict.

    reproduced: the fitted gap is > 0 at the smallest N and < 0 at the largest (each one-sided at
    α = 0.05), i.e. keep easy wins at small N and keep hard at large N inside the measured range;
    not reproduced: the gap grows with N (b₁ > 0 at α); otherwise not resolved at this scale. The
    value is N* where the fitted line crosses 0 inside the measured sizes, else None."""
    gaps = paired_gaps(sweep, protocol, metric, f)
    trend = gap_trend(gaps)
    if trend is None:
        return no_rows(f"keep easy and keep hard {metric} at f = {f:g} ({protocol}) at fewer than 2 sizes")
    sizes = np.sort(gaps["initial_size"].unique().astype(float))
    low, high = _predicted_gap(trend, sizes[0]), _predicted_gap(trend, sizes[-1])
    bound = trend["t_one_sided"]
    if low[0] > bound * low[1] and high[0] < -bound * high[1]:
        verdict = REPRODUCED
    elif trend["b1"] > bound * trend["se1"]:
        verdict = NOT_REPRODUCED
    else:
        verdict = NOT_RESOLVED
    interval = fieller_interval(trend["b0"], trend["b1"], trend["se0"], trend["se1"], trend["t"])
    crossing = np.exp(trend["centre"] - trend["b0"] / trend["b1"]) if trend["b1"] != 0 else float("nan")
    inside = bool(sizes[0] <= crossing <= sizes[-1])
    per_size = gaps.groupby("initial_size")["gap"].agg(["mean", "std", "size"]).reset_index()
    detail = {"protocol": protocol, "fraction_kept": f, "slope_per_log_n": trend["b1"], "slope_se": trend["se1"],
              "dof": trend["dof"], "gap_at_smallest_n": low[0], "gap_at_smallest_n_se": low[1],
              "gap_at_largest_n": high[0], "gap_at_largest_n_se": high[1],
              "initial_sizes": per_size["initial_size"].astype(float).tolist(),
              "mean_gap_hard_minus_easy": per_size["mean"].tolist(),
              "method": "OLS of paired (per seed) hard - easy test error on ln N; crossover -b0/b1 with "
                        "Fieller's 95% interval (null: unbounded, the slope is not resolved from 0); value null "
                        "when the fitted line crosses 0 outside the measured sizes (see extrapolated_crossover)",
              "extrapolated_crossover": float(crossing), "crossover_inside_measured_sizes": inside}
    return _claim(float(crossing) if inside else None, None if interval is None else np.exp(np.add(interval, trend["centre"])),
                  gaps["seed"].nunique(), verdict, detail)


# ----------------------------------------------------------------------------------------------
# 2. Beyond power law (reads the calibrated tests of the scaling summary)
# ----------------------------------------------------------------------------------------------

def _frontier(scaling: dict | None, protocol: str, metric: str, keep: str) -> dict:
    frontiers = ((scaling or {}).get("protocols") or {}).get(protocol, {}).get("frontiers", [])
    return next((fr for fr in frontiers if fr["metric"] == metric and fr["keep"] == keep), {})


def _p(tests: dict, name: str) -> float | None:
    test = (tests or {}).get(name)
    return None if test is None else test["p_value"]


def test_is_calibrated(rate: float | None, n_null: int) -> bool:
    """The measured false-positive rate of a level-α test is compatible with α: rate ≤ α + 1.96·√(α(1−α)/n_null)."""
    if rate is None or not n_null:
        return False
    return bool(rate <= ALPHA + Z_RESOLVED * np.sqrt(ALPHA * (1 - ALPHA) / n_null))


def rejects(p_value: float | None, level: float | None) -> bool:
    """One-sided rejection at the calibrated level min(α, level) (level: the α-quantile of the test's
    null p-values at this design, so the measured false-positive rate is at most about α)."""
    if p_value is None or level is None:
        return False
    return bool(p_value < min(ALPHA, level))


def _levels(beyond: dict) -> dict:
    """The calibrated levels of a frontier's tests; with none stored (older summaries) α where the
    measured false-positive rate is compatible with α, else None (no calibrated rejection)."""
    if beyond.get("calibrated_level"):
        return beyond["calibrated_level"]
    rates, n_null = beyond.get("false_positive_rate") or {}, beyond.get("n_null") or 0
    return {name: (ALPHA if test_is_calibrated(rate, n_null) else None) for name, rate in rates.items()}


def beyond_power_law_claim(scaling: dict | None, protocol: str, metric: str, n_seeds: int) -> dict:
    """Claim 2 for one metric's keep-hard frontier, from ``scaling.json`` (a function of the sweep).

    reproduced: the frontier falls faster than the f = 1 runs and than the random frontier (each
    rejected at its calibrated level, :func:`rejects`) while the random frontier itself is not shown
    to beat the f = 1 runs (the control); not reproduced: the frontier is flatter than the f = 1 runs
    (the other tail, p > 1 − α); not resolved otherwise (e.g. when the control rejects: the test then
    does not separate pruning from selection noise at this design)."""
    frontier = _frontier(scaling, protocol, metric, "hard")
    beyond = frontier.get("beyond_power_law") or {}
    tests = beyond.get("tests")
    if not tests:
        return no_rows(f"a keep-hard {metric} frontier with at least 5 sizes ({protocol})")
    control_beyond = _frontier(scaling, protocol, "random", "random").get("beyond_power_law") or {}
    control = control_beyond.get("tests") or {}
    p_full, p_random, p_control = _p(tests, "vs_full_data"), _p(tests, "vs_random"), _p(control, "vs_full_data")
    levels, control_levels = _levels(beyond), _levels(control_beyond)
    control_rejects = rejects(p_control, control_levels.get("vs_full_data"))
    random_ok = p_random is None or rejects(p_random, levels.get("vs_random"))
    if rejects(p_full, levels.get("vs_full_data")) and random_ok and not control_rejects:
        verdict = REPRODUCED
    elif p_full is not None and p_full > 1 - ALPHA:
        verdict = NOT_REPRODUCED
    else:
        verdict = NOT_RESOLVED
    ci = (((frontier.get("intervals") or {}).get("power_law") or {}).get("params") or {}).get("nu", {})
    nu = ((frontier.get("fits") or {}).get("power_law") or {}).get("params", {}).get("nu")
    protocol_summary = ((scaling or {}).get("protocols") or {}).get(protocol, {})
    detail = {"protocol": protocol, "p_vs_full_data": p_full, "p_vs_random": p_random,
              "slope_difference_vs_full_data": (tests.get("vs_full_data") or {}).get("coefficient"),
              "control_random_p_vs_full_data": p_control, "control_random_rejects": control_rejects,
              "false_positive_rate": beyond.get("false_positive_rate"), "calibrated_level": levels,
              "control_false_positive_rate": (control_beyond.get("false_positive_rate") or {}).get("vs_full_data"),
              "n_null": beyond.get("n_null"), "null": beyond.get("null"), "dispersion": protocol_summary.get("dispersion"),
              "alpha": ALPHA, "verdict_of_tests": beyond.get("verdict"), "interval_of": "frontier nu, bootstrap-t"}
    return _claim(nu, [ci.get("low"), ci.get("high")] if ci else None, n_seeds, verdict, detail)


# ----------------------------------------------------------------------------------------------
# 3. How much can be pruned with no loss
# ----------------------------------------------------------------------------------------------

def paired_loss(pruned: pd.DataFrame, full: pd.DataFrame) -> dict:
    """d̄ = mean_s (ε_s(1) − ε_s(f)) (= acc_s(f) − acc_s(1)) over the seeds both ran, and its SE
    (sd/√k; one seed: binomial)."""
    columns = ["seed", ERROR, "n_test"]
    both = with_eval_error(pruned)[columns].merge(with_eval_error(full)[columns], on="seed", suffixes=("", "_full"))
    if both.empty:
        return {"value": float("nan"), "se": float("nan"), "n_seeds": 0}
    d = (both[f"{ERROR}_full"] - both[ERROR]).to_numpy(float)
    if len(d) >= 2:
        return {"value": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(len(d))), "n_seeds": len(d),
                "se_method": "seeds, paired"}
    p, q = both[ERROR].to_numpy(float), both[f"{ERROR}_full"].to_numpy(float)
    se = np.sqrt(p * (1 - p) / both["n_test"].to_numpy(float) + q * (1 - q) / both["n_test_full"].to_numpy(float))
    return {"value": float(d[0]), "se": float(se[0]), "n_seeds": 1, "se_method": "binomial (one seed)"}


def smallest_lossless_fraction(losses: dict[float, dict]) -> float:
    """The smallest f with d̄ ≥ −SE at f and at every larger f (1.0 when no f < 1 qualifies)."""
    chosen = 1.0
    for f in sorted(losses, reverse=True):
        if not losses[f]["value"] >= -losses[f]["se"]:
            break
        chosen = f
    return chosen


def no_loss_claim(sweep: pd.DataFrame, protocol: str, metric: str, keep: str, n_boot: int = 1000,
                  seed: int = 0) -> dict:
    """Claim 3 for one (protocol, metric, keep) at the largest N, with a seed-bootstrap interval of f*.

    reproduced: some f < 1 loses no more than one SE; not reproduced: the largest f < 1 loses more
    than 1.96 SE; not resolved otherwise."""
    n_max = sweep["initial_size"].max()
    full = baseline(sweep)
    full = full[full["initial_size"] == n_max]
    rows = _select(sweep, protocol, metric, keep)
    rows = rows[(rows["initial_size"] == n_max) & (rows["fraction_kept"] < 1)]
    if rows.empty or full.empty:
        return no_rows(f"{protocol} {metric}/{keep} or the f = 1 baseline at N = {n_max}")
    fractions = sorted(rows["fraction_kept"].unique())
    losses = {float(f): paired_loss(rows[np.isclose(rows["fraction_kept"], f)], full) for f in fractions}
    chosen = smallest_lossless_fraction(losses)
    top = losses[max(losses)]
    if chosen < 1:
        verdict = REPRODUCED
    elif top["value"] < -Z_RESOLVED * top["se"]:
        verdict = NOT_REPRODUCED
    else:
        verdict = NOT_RESOLVED
    interval, n_seeds = _bootstrap_fraction(rows, full, n_boot, seed)
    detail = {"protocol": protocol, "initial_size": int(n_max), "rule": "smallest f with mean paired accuracy "
              "difference to f = 1 >= -1 SE at f and every larger f", "interval_of": "f*, percentile bootstrap "
              "over seeds (None with one seed)",
              "loss_by_fraction": {f"{f:g}": {"difference": v["value"], "se": v["se"]} for f, v in losses.items()}}
    return _claim(chosen, interval, n_seeds, verdict, detail)


def _seed_matrix(rows: pd.DataFrame, full: pd.DataFrame) -> tuple[np.ndarray, list[float], np.ndarray]:
    """(differences ε(1) − ε(f), seeds × f, the fractions, the seeds) over the seeds with every f and the baseline."""
    wide = with_eval_error(rows).pivot_table(index="seed", columns="fraction_kept", values=ERROR).dropna()
    base = with_eval_error(full).set_index("seed")[ERROR]
    seeds = [s for s in wide.index if s in base.index]
    return (base.loc[seeds].to_numpy(float)[:, None] - wide.loc[seeds].to_numpy(float)), list(wide.columns), \
        np.asarray(seeds)


def _bootstrap_fraction(rows, full, n_boot, seed) -> tuple[list | None, int]:
    diffs, fractions, seeds = _seed_matrix(rows, full)
    if len(seeds) < 2:
        return None, len(seeds)

    def statistic(index):
        sample = diffs[np.asarray(index, int)]
        se = sample.std(axis=0, ddof=1) / np.sqrt(len(sample))
        return smallest_lossless_fraction({f: {"value": m, "se": s} for f, m, s in zip(fractions, sample.mean(0), se)})

    result = stats.bootstrap((np.arange(len(seeds)),), statistic, n_resamples=n_boot, vectorized=False,
                             method="percentile", random_state=np.random.default_rng(seed))
    return [float(result.confidence_interval.low), float(result.confidence_interval.high)], len(seeds)


# ----------------------------------------------------------------------------------------------
# 4. Does the ranking at small N predict the ranking at N_max
# ----------------------------------------------------------------------------------------------

def ranking_cube(sweep: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """The negated error −ε (higher = better, like accuracy) indexed by (fraction_kept, initial_size,
    seed) × strategy ``metric/keep`` (static strategies of ``protocol``, f < 1; cells where every
    strategy ran)."""
    sweep = with_eval_error(sweep)
    rows = sweep[(sweep["protocol"] == protocol) & sweep["keep"].isin(STATIC_KEEPS) & (sweep["fraction_kept"] < 1)]
    rows = rows.assign(strategy=rows["metric"] + "/" + rows["keep"], score=-rows[ERROR])
    return rows.pivot_table(index=["fraction_kept", "initial_size", "seed"], columns="strategy",
                            values="score").dropna()


def decision_accuracy(means_small: np.ndarray, means_large: np.ndarray) -> float:
    """Fraction of strategy pairs (i < j) whose accuracy order at the small N equals that at N_max
    (DataDecide; a tie on either side counts as half)."""
    pairs = list(itertools.combinations(range(len(means_small)), 2))
    if not pairs:
        return float("nan")
    agree = [0.5 if np.sign(means_small[i] - means_small[j]) * np.sign(means_large[i] - means_large[j]) == 0
             else float(np.sign(means_small[i] - means_small[j]) == np.sign(means_large[i] - means_large[j]))
             for i, j in pairs]
    return float(np.mean(agree))


def _seed_arrays(cube: pd.DataFrame, sizes, seeds) -> dict[float, list[np.ndarray]]:
    """{f: [score matrix (−ε) seeds × strategies at each of ``sizes``]} for the f where every seed ran
    (an f missing at one of the sizes, as in a partial table, is left out)."""
    arrays = {}
    cells = set(zip(cube.index.get_level_values("fraction_kept"), cube.index.get_level_values("initial_size")))
    for f in sorted(cube.index.get_level_values("fraction_kept").unique()):
        if not all((f, n) in cells for n in sizes):
            continue
        at_f = [cube.loc[(f, n)].reindex(seeds).to_numpy(float) for n in sizes]
        if all(np.isfinite(a).all() for a in at_f):
            arrays[float(f)] = at_f
    return arrays


def _pooled_accuracy(arrays: dict, index) -> tuple[float, dict]:
    """Decision accuracy pooled (averaged) over f, seed means over the seed rows ``index`` (repeats allowed)."""
    index = np.asarray(index, int)
    per_f = {f: decision_accuracy(small[index].mean(0), large[index].mean(0)) for f, (small, large) in arrays.items()}
    return (float(np.mean(list(per_f.values()))) if per_f else float("nan")), per_f


def chance_p_value(arrays: dict, observed: float, n_perm: int, seed: int) -> float:
    """P(pooled decision accuracy ≥ observed) when the strategies' labels at N_max are shuffled
    (independently per f): the chance level of this design, (1 + #{≥}) / (1 + n_perm)."""
    rng = np.random.default_rng(seed)
    means = {f: (small.mean(0), large.mean(0)) for f, (small, large) in arrays.items()}
    hits = 0
    for _ in range(n_perm):
        value = np.mean([decision_accuracy(s, rng.permutation(l)) for s, l in means.values()])
        hits += value >= observed - 1e-12
    return (1 + hits) / (1 + n_perm)


def ranking_claim(sweep: pd.DataFrame, protocol: str, small: int, n_boot: int = 1000, seed: int = 0) -> dict:
    """Claim 4: decision accuracy of initial size ``small`` for N_max, pooled over f, with a percentile
    bootstrap over seeds and its chance p-value (:func:`chance_p_value`). reproduced (the small-N
    ranking predicts N_max's): interval above 0.5 and chance p < α; not reproduced: interval below
    0.5; not resolved otherwise (and with one seed: no interval)."""
    cube = ranking_cube(sweep, protocol)
    large = int(sweep["initial_size"].max())
    sizes = set(cube.index.get_level_values("initial_size")) if len(cube) else set()
    if cube.shape[1] < 2 or small not in sizes or large not in sizes:
        return no_rows(f"two or more static strategies at N = {small} and N = {large} ({protocol})")
    seeds = sorted(set(cube.xs(small, level="initial_size").index.get_level_values("seed"))
                   & set(cube.xs(large, level="initial_size").index.get_level_values("seed")))
    arrays = _seed_arrays(cube, (small, large), seeds)
    value, per_f = _pooled_accuracy(arrays, np.arange(len(seeds)))
    interval = None
    if len(seeds) >= 2 and arrays:
        result = stats.bootstrap((np.arange(len(seeds)),), lambda i: _pooled_accuracy(arrays, i)[0],
                                 n_resamples=n_boot, vectorized=False, method="percentile",
                                 random_state=np.random.default_rng(seed))
        interval = [float(result.confidence_interval.low), float(result.confidence_interval.high)]
    p_chance = chance_p_value(arrays, value, n_boot, seed + 1) if arrays else float("nan")
    if interval is not None and interval[0] > 0.5 and p_chance < ALPHA:
        verdict = REPRODUCED
    elif interval is not None and interval[1] < 0.5:
        verdict = NOT_REPRODUCED
    else:
        verdict = NOT_RESOLVED
    detail = {"protocol": protocol, "small_size": int(small), "large_size": large, "strategies": list(cube.columns),
              "n_pairs": cube.shape[1] * (cube.shape[1] - 1) // 2, "by_fraction": {f"{f:g}": v for f, v in per_f.items()},
              "chance": 0.5, "p_chance": p_chance, "n_perm": n_boot, "interval_of": "decision accuracy, percentile bootstrap over seeds (None with one seed)"}
    return _claim(value, interval, len(seeds), verdict, detail)
