"""Headline entries of a retrieval sweep: OPERA's arms against no pruning (Fang et al. 2026).

OPERA compares static pruning (SP: keep the pairs of highest pretrained (query, positive)
similarity), dynamic pruning (DP) and their variants with plain fine-tuning on all pairs at equal
optimizer steps, by NDCG@10 and Recall@20, and reports how much of the training set SP still covers
and how fast each arm reaches the unpruned result. From a retrieval sweep table (one initial size N,
the recipe's step budget), per arm a = (protocol, metric, keep, f) other than no pruning (its label
is :func:`prunebench.figures.retrieval.arm_of`'s, as in the arms table):

* ``ndcg_at_10_vs_no_pruning_<a>`` and ``recall_at_20_vs_no_pruning_<a>``, paired by seed s:
  d_s = NDCG@10_s(a) − NDCG@10_s(no pruning) (resp. Recall@20, ``recall_at_20``), both on the same test
  claims; the value is mean_s d_s, its standard error sd(d)/√S over the S seeds both ran
  (:func:`prunebench.scaling.text_claims.paired_difference`; one seed: no standard error), resolved when
  |d̄| > 1.96 se. The pretrained (zero-shot) arm is one of them (seed 0).
* ``query_coverage_<a>`` of the static-selection arms (protocols that train on a kept subset, e.g. SP
  f < 1 and its variants): the fraction of the split's training queries with at least one kept pair,
  mean over seeds (``query_coverage``; OPERA's coverage argument for SP).
* ``steps_to_match_no_pruning_<a>`` of every trained arm: per seed s, target_s = the final NDCG@10 of
  no pruning at seed s; T_s = the first optimizer step at which the arm's NDCG@10-vs-steps curve
  (``quality_curve``, starting from the pretrained encoder's NDCG@10 at step 0) reaches target_s,
  linearly interpolated between evaluations (:func:`prunebench.figures.retrieval.steps_to_match`).
  The value is mean_s T_s and its standard error when every seed reached the target, ``"not reached"``
  when none did and ``"reached by k of S seeds"`` otherwise (the curve allows no more).

With ``sweep.step_budgets`` (:mod:`prunebench.tasks.retrieval.budgets`) every other budget B's arms
get the same entries from that budget's own table, named with the suffix ``_steps<B>``; and, per arm
and each other budget B, ``ndcg_at_10_budget_effect_<a>_<B0>_to_<B>``: NDCG@10 at budget B minus at the smallest
budget B0, paired by seed (OPERA: plain fine-tuning loses NDCG@10 from 2k to 8k steps, DP holds), read
from each budget's own table ``results/<name>/steps<B>/sweep.parquet``.

:func:`retrieval_entries` turns these into headline entries, only for a retrieval table (task
``retrieval`` or ``eval_metric`` ndcg@10); every other table gets none.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from prunebench.scaling.columns import VALUE, eval_metric, with_eval_columns
from prunebench.scaling.text_claims import ONE_SEED, paired_difference
from prunebench.scaling.uncertainty import mean_se
from prunebench.sweep.plan import BASELINE_METRIC, format_fraction

RETRIEVAL_METRIC = "ndcg@10"   # the eval_metric of the retrieval task
NOT_REACHED = "not reached"
REFERENCE = "Fang et al. 2026, OPERA (arXiv 2603.17205)"
TOLERANCE_DEFAULTS = {"ndcg_abs": 0.02, "recall_abs": 0.02, "coverage_abs": 0.01, "steps_rel": 0.25}


def is_retrieval_table(sweep: pd.DataFrame, config: dict | None = None) -> bool:
    """Whether ``sweep`` is a retrieval sweep: the config's task, or a table scored by NDCG@10 that has
    the retrieval task's own columns (``recall_at_20``, ``query_coverage``; another NDCG-scored table
    gets no retrieval entries)."""
    if (config or {}).get("task") == "retrieval":
        return True
    return (bool(len(sweep)) and "eval_metric" in sweep.columns and eval_metric(sweep) == RETRIEVAL_METRIC
            and {"recall_at_20", "query_coverage"} <= set(sweep.columns))


def arm_tag(row) -> str:
    """``<protocol>_<metric>_<keep>_f<f>``: an arm's name in entry names."""
    return f"{row['protocol']}_{row['metric']}_{row['keep']}_f{format_fraction(row['fraction_kept'])}"


def _labelled(sweep: pd.DataFrame) -> pd.DataFrame:
    from prunebench.figures.retrieval import arm_of

    frame = with_eval_columns(sweep).copy()
    frame["arm"] = [arm_of(row) for _, row in frame.iterrows()]
    frame["tag"] = [arm_tag(row) for _, row in frame.iterrows()]
    return frame


def _curve(row, start: float | None) -> dict[int, list[float]]:
    cell = row.get("quality_curve")
    points = json.loads(cell) if isinstance(cell, str) and cell else [[int(row["train_steps"]), float(row[VALUE])]]
    if start is not None:
        points = [[0, start], *points]
    return {int(step): [float(value)] for step, value in points}


