"""Score tables of one sweep replicate's initial dataset (``sweep.score_source: initial_subset``).

For initial size N and replicate s the sweep trains on the class-balanced subsample
``balanced_subsample(labels, N, derive_seed(seed, "sweep-subset", s))`` of the configured train set
(:func:`prunebench.sweep.point.initial_positions`). Scoring that subset means running the metric's
own code, :func:`prunebench.metrics.compute.compute_metric`, with a
:class:`~prunebench.metrics.context.MetricContext` whose ``train_set`` is those N examples: every
probe the metric asks for (shared ensemble, subset models, SimCLR encoder) is trained on them only,
so the selection at that point uses no label it does not train on. Probe runs are cached under
``results/<name>/probes/`` keyed by the ids they train on, so the metrics of one (N, s) share them.

Table: ``results/<name>/scores/subset/N<N>/seed<s>/<metric>.parquet``
(:func:`prunebench.sweep.plan.score_table_path`), N rows, the usual provenance; its
``cost_probe_epochs`` and ``wall_time_s`` are what the point's row reports as the scoring cost.
"""

from __future__ import annotations

from pathlib import Path

from prunebench.config import results_dir
from prunebench.sweep.plan import SweepPoint, score_table_path


def initial_subset(config: dict, initial_size: int, replicate: int, train_set=None):
    """The N-example initial dataset of replicate ``replicate`` (a subset of the task's train split,
    keeping the ids)."""
    from prunebench.sweep.point import initial_positions, point_seeds
    from prunebench.tasks import task_of_config

    train_set = task_of_config(config).load_split(config["data"], "train") if train_set is None else train_set
    point = SweepPoint("fixed_epochs", int(initial_size), "none", "all", 1.0, int(replicate))
    return train_set.subset(initial_positions(train_set.labels, point, point_seeds(config, point)))


def compute_subset_scores(config: dict, metric: str, initial_size: int, replicate: int, *, out=None,
                          device: str | None = None, train_set=None) -> Path:
    """Score the (N, replicate) initial dataset with ``metric``, probes trained on it alone."""
    from prunebench.metrics.compute import compute_metric
    from prunebench.metrics.context import MetricContext

    subset = initial_subset(config, initial_size, replicate, train_set)
    ctx = MetricContext.from_config(config, device=device, train_set=subset)
    point = SweepPoint("fixed_epochs", int(initial_size), metric, "hard", 0.5, int(replicate))
    path = out or score_table_path(results_dir(config), point, "initial_subset")
    return compute_metric(config, metric, out=path, ctx=ctx)
