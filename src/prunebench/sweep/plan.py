"""The sweep grid: which points to run, and where each point's row lives.

A point is (protocol, initial size N, metric, keep, fraction kept f, seed). The grid of a config is

* the shared full-data baseline: protocol ``fixed_epochs``, metric ``none``, keep ``all``, f = 1,
  one per (N, seed) — used by the analysis for every metric and protocol (f = 1 is the same run
  under both protocols);
* for every protocol, metric, keep and f < 1: one pruned point per (N, seed). The ``random`` metric
  has a single keep value, ``random`` (keep-easy and keep-hard are the same thing for it). Under
  selection rule ``ccs`` every other metric has the single keep value ``ccs`` (CCS chooses which
  difficulty levels to keep by itself, so keep-easy and keep-hard would be two draws of one rule).
  ``fixed_compute`` is run for ``sweep.fixed_compute_metrics`` only (all metrics when null); an
  item is a metric (every keep mode) or ``metric/keep``.
* protocols are registered in :mod:`prunebench.sweep.protocols`; the baselines there (rs2,
  compressed_schedule, infobatch) have their own run-file (metric, keep) labels;
* the protocols planned are ``sweep.protocols`` (over the whole grid) and the keys of
  ``sweep.protocol_cells`` (only at the cells listed there: ``sizes``, ``strategies``, ``fractions``,
  ``seeds``, each a subset of the sweep's; a protocol in both runs only at its cells). Points of
  the protocols of ``protocol_cells`` come after all others, so an added entry leaves the order
  (and the shards) of the existing points unchanged.

Run files: ``results/<name>/runs/<protocol>/N<N>/<metric>/<keep>/f<f>/seed<seed>.json``.
Score tables a point reads (:func:`score_table_path`, ``sweep.score_source``):
``results/<name>/scores/subset/N<N>/seed<seed>/<metric>.parquet`` (``initial_subset``: probes trained
on the point's N initial examples only) or ``results/<name>/scores/<metric>.parquet`` (``full``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from prunebench.sweep.protocols import get_protocol, list_protocols

PROTOCOLS = tuple(list_protocols())  # the registry's names (prunebench.sweep.protocols)
CELL_KEYS = ("sizes", "strategies", "fractions", "seeds")
BASELINE_METRIC, BASELINE_KEEP, RANDOM_METRIC = "none", "all", "random"
CCS_KEEP = "ccs"  # = prunebench.selection.CCS_KEEP (not imported: the rule files read this module at parse time)
SCORE_SOURCES = ("initial_subset", "full")
DEFAULTS = {
    "sizes": [],
    "fractions_kept": [1.0, 0.8, 0.5, 0.3],
    "metrics": ["random", "el2n"],
    "keep": ["easy", "hard"],
    "seeds": [0],
    "protocols": ["fixed_epochs"],
    "fixed_compute_metrics": None,
    "protocol_cells": {},
    "test_size": None,
    "class_balance": None,
    "selection_rule": None,
    "score_source": "initial_subset",
    "train": {},
    "threads": 1,
    "shard_size": 0,
    "panel_metric": None,
    "resources": {},
}


def sweep_settings(config: dict) -> dict:
    """The ``sweep`` section with defaults filled in."""
    return {**DEFAULTS, **(config.get("sweep") or {})}


def format_fraction(fraction_kept: float) -> str:
    """Path/label form of f: ``1``, ``0.8``, ``0.25`` (``%g``)."""
    return f"{float(fraction_kept):g}"


@dataclass(frozen=True, order=True)
class SweepPoint:
    """One training run of the sweep."""

    protocol: str
    initial_size: int
    metric: str
    keep: str
    fraction_kept: float
    seed: int

    @property
    def is_baseline(self) -> bool:
        return self.metric == BASELINE_METRIC

    def relative_path(self) -> str:
        """``<protocol>/N<N>/<metric>/<keep>/f<f>/seed<seed>.json`` under ``results/<name>/runs/``."""
        return (f"{self.protocol}/N{self.initial_size}/{self.metric}/{self.keep}/"
                f"f{format_fraction(self.fraction_kept)}/seed{self.seed}.json")

    def baseline(self) -> "SweepPoint":
        """The shared f = 1 run at this point's N and seed."""
        return baseline_point(self.initial_size, self.seed)

    def to_dict(self) -> dict:
        return asdict(self)


def baseline_point(initial_size: int, seed: int) -> SweepPoint:
    return SweepPoint("fixed_epochs", int(initial_size), BASELINE_METRIC, BASELINE_KEEP, 1.0, int(seed))


def sweep_rule(config: dict) -> str:
    """The sweep's selection rule: ``sweep.selection_rule``, else ``selection.rule`` (default topk)."""
    return sweep_settings(config)["selection_rule"] or (config.get("selection") or {}).get("rule") or "topk"


