"""The sweep grid: which points to run, and where each point's row lives.

A point is (protocol, initial size N, metric, keep, fraction kept f, seed). The grid of a config is

* the shared full-data baseline: protocol ``fixed_epochs``, metric ``none``, keep ``all``, f = 1,
  one per (N, seed) — used by the analysis for every metric and protocol (f = 1 is the same run
  under both protocols);
* for every protocol, metric, keep and f < 1: one pruned point per (N, seed). The ``random`` metric
  has a single keep value, ``random`` (keep-easy and keep-hard are the same thing for it).
  ``fixed_compute`` is run for ``sweep.fixed_compute_metrics`` only (all metrics when null); an
  item is a metric (every keep mode) or ``metric/keep``.

Run files: ``results/<name>/runs/<protocol>/N<N>/<metric>/<keep>/f<f>/seed<seed>.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

PROTOCOLS = ("fixed_epochs", "fixed_compute")
BASELINE_METRIC, BASELINE_KEEP, RANDOM_METRIC = "none", "all", "random"
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
    "train": {},
    "threads": 1,
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


def keep_modes(metric: str, keep: list[str]) -> list[str]:
    """``["random"]`` for the random metric, else the configured keep modes."""
    return [RANDOM_METRIC] if metric == RANDOM_METRIC else list(keep)


def plan_points(config: dict) -> list[SweepPoint]:
    """Every point of the config's sweep, baselines first, in a stable order."""
    settings = sweep_settings(config)
    check_metrics(config)
    points = [baseline_point(n, seed) for n in settings["sizes"] for seed in settings["seeds"]]
    pruned_fractions = [float(f) for f in settings["fractions_kept"] if float(f) < 1.0]
    for protocol in settings["protocols"]:
        for metric in settings["metrics"]:
            for keep in keep_modes(metric, settings["keep"]):
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
    if point.is_baseline and protocol != "fixed_epochs":
        raise PrunebenchError("the f=1 baseline is run once, under protocol fixed_epochs (it is the same run for both)")
    return point
