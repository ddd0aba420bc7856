"""Headline numbers: the results this suite stands behind, in ``results/headline.json``.

Each entry: ``name``, ``scale`` (config name, or ``theory``), ``value`` (number, string, or null when
the quantity does not exist, e.g. no crossover), ``tolerance`` (one of ``{"abs": t}``: |got − expected|
≤ t; ``{"rel": t}``: ≤ t·|expected|; ``{"exact": true}``; ``{"tie_abs": t}``: a categorical winner that
passes if the expected winner is still within t of the regenerated winner), ``units``, ``command``
(how it is produced), ``description`` and ``status`` ("regression anchor (<scale> scale), not a
finding" unless the config sets ``headline.anchor: false``); ``detail`` holds context (CIs, tests,
candidates) not compared. Every stated difference also carries ``standard_error``, ``se_method``
(over seeds, or binomial from the test-set size with one seed; ``prunebench.scaling.uncertainty``)
and ``resolved`` (|Δ| > 1.96 se). A best metric or a crossover outside its error is reported;
otherwise the value is "not resolved at this scale".

Entries of one scale (protocol ``headline.protocol``, largest initial size N_max of the sweep):

* ``nu_full_data``: ν of ε = a·P^(−ν) fitted to the f = 1 runs (t interval in ``detail`` with ≥ 5
  sizes; with fewer the point estimate and a ``reason``);
* ``accuracy_full_data``: the task's ``eval_value`` (test accuracy) with all N_max examples (f = 1);
* per headline metric m: ``nu_frontier_<m>_hard`` (ν of the keep-hard Pareto frontier over f, its
  bootstrap-t interval and the calibrated beyond-power-law verdict with measured false-positive rates),
  ``gap_hard_vs_random_<m>_f<f>`` = ε(random) − ε(m, keep hard) (= acc(m, keep hard) − acc(random)) at
  N_max and f = gap_fraction_kept,
  ``crossover_size_<m>_f<f>`` (initial N where keep hard starts beating keep easy, per f < 1),
  ``fixed_compute_gain_<m>_hard_f<f>`` = ε(fixed epochs) − ε(fixed compute) when both ran,
  ``class_balance_gain_<m>_hard_f<f>`` = ε(unbalanced) − ε(fixed epochs) when the ``unbalanced``
  protocol (class balance 0) ran, with the worst-class gain and its standard error in ``detail``;
* ``best_metric_f<f>``: the metric/keep of lowest ε at N_max and f (headline protocol), for each
  ``best_metric_fractions``;
* scale ``theory``: perceptron replica-theory test errors at ``headline.theory_points``;
* the claims of issue 14 a config lists in ``headline.claims`` (:func:`claim_entries`,
  :mod:`prunebench.scaling.claims`), each with ``value``, ``interval``, ``n_seeds``, ``status`` and a
  ``verdict`` ("reproduced", "not reproduced", "not resolved at this scale", or "no rows" when the
  table lacks what it needs): ``claim_crossover_<m>_f<f>``, ``claim_beyond_power_law_<m>``,
  ``claim_no_loss_<protocol>_<m>_<keep>``, ``claim_ranking_transfer_N<N>``.

ε is the task's ``eval_error`` (``prunebench.scaling.columns``; 1 − test_accuracy for a table
without it), so every difference above is a test accuracy difference for image classification.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from prunebench.errors import PrunebenchError
from prunebench.scaling.analysis import json_safe
from prunebench.scaling.columns import ERROR, VALUE, eval_metric, error_label, value_label, with_eval_columns
from prunebench.scaling.uncertainty import NOT_RESOLVED, difference, mean_se
from prunebench.sweep.plan import BASELINE_METRIC, RANDOM_METRIC, format_fraction

HEADLINE_PATH = Path("results") / "headline.json"
THEORY_SCALE = "theory"
DEFAULTS = {"protocol": "fixed_epochs", "anchor": True, "metrics": None, "gap_fraction_kept": 0.5,
            "best_metric_fractions": [0.5, 0.8],
            "tolerance": {}, "theory_points": [], "claims": [], "claim_metrics": None,
            "no_loss_protocols": ["fixed_epochs", "fixed_compute"]}
CLAIMS = ("crossover", "beyond_power_law", "no_loss", "ranking_transfer")
TOLERANCE_DEFAULTS = {"exponent_abs": 0.05, "accuracy_abs": 0.01, "crossover_rel": 0.25, "theory_abs": 0.001}
CONVENTION = ("accuracies/errors are fractions; fraction_kept f = kept/N (prune_ratio = 1 - f); "
              "scores higher = harder; keep hard = keep the highest scores")


def headline_settings(config: dict) -> dict:
    settings = {**DEFAULTS, **(config.get("headline") or {})}
    settings["tolerance"] = {**TOLERANCE_DEFAULTS, **(settings["tolerance"] or {})}
    return settings


def entry_status(scale: str, anchor: bool) -> str:
    """What a value of this scale is: a regression anchor (small scales), a finding, or theory."""
    if scale == THEORY_SCALE:
        return "exact replica-theory value"
    return f"regression anchor ({scale} scale), not a finding" if anchor else f"finding ({scale} scale)"


def _entry(name, scale, value, tolerance, units, description, command, detail=None, status=None, **extra) -> dict:
    return {"name": name, "scale": scale, "value": _plain(value), "tolerance": tolerance, "units": units,
            "description": description, "command": command, "detail": _plain(detail or {}),
            "status": status or entry_status(scale, True), **_plain(extra)}


def _plain(value):
    """JSON-ready: numpy → Python, NaN → None, floats rounded to 6 significant digits."""
    return json_safe(value, digits=6)


# ----------------------------------------------------------------------------------------------
# Building entries from results
# ----------------------------------------------------------------------------------------------

def empirical_entries(config: dict, sweep: pd.DataFrame, scaling: dict) -> list[dict]:
    """Every empirical headline entry of the config's scale (see the module docstring)."""
    settings = headline_settings(config)
    scale, tol, sweep = config["name"], settings["tolerance"], with_eval_columns(sweep)
    context = {"scale": scale, "command": f"python -m prunebench headline build --config {scale}",
               "status": entry_status(scale, settings["anchor"]), "eval_metric": eval_metric(sweep)}
    protocol = settings["protocol"]
    n_max = int(sweep["initial_size"].max())
    at_n_max = sweep[sweep["initial_size"] == n_max]
    entries = _full_data_entries(scaling, at_n_max, tol, context, n_max)
    for metric in _headline_metrics(settings, sweep):
        entries += _metric_entries(metric, at_n_max, scaling, settings, context, n_max)
    for f in settings["best_metric_fractions"]:
        entries.append(_best_metric_entry(at_n_max[at_n_max["protocol"] == protocol], f, tol, context, n_max))
    # text-lm scales only (none for any other table): Ankner et al. 2024 windows vs random, steps-to-match
    from prunebench.scaling.text_claims import text_entries
    entries += text_entries(config, sweep, settings, context, _entry)
    # retrieval scales only (none for any other table): OPERA's arms vs no pruning, coverage, steps to match
    from prunebench.scaling.retrieval_claims import retrieval_entries
    entries += retrieval_entries(config, sweep, settings, context, _entry)
    return [e for e in entries if e is not None]