def keep_modes(metric: str, keep: list[str], rule: str = "topk") -> list[str]:
    """``["random"]`` for the random metric, ``["ccs"]`` under rule ccs, else the configured keep modes."""
    if metric == RANDOM_METRIC:
        return [RANDOM_METRIC]
    return [CCS_KEEP] if rule == "ccs" else list(keep)


def score_table_path(results: str | Path, point: "SweepPoint", score_source: str) -> Path | None:
    """The score table ``point`` selects with (None for the baseline and the random metric)."""
    if point.is_baseline or point.metric == RANDOM_METRIC or get_protocol(point.protocol).trains_on != "kept":
        return None
    if score_source not in SCORE_SOURCES:
        from prunebench.errors import PrunebenchError

        raise PrunebenchError(f"unknown sweep.score_source '{score_source}'; use one of: {', '.join(SCORE_SOURCES)}")
    if score_source == "full":
        return Path(results) / "scores" / f"{point.metric}.parquet"
    return Path(results) / "scores" / "subset" / f"N{point.initial_size}" / f"seed{point.seed}" / f"{point.metric}.parquet"


def plan_points(config: dict) -> list[SweepPoint]:
    """Every point of the config's sweep, baselines first, in a stable order."""
    settings = sweep_settings(config)
    check_metrics(config)
    points = [baseline_point(n, seed) for n in settings["sizes"] for seed in settings["seeds"]]
    for name in planned_protocols(config):
        points += protocol_points(config, name)
    return points


def planned_protocols(config: dict) -> list[str]:
    """``sweep.protocols``, then the ``sweep.protocol_cells`` keys not among them (each one registered)."""
    settings = sweep_settings(config)
    names = list(settings["protocols"]) + [p for p in (settings["protocol_cells"] or {}) if p not in settings["protocols"]]
    for name in names:
        get_protocol(name)
    return names


def static_strategies(config: dict) -> list[tuple[str, str]]:
    """The sweep's own (metric, keep) strategies: ``sweep.metrics`` x their keep modes."""
    settings, rule = sweep_settings(config), sweep_rule(config)
    return [(metric, keep) for metric in settings["metrics"] for keep in keep_modes(metric, settings["keep"], rule)]


def protocol_points(config: dict, name: str) -> list[SweepPoint]:
    """The points of one protocol: its strategies x sizes x fractions x seeds, limited to its cells."""
    settings, protocol = sweep_settings(config), get_protocol(name)
    cells = protocol_cells(config, name)
    fractions = [float(f) for f in settings["fractions_kept"] if float(f) < 1.0] if protocol.per_fraction else [1.0]
    return [SweepPoint(name, int(n), metric, keep, f, int(s))
            for metric, keep in protocol.strategies(settings, static_strategies(config))
            if _chosen(cells["strategies"], metric, keep)
            for n in cells["sizes"] for f in fractions if cells["fractions"] is None or f in cells["fractions"]
            for s in cells["seeds"]]


def protocol_cells(config: dict, name: str) -> dict:
    """Where protocol ``name`` runs: its ``sweep.protocol_cells`` entry over the sweep's own grid
    (absent keys: the whole grid; ``strategies``/``fractions`` None = all), each checked to be a
    subset of the sweep's, else one error line."""
    from prunebench.errors import PrunebenchError

    settings = sweep_settings(config)
    entry = dict((settings["protocol_cells"] or {}).get(name) or {})
    from prunebench.config import check_known_keys

    check_known_keys(entry, CELL_KEYS, where=f"sweep.protocol_cells.{name}", fix=f"use {', '.join(CELL_KEYS)}")
    cells = {"sizes": [int(n) for n in entry.get("sizes", settings["sizes"])],
             "seeds": [int(s) for s in entry.get("seeds", settings["seeds"])],
             "fractions": None if entry.get("fractions") is None else [float(f) for f in entry["fractions"]],
             "strategies": entry.get("strategies")}
    _check_subset(name, "sizes", cells["sizes"], [int(n) for n in settings["sizes"]])
    _check_subset(name, "seeds", cells["seeds"], [int(s) for s in settings["seeds"]])
    if cells["fractions"] is not None:
        allowed = [float(f) for f in settings["fractions_kept"] if float(f) < 1.0] if get_protocol(name).per_fraction \
            else [1.0]
        _check_subset(name, "fractions", cells["fractions"], allowed)
    if cells["strategies"] is not None:
        offered = get_protocol(name).strategies(settings, static_strategies(config))
        missing = [item for item in cells["strategies"] if not any(_chosen([item], m, k) for m, k in offered)]
        if missing:
            raise PrunebenchError(f"sweep.protocol_cells.{name}.strategies {missing} are not strategies of {name} here; "
                                  f"use metric or metric/keep among {[f'{m}/{k}' for m, k in offered]}")
    return cells