def steps_to_match(runs: pd.DataFrame, baseline: pd.DataFrame, start: float | None) -> dict:
    """Per seed, the steps at which the arm's curve reaches the no-pruning run's final NDCG@10 of the same
    seed (module docstring), and their mean and standard error over seeds."""
    from prunebench.figures.retrieval import steps_to_match as first_step

    targets = baseline.groupby("seed")[VALUE].mean()
    per_seed = {}
    for _, row in runs.iterrows():
        seed = int(row["seed"])
        if seed not in targets.index:
            continue
        t = first_step(_curve(row, start), float(targets[seed]))
        per_seed[seed] = {"target_ndcg_at_10": float(targets[seed]), "steps": None if np.isnan(t) else float(t)}
    reached = [v["steps"] for v in per_seed.values() if v["steps"] is not None]
    n, k = len(per_seed), len(reached)
    if k >= 2:
        mean, se, method = mean_se(reached, [np.nan])
    else:
        mean, se, method = (float(reached[0]) if k else None), None, ONE_SEED if k else "none"
    value = mean if n and k == n else (NOT_REACHED if k == 0 else f"reached by {k} of {n} seeds")
    return {"value": value, "mean_reached": mean, "se": se if k == n else None,
            "se_method": method if k == n else "none (not every seed reached the target)",
            "n_seeds": n, "n_reached": k, "per_seed": per_seed}


def retrieval_claims(sweep: pd.DataFrame) -> list[dict]:
    """One record per arm but no pruning: ``{arm, tag, protocol, metric, keep, fraction_kept, n_seeds,
    ndcg, recall, ndcg_vs_no_pruning, recall_vs_no_pruning, query_coverage, steps_to_match}``
    (``query_coverage`` None for arms that train on all pairs; ``steps_to_match`` None for the
    pretrained arm)."""
    from prunebench.figures.retrieval import NO_PRUNING, PRETRAINED
    from prunebench.sweep.protocols import get_protocol

    frame = _labelled(sweep)
    baseline = frame[frame["arm"] == NO_PRUNING]
    pretrained = frame.loc[frame["arm"] == PRETRAINED, VALUE]
    start = float(pretrained.mean()) if len(pretrained) else None
    out = []
    for tag, runs in frame[frame["arm"] != NO_PRUNING].groupby("tag", sort=True):
        first = runs.iloc[0]
        kept = get_protocol(str(first["protocol"])).trains_on == "kept" and first["metric"] != BASELINE_METRIC
        out.append({"arm": first["arm"], "tag": tag, "protocol": str(first["protocol"]), "metric": str(first["metric"]),
                    "keep": str(first["keep"]), "fraction_kept": float(first["fraction_kept"]),
                    "n_seeds": int(runs["seed"].nunique()), "ndcg": float(runs[VALUE].mean()),
                    "recall": float(runs["recall_at_20"].mean()),
                    "ndcg_vs_no_pruning": paired_difference(runs, baseline, VALUE),
                    "recall_vs_no_pruning": paired_difference(runs, baseline, "recall_at_20"),
                    "query_coverage": float(runs["query_coverage"].mean()) if kept else None,
                    "steps_to_match": None if first["arm"] == PRETRAINED else steps_to_match(runs, baseline, start)})
    return out


def budget_tables(config: dict, results) -> dict:
    """Each budget of ``sweep.step_budgets`` and its own sweep table read from under ``results``
    ({} without budgets; the recipe's budget: ``sweep.parquet``, another B: ``steps<B>/sweep.parquet``)."""
    from prunebench.sweep.plan import step_budgets
    from prunebench.tasks.retrieval.budgets import budget_table

    budgets = step_budgets(config)
    return {b: budget_table(config, b, results) for b in budgets} if len(budgets) >= 2 else {}


def budget_effects(tables: dict) -> list[dict]:
    """Per arm and budget B > B0 of the tables (:func:`budget_tables`): NDCG@10(B) − NDCG@10(B0) paired
    by seed, each budget's rows from its own table ([] without budgets)."""
    if len(tables) < 2:
        return []
    budgets = sorted(tables)
    tables = {b: _labelled(table) for b, table in tables.items()}
    low, out = budgets[0], []
    for high in budgets[1:]:
        for tag in sorted(set(tables[low]["tag"]) & set(tables[high]["tag"])):
            a, b = tables[low][tables[low]["tag"] == tag], tables[high][tables[high]["tag"] == tag]
            out.append({"tag": tag, "arm": str(a["arm"].iloc[0]), "from_steps": int(low), "to_steps": int(high),
                        "ndcg_from": float(a[VALUE].mean()), "ndcg_to": float(b[VALUE].mean()),
                        "effect": paired_difference(b, a, VALUE)})
    return out