def _headline_metrics(settings: dict, sweep: pd.DataFrame) -> list[str]:
    """The configured metrics (null: every metric) among those the headline protocol ran with keep hard
    (baseline protocols' labels such as rs2 or infobatch are not metrics)."""
    ran = sweep[(sweep["protocol"] == settings["protocol"]) & (sweep["keep"] == "hard")]
    available = sorted(set(ran["metric"]) - {BASELINE_METRIC, RANDOM_METRIC})
    return [m for m in (settings["metrics"] or available) if m in available]


def _runs(rows: pd.DataFrame, protocol: str, metric: str, keep: str, f: float) -> pd.DataFrame:
    """The runs (seeds) of one (protocol, metric, keep, f) among ``rows``."""
    return rows[(rows["protocol"] == protocol) & (rows["metric"] == metric) & (rows["keep"] == keep)
                & np.isclose(rows["fraction_kept"], f)]


def _n_test(runs: pd.DataFrame):
    return runs["n_test"].to_numpy(float) if "n_test" in runs.columns and len(runs) else np.array([np.nan])


def _class_n_test(runs: pd.DataFrame):
    """Test examples per class (n_test / classes, from ``per_class_accuracy``): the binomial
    standard error of a class's accuracy at one seed."""
    classes = len(json.loads(runs["per_class_accuracy"].iloc[0])) if len(runs) else 1
    return _n_test(runs) / classes


def _accuracy(runs: pd.DataFrame) -> float:
    return float(runs["test_accuracy"].mean()) if len(runs) else float("nan")