def _check_subset(name: str, key: str, chosen: list, allowed: list) -> None:
    from prunebench.errors import PrunebenchError

    extra = [value for value in chosen if value not in allowed]
    if extra:
        raise PrunebenchError(f"sweep.protocol_cells.{name}.{key} {extra} are not in the sweep's grid {allowed}; "
                              f"a protocol's cells are a subset of the sweep's")


def _chosen(items, metric: str, keep: str) -> bool:
    """True when ``items`` (None = all) names the metric or ``metric/keep``."""
    return items is None or metric in items or f"{metric}/{keep}" in items


def check_metrics(config: dict) -> None:
    """Every sweep metric but random needs a score table, so it must be one of ``metrics.names``."""
    from prunebench.errors import PrunebenchError

    names = (config.get("metrics") or {}).get("names")
    missing = [m for m in sweep_settings(config)["metrics"] if m != RANDOM_METRIC and names is not None and m not in names]
    if missing:
        raise PrunebenchError(f"sweep.metrics {missing} have no score table at this scale; add them to metrics.names "
                              f"({names}) or remove them from sweep.metrics")


def check_point_rule(config: dict, point: SweepPoint) -> None:
    """A metric point's keep mode must fit the sweep's rule: ``ccs`` under rule ccs, else one of the
    rule's registered keep modes (topk: easy/hard; window: low/medium/high)."""
    from prunebench.errors import PrunebenchError
    from prunebench.selection import get_rule

    if point.is_baseline or point.metric == RANDOM_METRIC or get_protocol(point.protocol).labels:
        return
    rule = sweep_rule(config)
    wanted = [CCS_KEEP] if rule == "ccs" else [keep for keep in get_rule(rule).keeps if keep != CCS_KEEP]
    if point.keep not in wanted:
        raise PrunebenchError(f"keep '{point.keep}' does not fit selection rule '{rule}' of this sweep; "
                              f"use keep {' or '.join(wanted)}")


def parse_point(protocol: str, initial_size, metric: str, keep: str, fraction_kept, seed) -> SweepPoint:
    """A point from CLI/wildcard strings, checked for consistency."""
    point = SweepPoint(get_protocol(protocol).name, int(initial_size), metric, keep, float(fraction_kept), int(seed))
    if get_protocol(protocol).labels:
        _check_labelled_point(point)
    else:
        _check_static_point(point)
    return point


def _check_static_point(point: SweepPoint) -> None:
    """The sweep's own strategies: f = 1 only for the shared baseline, random/ccs keep rules."""
    from prunebench.errors import PrunebenchError

    metric, keep, protocol = point.metric, point.keep, point.protocol
    if point.is_baseline != (point.fraction_kept == 1.0) or point.is_baseline != (keep == BASELINE_KEEP):
        raise PrunebenchError(
            f"f=1 runs are the shared baseline (metric '{BASELINE_METRIC}', keep '{BASELINE_KEEP}'), and only they; "
            f"got metric={metric} keep={keep} f={format_fraction(point.fraction_kept)}")
    if (metric == RANDOM_METRIC) != (keep == RANDOM_METRIC):
        raise PrunebenchError(f"the random metric has the single keep mode 'random' (got metric={metric}, keep={keep})")
    if keep == CCS_KEEP and metric in (RANDOM_METRIC, BASELINE_METRIC):
        raise PrunebenchError(f"keep '{CCS_KEEP}' is the selection rule ccs on a metric's scores (got metric={metric})")
    if point.is_baseline and protocol != "fixed_epochs":
        raise PrunebenchError("the f=1 baseline is run once, under protocol fixed_epochs (it is the same run for both)")
    from prunebench.sweep.protocols import static_keeps

    if keep not in static_keeps():
        raise PrunebenchError(f"keep '{keep}' is not a keep mode of protocol {protocol}; "
                              f"use {', '.join(k for k in static_keeps() if k != BASELINE_KEEP)}")


def _check_labelled_point(point: SweepPoint) -> None:
    """A baseline protocol's point: one of its (metric, keep) labels, f < 1 or (per_fraction False) f = 1."""
    from prunebench.errors import PrunebenchError

    protocol = get_protocol(point.protocol)
    if (point.metric, point.keep) not in protocol.labels:
        raise PrunebenchError(f"protocol {protocol.name} has the run-file labels "
                              f"{[f'{m}/{k}' for m, k in protocol.labels]} (got {point.metric}/{point.keep})")
    if protocol.per_fraction == (point.fraction_kept == 1.0) or not 0.0 < point.fraction_kept <= 1.0:
        wanted = "a fraction kept f < 1" if protocol.per_fraction else "f = 1 (it does not depend on f)"
        raise PrunebenchError(f"protocol {protocol.name} runs at {wanted}; got f={format_fraction(point.fraction_kept)}")


