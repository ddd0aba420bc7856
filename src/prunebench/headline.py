"""Headline numbers: the results this suite stands behind, in ``results/headline.json``.

Each entry: ``name``, ``scale`` (config name, or ``theory``), ``value`` (number, string, or null when
the quantity does not exist, e.g. no crossover), ``tolerance`` (one of ``{"abs": t}``: |got − expected|
≤ t; ``{"rel": t}``: ≤ t·|expected|; ``{"exact": true}``; ``{"tie_abs": t}``: a categorical winner that
passes if the expected winner is still within t of the regenerated winner), ``units``, ``command``
(how it is produced) and ``description``; ``detail`` holds context (CIs, candidates) not compared.

Entries of one scale (protocol ``headline.protocol``, largest initial size N_max of the sweep):

* ``nu_full_data``: ν of ε = a·P^(−ν) fitted to the f = 1 runs (bootstrap CI in ``detail``);
* ``accuracy_full_data``: test accuracy with all N_max examples (f = 1);
* per headline metric m: ``nu_frontier_<m>_hard`` (ν of the keep-hard Pareto frontier over f),
  ``gap_hard_vs_random_<m>_f<f>`` = acc(m, keep hard) − acc(random) at N_max and f = gap_fraction_kept,
  ``crossover_size_<m>_f<f>`` (initial N where keep hard starts beating keep easy, per f < 1),
  ``fixed_compute_gain_<m>_hard_f<f>`` = acc(fixed compute) − acc(fixed epochs) when both ran;
* ``best_metric_f<f>``: the best metric/keep at N_max and f (headline protocol), for each
  ``best_metric_fractions``;
* scale ``theory``: perceptron replica-theory test errors at ``headline.theory_points``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from prunebench.errors import PrunebenchError
from prunebench.scaling.analysis import json_safe
from prunebench.sweep.plan import BASELINE_METRIC, RANDOM_METRIC, format_fraction

HEADLINE_PATH = Path("results") / "headline.json"
THEORY_SCALE = "theory"
DEFAULTS = {"protocol": "fixed_epochs", "metrics": None, "gap_fraction_kept": 0.5, "best_metric_fractions": [0.5, 0.8],
            "tolerance": {}, "theory_points": []}
TOLERANCE_DEFAULTS = {"exponent_abs": 0.05, "accuracy_abs": 0.01, "crossover_rel": 0.25, "theory_abs": 0.001}
CONVENTION = ("accuracies/errors are fractions; fraction_kept f = kept/N (prune_ratio = 1 - f); "
              "scores higher = harder; keep hard = keep the highest scores")


def headline_settings(config: dict) -> dict:
    settings = {**DEFAULTS, **(config.get("headline") or {})}
    settings["tolerance"] = {**TOLERANCE_DEFAULTS, **(settings["tolerance"] or {})}
    return settings


def _entry(name, scale, value, tolerance, units, description, command, detail=None) -> dict:
    return {"name": name, "scale": scale, "value": _plain(value), "tolerance": tolerance, "units": units,
            "description": description, "command": command, "detail": _plain(detail or {})}


def _plain(value):
    """JSON-ready: numpy → Python, NaN → None, floats rounded to 6 significant digits."""
    return json_safe(value, digits=6)


# ----------------------------------------------------------------------------------------------
# Building entries from results
# ----------------------------------------------------------------------------------------------

def empirical_entries(config: dict, sweep: pd.DataFrame, scaling: dict) -> list[dict]:
    """Every empirical headline entry of the config's scale (see the module docstring)."""
    settings = headline_settings(config)
    scale, tol = config["name"], settings["tolerance"]
    command = f"python -m prunebench headline build --config {scale}"
    protocol = settings["protocol"]
    n_max = int(sweep["initial_size"].max())
    means = _largest_n_means(sweep, protocol, n_max)
    entries = _full_data_entries(scaling, means, scale, tol, command, n_max)
    for metric in _headline_metrics(settings, sweep):
        entries += _metric_entries(metric, sweep, scaling, means, settings, scale, command, n_max)
    for f in settings["best_metric_fractions"]:
        entries.append(_best_metric_entry(means[means["protocol"] == protocol], f, scale, tol, command, n_max))
    return [e for e in entries if e is not None]