def retrieval_entries(config: dict, sweep: pd.DataFrame, settings: dict, context: dict, make_entry,
                      results=None) -> list[dict]:
    """Headline entries of a retrieval scale (none for any other table; module docstring). ``make_entry``
    is :func:`prunebench.headline._entry`; ``results``: the folder holding the budgets' tables
    (default ``results/<name>``)."""
    if not is_retrieval_table(sweep, config):
        return []
    tol = {**TOLERANCE_DEFAULTS, **(settings.get("tolerance") or {})}
    scale, command, status = context["scale"], context["command"], context["status"]
    entries = _arm_entries(retrieval_claims(sweep), int(sweep["initial_size"].max()), "", tol, scale, command,
                           status, make_entry)
    from prunebench.sweep.plan import recipe_steps

    tables = budget_tables(config, results)  # read once: the other budgets' arms and the budget effects
    for budget, table in sorted(tables.items()):
        if budget == recipe_steps(config):
            continue  # the recipe's own budget is ``sweep``'s entries above
        entries += _arm_entries(retrieval_claims(table), int(table["initial_size"].max()), f"_steps{budget}", tol,
                                scale, command, status, make_entry)
    for e in budget_effects(tables):
        d = e["effect"]
        entries.append(make_entry(
            f"ndcg_at_10_budget_effect_{e['tag']}_{e['from_steps']}_to_{e['to_steps']}", scale, d["value"],
            {"abs": tol["ndcg_abs"]}, "NDCG@10 difference (> 0: the longer budget is better)",
            f"NDCG@10 of {e['arm']} at {e['to_steps']} minus {e['from_steps']} optimizer steps, paired by seed "
            f"({REFERENCE}: plain fine-tuning worsens from 2k to 8k steps while DP holds)", command,
            {"per_seed": d["per_seed"], "n_pairs": d["n_pairs"], "ndcg_from": e["ndcg_from"], "ndcg_to": e["ndcg_to"],
             "arm": e["arm"]}, status, standard_error=d["se"], se_method=d["se_method"], resolved=d["resolved"]))
    return entries


def _arm_entries(claims: list[dict], n: int, suffix: str, tol: dict, scale: str, command: str, status: str,
                 make_entry) -> list[dict]:
    """The entries of one step budget's arms (``suffix`` "" for the recipe's budget, ``_steps<B>`` for another)."""
    budget = f", {suffix[len('_steps'):]} optimizer steps" if suffix else ""
    entries = []
    for c in claims:
        where = (f"{c['arm']} ({c['protocol']}, {c['metric']}/{c['keep']}, f = {format_fraction(c['fraction_kept'])}, "
                 f"N = {n}{budget})")
        for key, column, label, abs_tol in (("ndcg_vs_no_pruning", "ndcg", "NDCG@10", tol["ndcg_abs"]),
                                            ("recall_vs_no_pruning", "recall", "Recall@20", tol["recall_abs"])):
            d = c[key]
            name = f"{'ndcg_at_10' if column == 'ndcg' else 'recall_at_20'}_vs_no_pruning_{c['tag']}{suffix}"
            entries.append(make_entry(
                name, scale, d["value"], {"abs": abs_tol},
                f"{label} difference (test claims; > 0: the arm beats no pruning)",
                f"{label} of {where} minus no pruning (all pairs, same optimizer steps), paired by seed ({REFERENCE})",
                command, {"per_seed": d["per_seed"], "n_pairs": d["n_pairs"], "unpaired_se": d["unpaired_se"],
                          label.lower(): c[column], "arm": c["arm"], "protocol": c["protocol"], "initial_size": n},
                status, standard_error=d["se"], se_method=d["se_method"], resolved=d["resolved"]))
        if c["query_coverage"] is not None:
            entries.append(make_entry(
                f"query_coverage_{c['tag']}{suffix}", scale, c["query_coverage"], {"abs": tol["coverage_abs"]},
                "fraction of the split's training queries with at least one kept pair (mean over seeds)",
                f"query coverage of {where} ({REFERENCE}: SP keeps pairs, not queries)", command,
                {"arm": c["arm"], "n_seeds": c["n_seeds"], "protocol": c["protocol"], "initial_size": n}, status))
        s = c["steps_to_match"]
        if s is not None and s["n_seeds"]:
            entries.append(make_entry(
                f"steps_to_match_no_pruning_{c['tag']}{suffix}", scale, s["value"], {"rel": tol["steps_rel"]},
                f"optimizer steps to reach no pruning's final NDCG@10 (same seed; interpolated between evaluations; "
                f"'{NOT_REACHED}' or 'reached by k of n seeds' when seeds never reach it)",
                f"steps for {where} to match no pruning, from its NDCG@10-vs-steps curve ({REFERENCE})", command,
                {"per_seed": s["per_seed"], "n_seeds": s["n_seeds"], "n_reached": s["n_reached"],
                 "mean_reached": s["mean_reached"], "arm": c["arm"], "initial_size": n},
                status, standard_error=s["se"], se_method=s["se_method"]))
    return entries
