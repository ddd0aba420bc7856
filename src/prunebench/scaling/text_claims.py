"""Perplexity-pruning claims of a text-lm sweep (Ankner et al. 2024, arXiv 2405.20541).

Ankner et al. score every document by a small reference LM's perplexity, keep a low / medium / high
percentile window at rate r = f, and train a larger final LM at an equal token budget. They report
(i) which window wins and whether it beats random selection at equal compute, and (ii) that the pruned
run reaches the unpruned baseline's final loss in fewer steps ("1.45x fewer steps"). From a text sweep
table, at the largest initial size N_max and each pruned fraction f < 1, per (metric, keep window):

* **NLL vs random**, paired by seed s: d_s = NLL_s(metric, keep, f) − NLL_s(random, f), with NLL the test
  NLL per token (``eval_error``, nats); the value is mean_s d_s and its standard error sd(d)/√S over the S
  seeds both ran (:func:`prunebench.scaling.uncertainty.mean_se`; with one seed there is no seed spread
  and no standard error). d < 0: the window beats random. Resolved when |d̄| > 1.96 se.
* **Steps to match**: target_s = the final validation NLL of the baseline (metric none, keep all, f = 1,
  same N_max and seed s, last point of its ``eval_curve``); T_base,s = steps at which the baseline's own
  curve first reaches target_s (its last step unless the curve dipped below earlier) and T_s = steps at
  which the pruned run's curve first reaches it, both linearly interpolated between checkpoints
  (:func:`prunebench.tasks.text_lm.training.steps_to_match`). The speed-up is ρ_s = T_base,s / T_s (> 1:
  fewer steps than the baseline, the paper's 1.45x); its mean and standard error over seeds when every
  seed reached the target, ``"not reached"`` when none did and ``"reached by k of S seeds"`` otherwise
  (the mean over the reaching seeds alone would be biased upward; it is kept in the detail). Resolved
  when |ρ̄ − 1| > 1.96 se.
* **Beyond upstream perplexity** (the paper's point: upstream perplexity and downstream quality can
  disagree): the same seed-paired difference against random for every other evaluation the sweep
  rows carry, :data:`DOWNSTREAM` (the clean-prose test NLL, ``eval_nll_clean``; the movie-review
  linear-probe sentiment accuracy, ``sentiment_accuracy``, higher = better).
* **Best window** of a metric: its keep window of lowest mean NLL, reported when it beats the runner-up
  window by more than 1.96 standard errors of the seed-paired difference, else "not resolved at this scale"
  (the logic of ``best_metric_f<f>`` in :mod:`prunebench.headline`).

:func:`text_claims` computes these records; :func:`text_entries` turns them into headline entries
(only for a table whose ``eval_metric`` is ``perplexity``, i.e. a text-lm scale; every other table gets
none).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from prunebench.scaling.columns import ERROR, eval_metric, with_eval_columns
from prunebench.scaling.uncertainty import NOT_RESOLVED, Z_RESOLVED, difference, mean_se
from prunebench.sweep.plan import BASELINE_METRIC, RANDOM_METRIC, format_fraction

TEXT_METRIC = "perplexity"   # the eval_metric of the text-lm task
NOT_REACHED = "not reached"
ONE_SEED = "none (one seed: no seed spread)"
REFERENCE = "Ankner et al. 2024, arXiv 2405.20541"
# sweep-row column -> (entry prefix, unit and direction): evaluations besides the mixture's test NLL
DOWNSTREAM = {
    "eval_nll_clean": ("clean_nll_vs_random", "test NLL on clean prose, nats per token (< 0: beats random)"),
    "sentiment_accuracy": ("sentiment_vs_random", "movie-review sentiment accuracy of a linear probe on the frozen LM "
                                                  "(> 0: beats random)"),
}


def is_text_table(sweep: pd.DataFrame, config: dict | None = None) -> bool:
    """Whether ``sweep`` is a text-lm sweep: the config's ``task`` is ``text-lm`` or the table's
    ``eval_metric`` is perplexity."""
    if (config or {}).get("task") == "text-lm":
        return True
    return bool(len(sweep)) and eval_metric(sweep) == TEXT_METRIC


def parse_curve(value) -> list[dict]:
    """An ``eval_curve`` cell (JSON ``[[step, tokens, val_nll], ...]``) as ``[{step, tokens, val_nll}]``;
    [] when the cell is missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    rows = json.loads(value) if isinstance(value, str) else value
    return [{"step": float(s), "tokens": float(t), "val_nll": float(v)} for s, t, v in rows]


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, column: str = ERROR) -> dict:
    """mean_s (a_s − b_s) of ``column`` over the seeds both ran, with its standard error over seeds
    (``{value, se, se_method, resolved, n_pairs, per_seed, unpaired_se}``). One pair: no se, unresolved."""
    a_by, b_by = a.groupby("seed")[column].mean(), b.groupby("seed")[column].mean()
    seeds = sorted(set(a_by.index) & set(b_by.index))
    d = np.array([a_by[s] - b_by[s] for s in seeds], float)
    out = {"n_pairs": len(seeds), "per_seed": {int(s): float(x) for s, x in zip(seeds, d)}}
    if len(seeds) == 0:
        return {**out, "value": None, "se": None, "se_method": "none", "resolved": False, "unpaired_se": None}
    if len(seeds) == 1:
        return {**out, "value": float(d[0]), "se": None, "se_method": ONE_SEED, "resolved": False,
                "unpaired_se": None}
    value, se, method = mean_se(d, [np.nan])
    unpaired = difference(a_by[seeds], [np.nan], b_by[seeds], [np.nan])["se"]
    return {**out, "value": value, "se": se, "se_method": f"{method} (paired by seed)",
            "resolved": bool(abs(value) > Z_RESOLVED * se), "unpaired_se": unpaired}


