"""Compute one registered metric for a config and write its score table."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from prunebench.config import results_dir
from prunebench.metrics.context import MetricContext
from prunebench.metrics.registry import get_metric
from prunebench.metrics.storage import write_scores
from prunebench.provenance import code_version, config_hash

log = logging.getLogger(__name__)

# Config sections a score depends on (its ``config_hash``); selection/sweep settings do not matter.
SCORE_SECTIONS = ("seed", "data", "probe")


def metric_params(config: dict, name: str, overrides: dict | None = None) -> dict:
    """Defaults of metric ``name`` updated by ``metrics.<name>`` of the config and ``overrides``."""
    spec = get_metric(name)
    block = dict((config.get("metrics") or {}).get(name) or {})
    return spec.params({**block, **(overrides or {})})


def score_config_hash(config: dict, name: str, params: dict) -> str:
    """Hash of what fixes a metric's scores: seed, data, probe, shared probe settings, its parameters."""
    metrics = config.get("metrics") or {}
    shared = {k: metrics.get(k) for k in ("ensemble", "subsample")}
    return config_hash({**{k: config.get(k) for k in SCORE_SECTIONS}, "shared": shared, "metric": name, "params": params})


def default_score_path(config: dict, name: str) -> Path:
    return results_dir(config) / "scores" / f"{name}.parquet"


def compute_metric(config: dict, name: str, *, out: str | Path | None = None, overrides: dict | None = None,
                   ctx: MetricContext | None = None, device: str | None = None) -> Path:
    """Run metric ``name`` for ``config`` and write ``results/<config>/scores/<name>.parquet`` (or ``out``)."""
    spec = get_metric(name)
    params = metric_params(config, name, overrides)
    ctx = ctx or MetricContext.from_config(config, device=device)
    start, trained_before = time.perf_counter(), ctx.probe_seconds
    result = spec.fn(ctx, params)
    compute_s = time.perf_counter() - start
    # Stand-alone cost: the probe runs' training time (also when re-used) plus this metric's own work.
    own_s = max(compute_s - (ctx.probe_seconds - trained_before), 0.0)
    provenance = {
        "metric": name, "variant": result.variant, "config_hash": score_config_hash(config, name, params),
        "seed": ctx.seed, "seeds": result.seeds, "code_version": code_version(), "probe_epochs": result.probe_epochs,
        "cost_probe_epochs": result.cost_probe_epochs, "wall_time_s": result.probe_wall_time_s + own_s,
        "compute_time_s": compute_s, "reused_probe_runs": result.reused_runs, "params": params,
        "dataset_checksum": ctx.train_set.checksum,
    }
    path = Path(out) if out else default_score_path(config, name)
    write_scores(path, ctx.train_set.ids, result.scores, provenance)
    log.info("%s: %d scores -> %s (%.1f s here, %.1f s stand-alone, %.1f probe-epochs)", name, len(result.scores), path,
             compute_s, provenance["wall_time_s"], result.cost_probe_epochs)
    return path

