"""Subset models over many jobs: ``metrics.models_per_job`` K splits a metric's subset models into chunks.

Feldman & Zhang's estimators (memorization, influence; :mod:`prunebench.metrics.memorization`)
train hundreds to thousands of subset models. At ImageNet-1k one metric job would train all of
them in sequence (1,000 ResNet-50 models on 70% of the data: ~930 GPU-h, docs/imagenet.md) against
a cluster's time limit. With ``metrics.models_per_job: K`` the workflow plans, per model set
(:class:`~prunebench.metrics.registry.ModelSet`: variants of a metric share one), ``ceil(M / K)``
``metrics_models`` jobs; job ``k`` trains models ``[k·K, (k+1)·K)`` of the set's global order and
caches each model's per-example outcome next to its run (``MetricContext.outcome``, N numbers).
The metric's own ``metrics_compute`` job then finds every run and outcome cached and only combines
them. The runs, their seeds and the scores are those of one job training them all (the probe cache
keys a run by its spec, not by the job that trained it); ``models_per_job`` is not part of any
score's identity. Null (the default) keeps everything in the metric's job.
"""

from __future__ import annotations

import math
import time

from prunebench.errors import PrunebenchError


def models_per_job(config: dict) -> int | None:
    """``metrics.models_per_job`` (None = the metric's job trains its subset models itself)."""
    value = (config.get("metrics") or {}).get("models_per_job")
    return None if value is None else int(value)


def model_set_of(config: dict, name: str):
    """``(ModelSet, params)`` of score name ``name`` (a metric or a variant), or ``(None, params)``."""
    from prunebench.metrics.compute import metric_params, resolve_score_name
    from prunebench.metrics.registry import get_metric

    metric, variant_params = resolve_score_name(config, name)
    return get_metric(metric).model_set, metric_params(config, metric, variant_params)


def chunked_sets(config: dict) -> dict[str, dict]:
    """``{set key: {"name": the first configured score name training it, "models": M, "chunks": J}}``
    for every model set of the configured metrics, when ``metrics.models_per_job`` is set (else ``{}``)."""
    per_job = models_per_job(config)
    if per_job is None:
        return {}
    metrics = config.get("metrics") or {}
    sets = {}
    for name in list(metrics.get("names") or []):
        model_set, params = model_set_of(config, name)
        if model_set is None or model_set.key in sets:
            continue
        total = int(model_set.count(metrics, params))
        sets[model_set.key] = {"name": name, "models": total, "chunks": math.ceil(total / per_job)}
    return sets


def chunk_of_score(config: dict, name: str) -> str | None:
    """The chunked model set score name ``name`` reads (its metrics_compute job waits for those chunks)."""
    model_set, _ = model_set_of(config, name)
    return model_set.key if model_set is not None and model_set.key in chunked_sets(config) else None


def chunk_slices(groups, chunk: int, per_job: int) -> list[tuple[str, object, int, list[int]]]:
    """``[(role, masks, epochs, row indices)]`` of chunk ``chunk``: the rows of the concatenated
    groups at global positions ``[chunk·K, (chunk+1)·K)``."""
    start, stop, offset, out = chunk * per_job, (chunk + 1) * per_job, 0, []
    for role, masks, epochs in groups:
        rows = [i for i in range(len(masks)) if start <= offset + i < stop]
        if rows:
            out.append((role, masks, epochs, rows))
        offset += len(masks)
    return out


def train_chunk(config: dict, set_key: str, chunk: int, *, device: str | None = None) -> dict:
    """Train chunk ``chunk`` of model set ``set_key`` and cache each model's outcome; a summary dict."""
    from prunebench.metrics.context import MetricContext
    from prunebench.metrics.registry import get_metric

    sets = chunked_sets(config)
    if set_key not in sets:
        known = ", ".join(sorted(sets)) or "none (set metrics.models_per_job and configure memorization or influence)"
        raise PrunebenchError(f"no chunked model set '{set_key}' in this config; chunked sets: {known}")
    entry = sets[set_key]
    if not 0 <= chunk < entry["chunks"]:
        raise PrunebenchError(f"model set '{set_key}' has chunks 0..{entry['chunks'] - 1}, got {chunk}")
    model_set, params = model_set_of(config, entry["name"])
    from prunebench.metrics.compute import resolve_score_name

    spec = get_metric(resolve_score_name(config, entry["name"])[0])
    ctx = MetricContext.from_config(config, device=device).for_metric(spec.reads)
    start, trained = time.perf_counter(), []
    for role, masks, epochs, rows in chunk_slices(model_set.plan(ctx, params), chunk, models_per_job(config)):
        for row, run in zip(rows, ctx.subset_runs(role, masks, epochs=epochs, only=rows)):
            ctx.outcome(run, "train", epochs, model_set.outcome(params))
            trained.append({"role": role, "row": int(row), "run": run.directory.name, "reused": bool(run.reused)})
    return {"model_set": set_key, "chunk": chunk, "chunks": entry["chunks"], "models": trained,
            "seconds": time.perf_counter() - start, "score_name": entry["name"]}