def _headline_metrics(settings: dict, sweep: pd.DataFrame) -> list[str]:
    available = sorted(set(sweep["metric"]) - {BASELINE_METRIC, RANDOM_METRIC})
    return [m for m in (settings["metrics"] or available) if m in available]


def _largest_n_means(sweep: pd.DataFrame, protocol: str, n_max: int) -> pd.DataFrame:
    """Seed-mean accuracy per (protocol, metric, keep, f) at N_max (baseline rows for f = 1)."""
    rows = sweep[sweep["initial_size"] == n_max]
    grouped = rows.groupby(["protocol", "metric", "keep", "fraction_kept"], as_index=False)
    return grouped.agg(test_accuracy=("test_accuracy", "mean"), accuracy_std=("test_accuracy", "std"),
                       n_seeds=("test_accuracy", "size"))


def _accuracy(means: pd.DataFrame, protocol: str, metric: str, keep: str, f: float) -> float:
    hit = means[(means["protocol"] == protocol) & (means["metric"] == metric) & (means["keep"] == keep)
                & np.isclose(means["fraction_kept"], f)]
    return float(hit["test_accuracy"].iloc[0]) if len(hit) else float("nan")


def _full_data_entries(scaling, means, scale, tol, command, n_max) -> list[dict]:
    full = (scaling or {}).get("full_data") or {}
    nu = (full.get("fits") or {}).get("power_law", {}).get("params", {}).get("nu")
    ci = ((full.get("bootstrap") or {}).get("power_law") or {}).get("params", {}).get("nu", {})
    base = _accuracy(means, "fixed_epochs", BASELINE_METRIC, "all", 1.0)
    return [
        _entry("nu_full_data", scale, nu, {"abs": tol["exponent_abs"]}, "exponent nu of eps = a*P^-nu",
               "power-law exponent of test error vs dataset size without pruning (f = 1)", command,
               {"ci": [ci.get("low"), ci.get("high")], "best_family": full.get("best"), "sizes": full.get("sizes")}),
        _entry("accuracy_full_data", scale, base, {"abs": tol["accuracy_abs"]}, "test accuracy (fraction)",
               f"test accuracy trained on all N = {n_max} examples (f = 1)", command, {"initial_size": n_max}),
    ]


def _metric_entries(metric, sweep, scaling, means, settings, scale, command, n_max) -> list[dict]:
    tol, protocol, f_gap = settings["tolerance"], settings["protocol"], settings["gap_fraction_kept"]
    tag = format_fraction(f_gap)
    hard = _accuracy(means, protocol, metric, "hard", f_gap)
    random = _accuracy(means, protocol, RANDOM_METRIC, RANDOM_METRIC, f_gap)
    entries = [
        _frontier_entry(metric, scaling, protocol, scale, tol, command),
        _entry(f"gap_hard_vs_random_{metric}_f{tag}", scale, hard - random, {"abs": tol["accuracy_abs"]},
               "test accuracy difference (fraction; > 0: keep hard beats random)",
               f"keep-hard {metric} minus random at the largest N = {n_max}, fraction kept f = {tag}", command,
               {"keep_hard_accuracy": hard, "random_accuracy": random, "initial_size": n_max, "protocol": protocol}),
    ]
    entries += _crossover_entries(metric, scaling, protocol, scale, tol, command)
    compute = _accuracy(means, "fixed_compute", metric, "hard", f_gap)
    if math.isfinite(compute):
        epochs = _accuracy(means, "fixed_epochs", metric, "hard", f_gap)
        entries.append(_entry(
            f"fixed_compute_gain_{metric}_hard_f{tag}", scale, compute - epochs, {"abs": tol["accuracy_abs"]},
            "test accuracy difference (fraction)",
            f"keep-hard {metric} at f = {tag}, N = {n_max}: fixed compute (f = 1 steps) minus fixed epochs", command,
            {"fixed_compute_accuracy": compute, "fixed_epochs_accuracy": epochs}))
    return entries


