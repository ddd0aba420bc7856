"""``pretrained-similarity``: OPERA's static-pruning score (Fang et al. 2026, ``opera/pruning/remove_positives.py``)."""

from __future__ import annotations

import time

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.registry import MetricResult, register_metric


@register_metric("pretrained-similarity", defaults={"batch_size": 64}, needs=("embedding",), needs_labels=False,
                 reference="Fang et al. 2026, OPERA (arXiv 2603.17205), static pruning score")
def pretrained_similarity(ctx, params):
    """Score = −cos(query, positive document) of each training pair under the pretrained encoder.

    The retrieval task's ``embedding`` output of a pair is its normalised query embedding and
    positive-document embedding side by side, so the similarity is the dot product of the two halves,
    read from a fresh, untrained copy of the task's encoder (``build_model``). Suite convention: higher
    score = harder, so the stored score is the **negated** similarity: a low-similarity pair is "hard".
    OPERA's SP ("keep the highest-similarity pairs", mode ``ep``) is therefore selection with
    **keep easy** (lowest score); keep hard is OPERA's ``hp`` mode. No training, no labels beyond the
    pairs themselves.
    """
    from prunebench.tasks import task_of_config

    task = task_of_config(ctx.config)
    if task.name != "retrieval":
        raise PrunebenchError(f"metric 'pretrained-similarity' scores (query, positive document) pairs of the "
                              f"retrieval task, but this config's task is '{task.name}'; set task: retrieval or "
                              f"drop the metric from metrics.names")
    # the encoder the sweep fine-tunes (probe section with sweep.train over it): same weights, same max_seq_length
    recipe = {**(ctx.config.get("probe") or {}), **((ctx.config.get("sweep") or {}).get("train") or {})}
    from prunebench.tasks.retrieval.training import RECIPE_DEFAULTS

    encoder_cfg = {k: recipe[k] for k in ("encoder", "model_dir", "max_seq_length", "encoder_seed") if k in recipe}
    start = time.perf_counter()
    model = task.build_model(encoder_cfg, ctx.train_set, ctx.seed)
    emb = task.example_outputs(model, ctx.train_set, ("embedding",),
                               train_cfg={**encoder_cfg, "eval_batch_size": int(params["batch_size"]
                                                                                or RECIPE_DEFAULTS["eval_batch_size"])})
    emb = np.asarray(emb["embedding"], dtype=np.float64)
    half = emb.shape[1] // 2
    similarity = np.einsum("ij,ij->i", emb[:, :half], emb[:, half:])
    return MetricResult(scores=-similarity, variant="neg-cosine,pretrained", probe_wall_time_s=time.perf_counter() - start,
                        extra={"mean_similarity": float(similarity.mean()) if len(similarity) else float("nan")})