def _steps(curve: list[dict], target: float) -> float:
    from prunebench.tasks.text_lm.training import steps_to_match

    return steps_to_match(curve, target) if curve else float("inf")


def speedup(runs: pd.DataFrame, baseline: pd.DataFrame) -> dict:
    """Per seed ρ_s = T_base,s / T_s to reach the baseline's final validation NLL (module docstring),
    and their mean and standard error over seeds."""
    base_by = {int(s): parse_curve(r["eval_curve"]) for s, r in baseline.groupby("seed").first().iterrows()}
    per_seed = {}
    for seed, row in runs.groupby("seed").first().iterrows():
        base = base_by.get(int(seed)) or []
        if not base:
            continue
        target = base[-1]["val_nll"]
        t_base, t = _steps(base, target), _steps(parse_curve(row.get("eval_curve")), target)
        per_seed[int(seed)] = {"target_nll": target, "baseline_steps": t_base,
                               "steps": t if np.isfinite(t) else None,
                               "speedup": t_base / t if np.isfinite(t) and t > 0 else None}
    reached = [v["speedup"] for v in per_seed.values() if v["speedup"] is not None]
    n, k = len(per_seed), len(reached)
    mean, se, method = mean_se(reached, [np.nan]) if k >= 2 else \
        ((float(reached[0]) if k else None), None, ONE_SEED if k else "none")
    if n and k == n:
        value = mean
    elif k == 0:
        value = NOT_REACHED
    else:
        value = f"reached by {k} of {n} seeds"
    resolved = bool(k == n and se is not None and abs(mean - 1.0) > Z_RESOLVED * se)
    return {"value": value, "mean_reached": mean, "se": se if k == n else None,
            "se_method": method if k == n else "none (not every seed reached the target)",
            "resolved": resolved, "n_seeds": n, "n_reached": k, "per_seed": per_seed}


def _rows(at_n: pd.DataFrame, metric: str, keep: str, f: float) -> pd.DataFrame:
    return at_n[(at_n["metric"] == metric) & (at_n["keep"] == keep) & np.isclose(at_n["fraction_kept"], f)]


