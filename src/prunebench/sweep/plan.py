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

Run files: ``results/<name>/runs/<protocol>/N<N>/<metric>/<keep>/f<f>/seed<seed>.json``.
Score tables a point reads (:func:`score_table_path`, ``sweep.score_source``):
``results/<name>/scores/subset/N<N>/seed<seed>/<metric>.parquet`` (``initial_subset``: probes trained
on the point's N initial examples only) or ``results/<name>/scores/<metric>.parquet`` (``full``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

PROTOCOLS = ("fixed_epochs", "fixed_compute")
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
    if point.is_baseline or point.metric == RANDOM_METRIC:
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
    rule = sweep_rule(config)
    points = [baseline_point(n, seed) for n in settings["sizes"] for seed in settings["seeds"]]
    pruned_fractions = [float(f) for f in settings["fractions_kept"] if float(f) < 1.0]
    for protocol in settings["protocols"]:
        for metric in settings["metrics"]:
            for keep in keep_modes(metric, settings["keep"], rule):
                if not _in_protocol(settings, protocol, metric, keep):
                    continue
                points += [SweepPoint(protocol, int(n), metric, keep, f, int(s))
                           for n in settings["sizes"] for f in pruned_fractions for s in settings["seeds"]]
    return points


def _in_protocol(settings: dict, protocol: str, metric: str, keep: str) -> bool:
    """fixed_compute runs only the strategies named in ``fixed_compute_metrics`` (metric or metric/keep)."""
    chosen = settings["fixed_compute_metrics"]
    return protocol != "fixed_compute" or chosen is None or metric in chosen or f"{metric}/{keep}" in chosen


def check_metrics(config: dict) -> None:
    """Every sweep metric but random needs a score table, so it must be one of ``metrics.names``."""
    from prunebench.errors import PrunebenchError

    names = (config.get("metrics") or {}).get("names")
    missing = [m for m in sweep_settings(config)["metrics"] if m != RANDOM_METRIC and names is not None and m not in names]
    if missing:
        raise PrunebenchError(f"sweep.metrics {missing} have no score table at this scale; add them to metrics.names "
                              f"({names}) or remove them from sweep.metrics")


def check_point_rule(config: dict, point: SweepPoint) -> None:
    """A metric point's keep mode must fit the sweep's rule: ``ccs`` under rule ccs, easy/hard under topk."""
    from prunebench.errors import PrunebenchError

    if point.is_baseline or point.metric == RANDOM_METRIC:
        return
    rule = sweep_rule(config)
    if (point.keep == CCS_KEEP) != (rule == "ccs"):
        wanted = CCS_KEEP if rule == "ccs" else "easy or hard"
        raise PrunebenchError(f"keep '{point.keep}' does not fit selection rule '{rule}' of this sweep; use keep {wanted}")


def parse_point(protocol: str, initial_size, metric: str, keep: str, fraction_kept, seed) -> SweepPoint:
    """A point from CLI/wildcard strings, checked for consistency."""
    from prunebench.errors import PrunebenchError

    if protocol not in PROTOCOLS:
        raise PrunebenchError(f"unknown protocol '{protocol}'; use one of: {', '.join(PROTOCOLS)}")
    point = SweepPoint(protocol, int(initial_size), metric, keep, float(fraction_kept), int(seed))
    if point.is_baseline != (point.fraction_kept == 1.0) or point.is_baseline != (keep == BASELINE_KEEP):
        raise PrunebenchError(
            f"f=1 runs are the shared baseline (metric '{BASELINE_METRIC}', keep '{BASELINE_KEEP}'), and only they; "
            f"got metric={metric} keep={keep} f={format_fraction(fraction_kept)}")
    if (metric == RANDOM_METRIC) != (keep == RANDOM_METRIC):
        raise PrunebenchError(f"the random metric has the single keep mode 'random' (got metric={metric}, keep={keep})")
    if keep == CCS_KEEP and metric in (RANDOM_METRIC, BASELINE_METRIC):
        raise PrunebenchError(f"keep '{CCS_KEEP}' is the selection rule ccs on a metric's scores (got metric={metric})")
    if point.is_baseline and protocol != "fixed_epochs":
        raise PrunebenchError("the f=1 baseline is run once, under protocol fixed_epochs (it is the same run for both)")
    return point