def _frontier_entry(metric, scaling, protocol, scale, tol, command) -> dict:
    frontiers = ((scaling or {}).get("protocols") or {}).get(protocol, {}).get("frontiers", [])
    frontier = next((fr for fr in frontiers if fr["metric"] == metric and fr["keep"] == "hard"), {})
    nu = (frontier.get("fits") or {}).get("power_law", {}).get("params", {}).get("nu")
    ci = ((frontier.get("bootstrap") or {}).get("power_law") or {}).get("params", {}).get("nu", {})
    return _entry(f"nu_frontier_{metric}_hard", scale, nu, {"abs": tol["exponent_abs"]},
                  "exponent nu of eps = a*P^-nu",
                  f"power-law exponent of the keep-hard {metric} Pareto frontier over f (vs nu_full_data)", command,
                  {"ci": [ci.get("low"), ci.get("high")], "best_family": frontier.get("best"), "protocol": protocol})


def _crossover_entries(metric, scaling, protocol, scale, tol, command) -> list[dict]:
    crossovers = ((scaling or {}).get("protocols") or {}).get(protocol, {}).get("crossovers", [])
    return [
        _entry(f"crossover_size_{metric}_f{format_fraction(c['fraction_kept'])}", scale, c["size"],
               {"rel": tol["crossover_rel"]}, "initial dataset size N (examples); null = no sign change",
               f"N where keep-hard minus keep-easy test error changes sign ({metric}, f = "
               f"{format_fraction(c['fraction_kept'])}, interpolated in log N)", command,
               {"direction": c["direction"], "initial_sizes": c["initial_sizes"],
                "delta_hard_minus_easy": c["delta_hard_minus_easy"], "protocol": protocol})
        for c in crossovers if c["metric"] == metric
    ]


def _best_metric_entry(means, f, scale, tol, command, n_max) -> dict | None:
    candidates = means[np.isclose(means["fraction_kept"], f) & (means["metric"] != BASELINE_METRIC)]
    if candidates.empty:
        return None
    label = candidates["metric"] + "/" + candidates["keep"]
    accuracies = dict(zip(label, candidates["test_accuracy"]))
    best = max(sorted(accuracies), key=accuracies.get)
    protocol = str(candidates["protocol"].iloc[0])
    return _entry(f"best_metric_f{format_fraction(f)}", scale, best, {"tie_abs": tol["accuracy_abs"]},
                  "metric/keep with the highest test accuracy (passes while the recorded one is within tol of it)",
                  f"best pruning strategy at fraction kept f = {format_fraction(f)}, N = {n_max} ({protocol})", command,
                  {"accuracies": accuracies, "initial_size": n_max, "protocol": protocol})


def theory_entries(config: dict) -> list[dict]:
    """Perceptron theory test errors at the configured golden points (scale ``theory``)."""
    settings = headline_settings(config)
    if not settings["theory_points"]:
        return []
    from prunebench.theory.solver import solve_point

    entries = []
    for point in settings["theory_points"]:
        keep, theta = point.get("keep", "hard"), float(point.get("theta", 0.0))
        solved = solve_point(point["alpha_tot"], point["fraction_kept"], keep, theta)
        name = (f"theory_eps_alpha{point['alpha_tot']:g}_f{format_fraction(point['fraction_kept'])}"
                f"_{keep}_theta{theta:g}")
        entries.append(_entry(
            name, THEORY_SCALE, solved.eps, {"abs": settings["tolerance"]["theory_abs"]}, "test error (fraction)",
            f"replica theory (SI A) test error: alpha_tot = {point['alpha_tot']:g}, fraction kept f = "
            f"{point['fraction_kept']:g}, keep {keep}, probe angle theta = {theta:g} rad",
            f"python -m prunebench headline build --config {config['name']}",
            {"kappa": solved.kappa, "reference": point.get("expected"), "method": solved.method}))
    return entries


# ----------------------------------------------------------------------------------------------
# The headline file
# ----------------------------------------------------------------------------------------------

def read_headline(path: str | os.PathLike) -> dict:
    """The headline document (``{"convention", "entries"}``); one-line error when missing/damaged."""
    path = Path(path)
    if not path.is_file():
        raise PrunebenchError(f"{path} not found; build it with `python -m prunebench headline build --config ci`")
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PrunebenchError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}); restore it from git") from None
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise PrunebenchError(f"{path} has no 'entries' list; restore it from git or rebuild it")
    return document