def text_claims(sweep: pd.DataFrame, protocol: str = "fixed_epochs") -> list[dict]:
    """One record per pruned f < 1 and (metric, keep) at N_max of ``protocol``:
    ``{fraction_kept, metric, keep, initial_size, nll, nll_vs_random, speedup}`` (``nll_vs_random`` None
    for random itself), see the module docstring."""
    sweep = with_eval_columns(sweep)
    rows = sweep[sweep["protocol"] == protocol]
    if rows.empty:
        return []
    n_max = int(rows["initial_size"].max())
    at_n = rows[rows["initial_size"] == n_max]
    baseline = _rows(at_n, BASELINE_METRIC, "all", 1.0)
    out = []
    for f in sorted(set(at_n.loc[at_n["fraction_kept"] < 1, "fraction_kept"].round(12)), reverse=True):
        random = _rows(at_n, RANDOM_METRIC, RANDOM_METRIC, f)
        pruned = at_n[np.isclose(at_n["fraction_kept"], f) & (at_n["metric"] != BASELINE_METRIC)]
        for (metric, keep), runs in sorted(pruned.groupby(["metric", "keep"]), key=lambda g: g[0]):
            is_random = metric == RANDOM_METRIC
            out.append({"fraction_kept": float(f), "metric": metric, "keep": keep, "initial_size": n_max,
                        "protocol": protocol, "nll": float(runs[ERROR].mean()),
                        "nll_vs_random": None if is_random or random.empty else paired_difference(runs, random),
                        "downstream": {} if is_random or random.empty else
                        {col: paired_difference(runs, random, col) for col in DOWNSTREAM
                         if col in runs.columns and runs[col].notna().all() and random[col].notna().all()},
                        "speedup": speedup(runs, baseline) if "eval_curve" in runs.columns else None})
    return out


def best_window(claims: list[dict], sweep: pd.DataFrame, metric: str, f: float) -> dict | None:
    """The keep window of ``metric`` at ``f`` with the lowest mean NLL and its seed-paired margin over the
    runner-up window (``{best, runner_up, margin, nlls}``); None without a window."""
    windows = {c["keep"]: c for c in claims if c["metric"] == metric and np.isclose(c["fraction_kept"], f)}
    if not windows:
        return None
    ranked = sorted(sorted(windows), key=lambda k: windows[k]["nll"])
    best = ranked[0]
    margin = None
    if len(ranked) > 1:
        sweep = with_eval_columns(sweep)
        first = windows[best]
        at_n = sweep[(sweep["protocol"] == first["protocol"]) & (sweep["initial_size"] == first["initial_size"])]
        margin = paired_difference(_rows(at_n, metric, ranked[1], f), _rows(at_n, metric, best, f))
    return {"best": best, "runner_up": ranked[1] if len(ranked) > 1 else None, "margin": margin,
            "nlls": {k: windows[k]["nll"] for k in ranked}}