# --- step budgets (``sweep.step_budgets``): every arm at several optimizer-step budgets ----------------
#
# A step-based recipe (``probe.steps``, the retrieval task) trains every point of the plan for the
# recipe's steps. ``sweep.step_budgets: [32, 128]`` trains the same plan again at each other budget B:
# budget B's config is the scale's with ``sweep.train.steps = B`` (:func:`budget_config`), its points
# are the plan of that config (:func:`budget_points`), and everything of it lives under
# ``results/<name>/steps<B>/``: run files ``steps<B>/runs/<protocol>/N<N>/<metric>/<keep>/f<f>/seed<s>.json``,
# its own sweep table ``steps<B>/sweep.parquet`` (its rows carry ``step_budget`` = B and ``train_steps``).
# The recipe's own budget (which the list must contain) is the scale's sweep itself, at the paths above
# (``runs/...``, ``sweep.parquet``): with the key absent nothing about a config changes. Tables of
# different budgets are never concatenated (the sweep table refuses duplicate coordinates, and a
# point's ``config_hash`` differs per budget); what compares budgets reads one table per budget.

BUDGET_KEY = "step_budgets"


def recipe_steps(config: dict) -> int | None:
    """The optimizer steps of the sweep's recipe (``probe.steps`` overridden by ``sweep.train.steps``);
    None for an epoch-based recipe."""
    steps = {**(config.get("probe") or {}), **((config.get("sweep") or {}).get("train") or {})}.get("steps")
    return None if steps is None else int(steps)


def step_budgets(config: dict) -> list[int]:
    """``sweep.step_budgets`` in ascending order ([] when absent), checked: distinct positive integers
    of a step-based recipe, one of them the recipe's own steps (else one line naming the fix)."""
    from prunebench.errors import PrunebenchError

    budgets = (config.get("sweep") or {}).get(BUDGET_KEY)
    if not budgets:
        return []
    if not isinstance(budgets, (list, tuple)) or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0
                                                          for b in budgets) or len(set(budgets)) != len(budgets):
        raise PrunebenchError(f"sweep.{BUDGET_KEY} {budgets!r}: give distinct positive optimizer-step counts, "
                              f"e.g. [32, 128]")
    own = recipe_steps(config)
    if own is None:
        raise PrunebenchError(f"sweep.{BUDGET_KEY} needs a step-based recipe (probe.steps, e.g. task retrieval); "
                              f"this recipe trains for epochs: drop sweep.{BUDGET_KEY}")
    if own not in budgets:
        raise PrunebenchError(f"sweep.{BUDGET_KEY} {list(budgets)} must contain the recipe's own steps ({own}: "
                              f"probe.steps / sweep.train.steps), the budget of the scale's own sweep; add {own}")
    return sorted(int(b) for b in budgets)


def extra_budgets(config: dict) -> list[int]:
    """The budgets of ``sweep.step_budgets`` other than the recipe's own (each its own sub-sweep)."""
    own = recipe_steps(config)
    return [b for b in step_budgets(config) if b != own]


def budget_config(config: dict, steps: int) -> dict:
    """The config every point of budget ``steps`` trains under: ``sweep.train.steps = steps`` and no
    ``sweep.step_budgets`` (the recipe's own budget: the config itself, without the key)."""
    sweep = {key: value for key, value in (config.get("sweep") or {}).items() if key != BUDGET_KEY}
    if int(steps) != recipe_steps(config):
        sweep["train"] = {**(sweep.get("train") or {}), "steps": int(steps)}
    return {**config, "sweep": sweep}


def budget_folder(steps: int) -> str:
    """``steps<B>``: the folder of budget B under ``results/<name>/``."""
    return f"steps{int(steps)}"


@dataclass(frozen=True, order=True)
class BudgetPoint:
    """A point of the plan trained at another step budget (``sweep.step_budgets``)."""

    steps: int
    point: SweepPoint

    def relative_path(self) -> str:
        """``steps<B>/runs/<protocol>/N<N>/<metric>/<keep>/f<f>/seed<seed>.json`` under ``results/<name>/``."""
        return f"{budget_folder(self.steps)}/runs/{self.point.relative_path()}"


def budget_points(config: dict) -> list[BudgetPoint]:
    """The points of every budget but the recipe's own, budget by budget, each in its plan's order."""
    return [BudgetPoint(steps, point) for steps in extra_budgets(config)
            for point in plan_points(budget_config(config, steps))]
