"""``pair-loss``: the contrastive loss of each (query, positive) pair under the pretrained encoder."""

from __future__ import annotations

import time

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.registry import MetricResult, register_metric

RECIPE_KEYS = ("encoder", "model_dir", "max_seq_length", "encoder_seed", "temperature", "hard_negatives",
               "negative_ranks", "corpus_embeddings")


@register_metric("pair-loss", defaults={"batch_size": 64}, needs=("embedding",), needs_labels=False,
                 reference="Fang et al. 2026, OPERA (arXiv 2603.17205): its InfoNCE training loss (in-batch + mined "
                           "hard negatives, temperature 0.05) read from the pretrained encoder; Karpukhin et al. "
                           "2020 (DPR) for in-batch plus hard negatives; the loss-as-difficulty idea of the `loss` "
                           "metric (Marion et al. 2023, Paul et al. 2021)")
def pair_loss(ctx, params):
    """InfoNCE of each (query, positive) pair under the pretrained encoder, at the recipe's temperature.

    For pair i = (q_i, d_i+), with e(·) the untrained encoder's normalised embeddings, τ the recipe's
    ``temperature`` (OPERA: 0.05) and one batch holding the whole train set (no sampling noise)::

        score_i = −log  exp(e(q_i)·e(d_i+)/τ) / Σ_{d ∈ {d_i+} ∪ N_i} exp(e(q_i)·e(d)/τ)

    N_i = (D+ ∪ H) \\ D+(q_i): D+ the distinct positive documents of the set (in-batch negatives: what the
    other pairs of a batch contribute), H one mined hard negative per query of the set, drawn (seed
    ``derive_seed(seed, "pair-loss")``) from the corpus documents the pretrained encoder ranks at the
    recipe's ``negative_ranks`` [10, 100) for that query, its positives excluded (OPERA's mining, as the
    training loop does; none with ``hard_negatives: false``), and D+(q_i) every positive of q_i (its
    other positives are not negatives). This is the loss OPERA's recipe minimises, evaluated before the
    first update. Higher = harder: a pair whose positive the pretrained encoder scores low against the
    batch's documents. Unlike ``pretrained-similarity`` (−cos of the pair alone) it also counts how
    close the other documents are; unlike ``loss`` it needs no probe training. Retrieval task only
    (the task's ``pair_losses``); other tasks are refused in one line.
    """
    from prunebench.tasks import task_of_config

    task = task_of_config(ctx.config)
    serve = getattr(task, "pair_losses", None)
    if serve is None:
        raise PrunebenchError(f"metric 'pair-loss' is the contrastive loss of (query, positive) pairs, which task "
                              f"'{task.name}' does not have; set task: retrieval or drop 'pair-loss' from metrics.names")
    recipe = {**(ctx.config.get("probe") or {}), **((ctx.config.get("sweep") or {}).get("train") or {})}
    cfg = {k: recipe[k] for k in RECIPE_KEYS if k in recipe}
    cfg["eval_batch_size"] = int(params["batch_size"])
    seed = ctx.derive("pair-loss")
    start = time.perf_counter()
    model = task.build_model(cfg, ctx.train_set, ctx.seed)
    losses, info = serve(model, ctx.train_set, train_cfg=cfg, seed=seed)
    losses = np.asarray(losses, dtype=np.float64)
    return MetricResult(scores=losses, probe_wall_time_s=time.perf_counter() - start, seeds=[int(seed)],
                        variant=f"infonce,pretrained,tau={info['temperature']:g},in-batch+"
                                f"{'1 hard/query ' + str(info['negative_ranks']) if info['hard_negatives'] else 'no hard'}",
                        extra={**info, "mean_loss": float(losses.mean()) if len(losses) else float("nan")})