def merge_entries(document: dict | None, entries: list[dict], scales) -> dict:
    """Replace every entry of ``scales`` in ``document`` with ``entries`` (other scales kept)."""
    scales = set(scales)
    kept = [e for e in (document or {}).get("entries", []) if e.get("scale") not in scales]
    merged = sorted(kept + entries, key=lambda e: (e["scale"], e["name"]))
    return {"convention": CONVENTION, "entries": merged}


def write_headline(document: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------------------------
# Comparison
# ----------------------------------------------------------------------------------------------

def compare_entry(expected: dict, got: dict | None) -> dict:
    """One row of the check table: name, scale, expected, got, tol, diff, status (PASS/FAIL/MISSING)."""
    row = {"name": expected["name"], "scale": expected["scale"], "expected": expected.get("value"),
           "got": None if got is None else got.get("value"), "tol": _tolerance_text(expected.get("tolerance")),
           "diff": None}
    if got is None:
        return {**row, "status": "MISSING"}
    passed, diff = _within(expected.get("value"), got, expected.get("tolerance") or {"exact": True})
    return {**row, "diff": diff, "status": "PASS" if passed else "FAIL"}


def _within(expected, got: dict, tolerance: dict) -> tuple[bool, float | None]:
    value = got.get("value")
    if expected is None or value is None:
        return expected is None and value is None, None
    if "tie_abs" in tolerance:
        if value == expected:
            return True, 0.0
        scores = (got.get("detail") or {}).get("accuracies") or {}
        if expected not in scores or value not in scores:
            return False, None
        shortfall = float(scores[value]) - float(scores[expected])
        return shortfall <= tolerance["tie_abs"] + 1e-12, shortfall
    if isinstance(expected, str) or isinstance(value, str) or tolerance.get("exact"):
        return value == expected, None
    diff = float(value) - float(expected)
    if "abs" in tolerance:
        return abs(diff) <= tolerance["abs"] + 1e-12, diff
    if "rel" in tolerance:
        return abs(diff) <= tolerance["rel"] * abs(float(expected)) + 1e-12, diff
    raise PrunebenchError(f"headline entry has an unknown tolerance {tolerance}; use abs, rel, exact or tie_abs")


def _tolerance_text(tolerance: dict | None) -> str:
    if not tolerance or tolerance.get("exact"):
        return "exact"
    kind, value = next(iter(tolerance.items()))
    return {"abs": f"±{value:g}", "rel": f"±{value:.0%}", "tie_abs": f"tie ±{value:g}"}.get(kind, f"{kind} {value}")


def compare(expected_entries: list[dict], got_entries: list[dict], scales) -> list[dict]:
    """Check rows for every expected entry of ``scales``, plus NEW rows for unrecorded entries."""
    scales = set(scales)
    got_by_key = {(e["scale"], e["name"]): e for e in got_entries}
    expected = [e for e in expected_entries if e.get("scale") in scales]
    if not expected:
        raise PrunebenchError(f"no entries of scale(s) {', '.join(sorted(scales))} in the headline file; "
                              f"record them with `python -m prunebench headline build --config <scale>`")
    rows = [compare_entry(e, got_by_key.get((e["scale"], e["name"]))) for e in expected]
    known = {(e["scale"], e["name"]) for e in expected}
    rows += [{"name": e["name"], "scale": e["scale"], "expected": None, "got": e["value"], "tol": "",
              "diff": None, "status": "NEW"} for e in got_entries if (e["scale"], e["name"]) not in known
             and e["scale"] in scales]
    return rows


def failed(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["status"] in ("FAIL", "MISSING")]


def format_table(rows: list[dict]) -> str:
    """A fixed-width table: name, scale, expected, got, tol, diff, status."""
    header = ["name", "scale", "expected", "got", "tol", "diff", "status"]
    cells = [[str(r["name"]), str(r["scale"]), _show(r["expected"]), _show(r["got"]), r["tol"],
              _show(r["diff"], signed=True), r["status"]] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
    return "\n".join(lines)


def _show(value, signed: bool = False) -> str:
    if value is None:
        return "-" if signed else "null"
    if isinstance(value, float):
        return f"{value:+.4g}" if signed else f"{value:.6g}"
    return str(value)