def text_entries(config: dict, sweep: pd.DataFrame, settings: dict, context: dict, make_entry) -> list[dict]:
    """Headline entries of a text-lm scale (none for any other table): per f < 1 and (metric, keep)
    ``nll_vs_random_<metric>_<keep>_f<f>``, ``clean_nll_vs_random_...``, ``sentiment_vs_random_...`` (where
    the rows carry them) and ``steps_to_match_speedup_<metric>_<keep>_f<f>``, and per
    metric ``best_window_<metric>_f<f>``. ``make_entry`` is :func:`prunebench.headline._entry`."""
    if not is_text_table(sweep, config):
        return []
    tol = settings["tolerance"]
    nll_abs, speed_rel = float(tol.get("nll_abs", 0.01)), float(tol.get("speedup_rel", 0.1))
    claims = text_claims(sweep, settings["protocol"])
    scale, command, status = context["scale"], context["command"], context["status"]
    entries = []
    for c in claims:
        tag, label = format_fraction(c["fraction_kept"]), f"{c['metric']}_{c['keep']}"
        where = f"{c['metric']}/{c['keep']} at fraction kept f = {tag}, N = {c['initial_size']} ({c['protocol']})"
        d = c["nll_vs_random"]
        if d is not None:
            entries.append(make_entry(
                f"nll_vs_random_{label}_f{tag}", scale, d["value"], {"abs": nll_abs},
                "test NLL difference (nats per token; < 0: the window beats random)",
                f"test NLL of {where} minus random at the same f, paired by seed ({REFERENCE})", command,
                {"per_seed": d["per_seed"], "n_pairs": d["n_pairs"], "unpaired_se": d["unpaired_se"],
                 "nll": c["nll"], "initial_size": c["initial_size"], "protocol": c["protocol"]},
                status, standard_error=d["se"], se_method=d["se_method"], resolved=d["resolved"]))
        for column, other in (c.get("downstream") or {}).items():
            prefix, unit = DOWNSTREAM[column]
            entries.append(make_entry(
                f"{prefix}_{label}_f{tag}", scale, other["value"],
                {"abs": nll_abs if "nll" in column else float(tol.get("accuracy_abs", 0.02))},
                unit, f"{column} of {where} minus random at the same f, paired by seed ({REFERENCE})", command,
                {"per_seed": other["per_seed"], "n_pairs": other["n_pairs"], "unpaired_se": other["unpaired_se"],
                 "column": column, "initial_size": c["initial_size"], "protocol": c["protocol"]},
                status, standard_error=other["se"], se_method=other["se_method"], resolved=other["resolved"]))
        s = c["speedup"]
        if s is not None and s["n_seeds"]:
            entries.append(make_entry(
                f"steps_to_match_speedup_{label}_f{tag}", scale, s["value"], {"rel": speed_rel},
                "ratio of steps (baseline steps / steps of this run to reach the baseline's final validation "
                f"NLL; > 1: fewer steps; '{NOT_REACHED}' or 'reached by k of n seeds' when seeds never reach it)",
                f"steps-to-match speed-up of {where} over the unpruned baseline (f = 1, same N and seed); the paper's "
                f"1.45x ({REFERENCE}); resolved: |speed-up - 1| > 1.96 se", command,
                {"per_seed": s["per_seed"], "n_seeds": s["n_seeds"], "n_reached": s["n_reached"],
                 "mean_reached": s["mean_reached"], "initial_size": c["initial_size"], "protocol": c["protocol"]},
                status, standard_error=s["se"], se_method=s["se_method"], resolved=s["resolved"]))
    for f in sorted({c["fraction_kept"] for c in claims}, reverse=True):
        for metric in sorted({c["metric"] for c in claims} - {RANDOM_METRIC}):
            win = best_window(claims, sweep, metric, f)
            if win is None:
                continue
            margin = win["margin"]
            resolved = bool(margin and margin["resolved"])
            tag = format_fraction(f)
            entries.append(make_entry(
                f"best_window_{metric}_f{tag}", scale, win["best"] if resolved else NOT_RESOLVED,
                {"tie_abs": nll_abs},
                "keep window with the lowest test NLL, reported only when it beats the runner-up window by more than "
                f"1.96 standard errors of the seed-paired difference (else '{NOT_RESOLVED}'); passes while the "
                "recorded one is within tol nats of the regenerated winner",
                f"best {metric} keep window at fraction kept f = {tag}, N = {claims[0]['initial_size']} "
                f"({claims[0]['protocol']}; {REFERENCE})", command,
                {"nlls": win["nlls"], "accuracies": {k: -v for k, v in win["nlls"].items()},
                 "accuracies_note": "minus the test NLL (higher = better): the score the tie_abs check reads",
                 "lowest": win["best"], "runner_up": win["runner_up"],
                 "margin": margin["value"] if margin else None,
                 "margin_per_seed": margin["per_seed"] if margin else None,
                 "initial_size": claims[0]["initial_size"], "protocol": claims[0]["protocol"]},
                status, standard_error=margin["se"] if margin else None,
                se_method=margin["se_method"] if margin else "none", resolved=resolved))
    return entries
