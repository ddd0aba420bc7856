"""Compute one registered metric for a config and write its score table."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from prunebench.config import results_dir
from prunebench.metrics.context import MetricContext, score_label_smoothing
from prunebench.errors import PrunebenchError
from prunebench.metrics.registry import EVALUATION_SPLIT, get_metric, list_metrics
from prunebench.metrics.storage import write_scores
from prunebench.provenance import code_version, config_hash

log = logging.getLogger(__name__)

# Config sections a score depends on (its ``config_hash``); selection/sweep settings do not matter.
SCORE_SECTIONS = ("seed", "data", "probe")


def resolve_score_name(config: dict, name: str) -> tuple[str, dict]:
    """A score name → (registered metric, parameter overrides).

    A score name is a registered metric (``el2n``) or a named variant from ``metrics.variants``
    (e.g. ``el2n-1-model: {metric: el2n, params: {ensemble_size: 1}}``), which is how one config
    holds the paper's EL2N-1-model and EL2N-20-models, or influence-max and influence-sum-abs.
    """
    variants = (config.get("metrics") or {}).get("variants") or {}
    if name in variants:
        return variants[name]["metric"], dict(variants[name].get("params") or {})
    if name not in list_metrics():
        known = ", ".join(list_metrics() + sorted(variants))
        raise PrunebenchError(f"unknown metric '{name}'; registered metrics and configured variants: {known}")
    return name, {}


def metric_params(config: dict, name: str, overrides: dict | None = None) -> dict:
    """Defaults of metric ``name`` updated by ``metrics.<name>`` of the config and ``overrides``."""
    spec = get_metric(name)
    block = dict((config.get("metrics") or {}).get(name) or {})
    return spec.params({**block, **(overrides or {})})


def check_metric_blocks(config: dict) -> None:
    """Every key of the ``metrics`` section is a shared setting of its schema or a registered metric,
    whose block (and every variant's ``params``) holds only that metric's registered parameters.

    The registry is the source of truth: a new metric needs no schema edit, and a typo in a block
    name or a parameter is one line when the config is read, not when a score job runs.
    """
    from prunebench.config import section_schema
    from prunebench.metrics.registry import list_metrics

    metrics = config.get("metrics") or {}
    shared = {key for key, sub in section_schema("metrics")["properties"].items() if key not in list_metrics()}
    for key, block in metrics.items():
        if key in shared:
            continue
        if key not in list_metrics():
            raise PrunebenchError(f"metrics.{key} is neither a registered metric nor a setting of the metrics section; "
                                  f"use one of {', '.join(sorted(shared | set(list_metrics())))}")
        get_metric(key).params(block)
    for name, variant in sorted((metrics.get("variants") or {}).items()):
        if variant["metric"] not in list_metrics():
            raise PrunebenchError(f"metrics.variants.{name}: unknown metric '{variant['metric']}'; "
                                  f"registered: {', '.join(list_metrics())}")
        get_metric(variant["metric"]).params({**(metrics.get(variant["metric"]) or {}), **(variant.get("params") or {})})


def check_metric_names(config: dict) -> list[str]:
    """``metrics.names`` + variants, each checked against the registry, :func:`check_no_evaluation_split`
    and :func:`~prunebench.metrics.registry.check_metric_serves` (the config's task records what it needs);
    the section's blocks by :func:`check_metric_blocks`."""
    from prunebench.metrics.registry import check_metric_serves
    from prunebench.tasks import task_of_config

    check_metric_blocks(config)
    metrics = config.get("metrics") or {}
    names = list(metrics.get("names") or []) + sorted(metrics.get("variants") or {})
    task = task_of_config(config)
    for name in names:
        metric = resolve_score_name(config, name)[0]
        check_no_evaluation_split(name, metric)
        check_metric_serves(task, metric)
    return names


def check_no_evaluation_split(name: str, metric: str) -> None:
    """Refuse a metric that declares it reads the sweep's evaluation split (its scores would leak test labels)."""
    if EVALUATION_SPLIT in get_metric(metric).reads:
        raise PrunebenchError(f"metric '{name}' reads the '{EVALUATION_SPLIT}' split the sweep evaluates on, so selecting "
                              f"with it would use test labels; estimate it on a held-out part of the training set "
                              f"(register_metric(..., reads=('train',))) or drop it from metrics.names")


def score_config_hash(config: dict, name: str, params: dict) -> str:
    """Hash of what fixes a metric's scores: seed, data, probe, shared probe settings, its parameters."""
    metrics = config.get("metrics") or {}
    shared = {k: metrics.get(k) for k in ("ensemble", "subsample")}
    shared["label_smoothing"] = score_label_smoothing(config)
    return config_hash({**{k: config.get(k) for k in SCORE_SECTIONS}, "shared": shared, "metric": name, "params": params})


def default_score_path(config: dict, name: str) -> Path:
    return results_dir(config) / "scores" / f"{name}.parquet"


def compute_metric(config: dict, name: str, *, out: str | Path | None = None, overrides: dict | None = None,
                   ctx: MetricContext | None = None, device: str | None = None) -> Path:
    """Run metric ``name`` for ``config`` and write ``results/<config>/scores/<name>.parquet`` (or ``out``)."""
    metric, variant_params = resolve_score_name(config, name)
    spec = get_metric(metric)
    params = metric_params(config, metric, {**variant_params, **(overrides or {})})
    check_no_evaluation_split(name, metric)
    from prunebench.metrics.registry import check_metric_serves
    from prunebench.tasks import task_of_config

    check_metric_serves(task_of_config(config), metric)
    ctx = (ctx or MetricContext.from_config(config, device=device)).for_metric(spec.reads)
    start, trained_before = time.perf_counter(), ctx.probe_seconds
    result = spec.fn(ctx, params)
    compute_s = time.perf_counter() - start
    # Stand-alone cost: the probe runs' training time (also when re-used) plus this metric's own work.
    own_s = max(compute_s - (ctx.probe_seconds - trained_before), 0.0)
    provenance = {
        "metric": metric, "score_name": name, "variant": result.variant,
        "config_hash": score_config_hash(config, metric, params),
        "seed": ctx.seed, "seeds": result.seeds, "code_version": code_version(), "probe_epochs": result.probe_epochs,
        "cost_probe_epochs": result.cost_probe_epochs, "wall_time_s": result.probe_wall_time_s + own_s,
        "compute_time_s": compute_s, "reused_probe_runs": result.reused_runs, "params": params,
        "dataset_checksum": ctx.train_set.checksum, "n_models": result.n_models,
        "label_smoothing": ctx.label_smoothing, "target_split": result.target_split,
    }
    path = Path(out) if out else default_score_path(config, name)
    write_scores(path, ctx.train_set.ids, result.scores, provenance, score_se=result.score_se,
                 columns=(result.extra or {}).get("columns"))
    log.info("%s: %d scores -> %s (%.1f s here, %.1f s stand-alone, %.1f probe-epochs)", name, len(result.scores), path,
             compute_s, provenance["wall_time_s"], result.cost_probe_epochs)
    return path