def _error(runs: pd.DataFrame) -> float:
    return float(runs[ERROR].mean()) if len(runs) else float("nan")


def _accuracy_difference(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """mean ε(b) − mean ε(a) (``eval_error``; = accuracy(a) − accuracy(b) for accuracy) with its
    standard error (``prunebench.scaling.uncertainty``): > 0 when ``a`` is better."""
    return difference(b[ERROR], _n_test(b), a[ERROR], _n_test(a))


def _difference_fields(diff: dict) -> dict:
    return {"standard_error": diff["se"], "se_method": diff["se_method"], "resolved": diff["resolved"]}


def _full_data_entries(scaling, at_n_max, tol, context, n_max) -> list[dict]:
    full = (scaling or {}).get("full_data") or {}
    nu = (full.get("fits") or {}).get("power_law", {}).get("params", {}).get("nu")
    ci = ((full.get("intervals") or {}).get("power_law") or {}).get("params", {}).get("nu", {})
    base = _runs(at_n_max, "fixed_epochs", BASELINE_METRIC, "all", 1.0)
    mean, se, se_method = mean_se(base[VALUE], _n_test(base))
    metric = context["eval_metric"]
    units = "test accuracy (fraction)" if metric == "accuracy" else value_label(metric)
    return [
        _entry("nu_full_data", context["scale"], nu, {"abs": tol["exponent_abs"]}, "exponent nu of eps = a*P^-nu",
               f"power-law exponent of {error_label(metric)} vs dataset size without pruning (f = 1)",
               context["command"],
               {"ci": [ci.get("low"), ci.get("high")], "ci_method": "t, n - p degrees of freedom" if ci else None,
                "best_family": full.get("best"), "sizes": full.get("sizes"), "reason": full.get("reason")},
               context["status"]),
        _entry("accuracy_full_data", context["scale"], mean, {"abs": tol["accuracy_abs"]}, units,
               f"{value_label(metric)} trained on all N = {n_max} examples (f = 1)", context["command"],
               {"initial_size": n_max}, context["status"], standard_error=se, se_method=se_method),
    ]


def _difference_units(context: dict, note: str | None = None) -> str:
    """Units of an ε difference: ``test accuracy difference (fraction; <note>)`` for accuracy, else
    ``reduction of <error label> (<note>)``."""
    metric = context["eval_metric"]
    what, scale = ("test accuracy difference", "fraction") if metric == "accuracy" else \
        (f"reduction of {error_label(metric)}", None)
    parts = [part for part in (scale, note) if part]
    return what + (f" ({'; '.join(parts)})" if parts else "")


def _metric_entries(metric, at_n_max, scaling, settings, context, n_max) -> list[dict]:
    tol, protocol, f_gap = settings["tolerance"], settings["protocol"], settings["gap_fraction_kept"]
    tag = format_fraction(f_gap)
    hard = _runs(at_n_max, protocol, metric, "hard", f_gap)
    random = _runs(at_n_max, protocol, RANDOM_METRIC, RANDOM_METRIC, f_gap)
    gap = _accuracy_difference(hard, random)
    entries = [
        _frontier_entry(metric, scaling, protocol, tol, context),
        _entry(f"gap_hard_vs_random_{metric}_f{tag}", context["scale"], gap["value"], {"abs": tol["accuracy_abs"]},
               _difference_units(context, "> 0: keep hard beats random"),
               f"keep-hard {metric} minus random at the largest N = {n_max}, fraction kept f = {tag}",
               context["command"], {"keep_hard_accuracy": _accuracy(hard), "random_accuracy": _accuracy(random),
                                    "initial_size": n_max, "protocol": protocol},
               context["status"], **_difference_fields(gap)),
    ]
    entries += _crossover_entries(metric, scaling, protocol, tol, context)
    compute = _runs(at_n_max, "fixed_compute", metric, "hard", f_gap)
    if len(compute):
        epochs = _runs(at_n_max, "fixed_epochs", metric, "hard", f_gap)
        gain = _accuracy_difference(compute, epochs)
        entries.append(_entry(
            f"fixed_compute_gain_{metric}_hard_f{tag}", context["scale"], gain["value"], {"abs": tol["accuracy_abs"]},
            _difference_units(context),
            f"keep-hard {metric} at f = {tag}, N = {n_max}: fixed compute (f = 1 steps) minus fixed epochs",
            context["command"],
            {"fixed_compute_accuracy": _accuracy(compute), "fixed_epochs_accuracy": _accuracy(epochs)},
            context["status"], **_difference_fields(gain)))
    entries += _class_balance_entries(metric, at_n_max, settings, context, n_max)
    return entries


def _class_balance_entries(metric, at_n_max, settings, context, n_max) -> list[dict]:
    """``class_balance_gain_<metric>_hard_f<f>`` when the ``unbalanced`` protocol ran: keep-hard
    accuracy with the config's class balance minus without it (class_balance 0), mean and worst
    class, at ``gap_fraction_kept`` and N_max (the paper's §5 ablation; Δ > 0: balancing helps)."""
    tol, f_gap = settings["tolerance"], settings["gap_fraction_kept"]
    tag, unbalanced = format_fraction(f_gap), _runs(at_n_max, "unbalanced", metric, "hard", f_gap)
    if not len(unbalanced):
        return []
    balanced = _runs(at_n_max, "fixed_epochs", metric, "hard", f_gap)
    gain = _accuracy_difference(balanced, unbalanced)
    worst = difference(balanced["worst_class_accuracy"], _class_n_test(balanced),
                       unbalanced["worst_class_accuracy"], _class_n_test(unbalanced))
    return [_entry(
        f"class_balance_gain_{metric}_hard_f{tag}", context["scale"], gain["value"], {"abs": tol["accuracy_abs"]},
        _difference_units(context, "> 0: class balancing helps"),
        f"keep-hard {metric} at f = {tag}, N = {n_max}: class balance {float(balanced['class_balance'].iloc[0]):g} "
        f"minus class balance 0 (fixed epochs)", context["command"],
        {"balanced_accuracy": _accuracy(balanced), "unbalanced_accuracy": _accuracy(unbalanced),
         "worst_class_gain": worst["value"], "worst_class_gain_se": worst["se"],
         "balanced_worst_class_accuracy": float(balanced["worst_class_accuracy"].mean()),
         "unbalanced_worst_class_accuracy": float(unbalanced["worst_class_accuracy"].mean())},
        context["status"], **_difference_fields(gain))]


def _frontier_entry(metric, scaling, protocol, tol, context) -> dict:
    frontiers = ((scaling or {}).get("protocols") or {}).get(protocol, {}).get("frontiers", [])
    frontier = next((fr for fr in frontiers if fr["metric"] == metric and fr["keep"] == "hard"), {})
    nu = (frontier.get("fits") or {}).get("power_law", {}).get("params", {}).get("nu")
    interval = (frontier.get("intervals") or {}).get("power_law") or {}
    ci = (interval.get("params") or {}).get("nu", {})
    tests = frontier.get("beyond_power_law") or {}
    return _entry(f"nu_frontier_{metric}_hard", context["scale"], nu, {"abs": tol["exponent_abs"]},
                  "exponent nu of eps = a*P^-nu",
                  f"power-law exponent of the keep-hard {metric} Pareto frontier over f (vs nu_full_data). "
                  f"Beyond-power-law test: {tests.get('verdict', 'not tested')}. It can conclude: "
                  f"{tests.get('can_conclude', '-')}; it cannot: {tests.get('cannot_conclude', '-')}",
                  context["command"],
                  {"ci": [ci.get("low"), ci.get("high")], "ci_method": interval.get("method"),
                   "best_family": frontier.get("best"), "protocol": protocol,
                   "beyond_power_law": tests.get("beyond_power_law"), "verdict": tests.get("verdict"),
                   "false_positive_rate": tests.get("false_positive_rate"), "alpha": tests.get("alpha"),
                   "tests": tests.get("tests")}, context["status"])


def _crossover_entries(metric, scaling, protocol, tol, context) -> list[dict]:
    crossovers = ((scaling or {}).get("protocols") or {}).get(protocol, {}).get("crossovers", [])
    return [
        _entry(f"crossover_size_{metric}_f{format_fraction(c['fraction_kept'])}", context["scale"],
               _crossover_value(c), {"rel": tol["crossover_rel"]},
               f"initial dataset size N (examples); null = no sign change; '{NOT_RESOLVED}' = the Δ on either "
               "side of the sign change is within 1.96 standard errors",
               f"N where keep-hard minus keep-easy test error changes sign ({metric}, f = "
               f"{format_fraction(c['fraction_kept'])}, interpolated in log N)", context["command"],
               {"direction": c["direction"], "interpolated_size": c["size"], "initial_sizes": c["initial_sizes"],
                "delta_hard_minus_easy": c["delta_hard_minus_easy"], "delta_se": c.get("delta_se"),
                "se_method": c.get("se_method"), "protocol": protocol}, context["status"])
        for c in crossovers if c["metric"] == metric
    ]


def _crossover_value(crossover: dict):
    """The crossover size; None without a sign change; NOT_RESOLVED when the sign change is within error."""
    if crossover["size"] is None or crossover["direction"] == "none":
        return None
    return crossover["size"] if crossover.get("resolved") else NOT_RESOLVED


def _best_metric_entry(at_n_max, f, tol, context, n_max) -> dict | None:
    candidates = at_n_max[np.isclose(at_n_max["fraction_kept"], f) & (at_n_max["metric"] != BASELINE_METRIC)]
    if candidates.empty:
        return None
    groups = {f"{metric}/{keep}": runs for (metric, keep), runs in candidates.groupby(["metric", "keep"])}
    accuracies = {label: _accuracy(runs) for label, runs in groups.items()}
    errors = {label: _error(runs) for label, runs in groups.items()}
    ranked = sorted(sorted(errors), key=errors.get)
    best = ranked[0]
    margin = _accuracy_difference(groups[best], groups[ranked[1]]) if len(ranked) > 1 else None
    resolved = margin is not None and margin["resolved"]
    protocol = str(candidates["protocol"].iloc[0])
    fields = _difference_fields(margin) if margin else {}
    return _entry(f"best_metric_f{format_fraction(f)}", context["scale"], best if resolved else NOT_RESOLVED,
                  {"tie_abs": tol["accuracy_abs"]},
                  "metric/keep with the lowest eval_error (highest test accuracy), reported only when it beats "
                  "the runner-up by more "
                  f"than 1.96 standard errors (else '{NOT_RESOLVED}'); passes while the recorded one is within tol",
                  f"best pruning strategy at fraction kept f = {format_fraction(f)}, N = {n_max} ({protocol})",
                  context["command"],
                  {"accuracies": accuracies, "errors": errors, "highest": best,
                   "runner_up": ranked[1] if len(ranked) > 1 else None,
                   "margin": margin["value"] if margin else None, "initial_size": n_max, "protocol": protocol},
                  context["status"], **fields)


# ----------------------------------------------------------------------------------------------
# The claims of issue 14 (prunebench.scaling.claims)
# ----------------------------------------------------------------------------------------------

def claim_entries(config: dict, sweep: pd.DataFrame, scaling: dict | None) -> list[dict]:
    """Entries of every claim in ``headline.claims`` (none by default): pure functions of the sweep
    table and its scaling summary, seeded by the config's seed."""
    settings = headline_settings(config)
    unknown = sorted(set(settings["claims"]) - set(CLAIMS))
    if unknown:
        raise PrunebenchError(f"headline.claims has unknown claim(s) {', '.join(unknown)}; known: {', '.join(CLAIMS)}")
    scale = config["name"]
    context = {"scale": scale, "command": f"python -m prunebench headline build --config {scale}",
               "status": entry_status(scale, settings["anchor"]), "tol": settings["tolerance"],
               "n_boot": int((config.get("scaling") or {}).get("n_boot", 1000)), "seed": int(config.get("seed", 0))}
    metrics = _claim_metrics(config, settings, sweep)
    builders = {"crossover": _crossover_claims, "beyond_power_law": _beyond_claims, "no_loss": _no_loss_claims,
                "ranking_transfer": _ranking_claims}
    entries = []
    for claim in settings["claims"]:
        entries += builders[claim](sweep, scaling, settings, metrics, context)
    return entries


def _claim_metrics(config: dict, settings: dict, sweep: pd.DataFrame) -> list[str]:
    """``headline.claim_metrics``, else the panel metric first, then the other headline metrics."""
    if settings["claim_metrics"]:
        return list(settings["claim_metrics"])
    from prunebench.sweep.plan import sweep_settings

    metrics = _headline_metrics({**settings, "metrics": None}, sweep) if len(sweep) else []
    panel = sweep_settings(config)["panel_metric"]
    return sorted(metrics, key=lambda m: (m != panel, m))


def _claim_entry(name: str, claim: dict, tolerance: dict, units: str, description: str, context: dict) -> dict:
    return _entry(name, context["scale"], claim["value"], tolerance, units, description, context["command"],
                  claim["detail"], context["status"], interval=claim["interval"], n_seeds=claim["n_seeds"],
                  verdict=claim["verdict"])


def _claim_seed(context: dict, *keys) -> int:
    from prunebench.seeding import derive_seed

    return derive_seed(context["seed"], "claims", *keys)


def _crossover_claims(sweep, scaling, settings, metrics, context) -> list[dict]:
    from prunebench.scaling.claims import crossover_claim

    protocol = settings["protocol"]
    fractions = sorted(set(sweep.loc[sweep["fraction_kept"] < 1, "fraction_kept"].round(12)), reverse=True)
    return [_claim_entry(
        f"claim_crossover_{metric}_f{format_fraction(f)}", crossover_claim(sweep, protocol, metric, float(f)),
        {"rel": context["tol"]["crossover_rel"]}, "initial dataset size N (examples); interval: Fieller 95%",
        f"claim 1 (Sorscher et al. 2022, Fig. 1): keep easy beats keep hard at small N and keep hard wins at large N "
        f"({metric}, f = {format_fraction(f)}, {protocol}); value: N where the fitted paired gap "
        "hard - easy (linear in ln N) crosses 0", context) for metric in metrics for f in fractions]


def _beyond_claims(sweep, scaling, settings, metrics, context) -> list[dict]:
    from prunebench.scaling.claims import beyond_power_law_claim

    n_seeds = int(sweep["seed"].nunique()) if len(sweep) else 0
    return [_claim_entry(
        f"claim_beyond_power_law_{metric}", beyond_power_law_claim(scaling, settings["protocol"], metric, n_seeds),
        {"abs": context["tol"]["exponent_abs"]}, "exponent nu of the keep-hard frontier; interval: bootstrap-t 95%",
        f"claim 2 (Fig. 3): the keep-hard {metric} Pareto frontier over f falls faster than the f = 1 power law, "
        "calibrated one-sided test at alpha 0.05 with its false-positive rate measured on simulated power laws at "
        "this design and seed noise; control: the random frontier must not beat the f = 1 power law", context)
        for metric in metrics]


def _no_loss_claims(sweep, scaling, settings, metrics, context) -> list[dict]:
    from prunebench.scaling.claims import no_loss_claim

    strategies = [(RANDOM_METRIC, RANDOM_METRIC)] + [(m, keep) for m in metrics for keep in ("easy", "hard")]
    return [_claim_entry(
        f"claim_no_loss_{protocol}_{metric}_{keep}",
        no_loss_claim(sweep, protocol, metric, keep, context["n_boot"], _claim_seed(context, "no_loss", protocol,
                                                                                    metric, keep)),
        {"exact": True}, "fraction kept f (1 = nothing can be pruned); interval: seed bootstrap 95%",
        f"claim 3: the smallest f whose test accuracy at the largest N is within one standard error (over seeds, "
        f"paired by seed) of full data, at f and every larger f ({metric}/{keep}, {protocol})", context)
        for protocol in settings["no_loss_protocols"] for metric, keep in strategies]


def _ranking_claims(sweep, scaling, settings, metrics, context) -> list[dict]:
    from prunebench.scaling.claims import ranking_claim

    sizes = sorted(int(n) for n in sweep["initial_size"].unique())[:-1] if len(sweep) else []
    return [_claim_entry(
        f"claim_ranking_transfer_N{n}",
        ranking_claim(sweep, settings["protocol"], n, context["n_boot"], _claim_seed(context, "ranking", n)),
        {"abs": 0.1}, "pairwise decision accuracy (fraction of strategy pairs; 0.5 = chance); interval: seed "
        "bootstrap 95%",
        f"claim 4 (DataDecide, Magnusson et al. 2025): does the order of the static strategies' accuracies at N = {n} "
        f"agree with their order at the largest N (pairs averaged, pooled over f < 1, {settings['protocol']})", context)
        for n in sizes]


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
            {"kappa": solved.kappa, "reference": point.get("expected"), "method": solved.method},
            entry_status(THEORY_SCALE, False)))
    return entries


# ----------------------------------------------------------------------------------------------
# The headline file
# ----------------------------------------------------------------------------------------------

def read_headline(path: str | os.PathLike) -> dict:
    """The headline document (``{"convention", "entries"}``); one-line error when missing/damaged."""
    path = Path(path)
    if not path.is_file():
        scale = path.parent.name if path.parent.name != "results" else "ci"   # results/headline.json is ci's
        raise PrunebenchError(f"{path} not found; build it with `python -m prunebench headline build --config {scale}`")
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
    from prunebench.provenance import atomic_write

    text = json.dumps(document, indent=1, allow_nan=False) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text))


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
