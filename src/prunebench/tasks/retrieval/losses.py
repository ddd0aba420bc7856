"""InfoNCE over normalised embeddings with in-batch negatives (OPERA / FlagEmbedding style)."""

from __future__ import annotations


def info_nce(query_emb, doc_emb, temperature: float):
    """Per-query InfoNCE: row ``i`` of ``query_emb`` (B×D, normalised) is scored against every row of
    ``doc_emb`` (M×D, normalised; rows ``0..B-1`` are the positives in order, the rest hard negatives),
    ``ℓ_i = −log softmax(q_i·D / τ)[i]`` (reduction none). Returns ``(losses, positive_cosines)``;
    the cosines are ``logit_ii · τ`` detached, what OPERA writes back into its score table."""
    import torch
    import torch.nn.functional as F

    logits = query_emb @ doc_emb.T / float(temperature)
    targets = torch.arange(query_emb.shape[0], device=query_emb.device)
    losses = F.cross_entropy(logits, targets, reduction="none")
    cosines = (logits.detach().diagonal() * float(temperature))
    return losses, cosines


def pair_info_nce(model, examples, train_cfg=None, *, seed: int = 0):
    """Each (query, positive) pair's InfoNCE under ``model`` in one batch holding the whole example set
    (the ``pair-loss`` metric, :mod:`prunebench.metrics.pair_loss`, gives the equation). Returns
    ``(losses, info)``: float64 losses aligned to ``examples`` and what the batch held.

    Negatives of pair i = (q_i, d_i+): the distinct positive documents of the other queries of the set
    (in-batch negatives) and one hard negative per query of the set, drawn (seeded by ``seed``) from the
    documents ``model`` ranks at ``negative_ranks`` = [lo, hi) for that query, its positives excluded
    (the training recipe's mining, :func:`prunebench.tasks.retrieval.training.mine_negatives`); q_i's
    own other positives are never negatives. Temperature: the recipe's ``temperature``."""
    import numpy as np

    from prunebench.tasks.retrieval.encoder import encode
    from prunebench.tasks.retrieval.training import mine_negatives, recipe

    cfg = recipe(train_cfg)
    batch, tau = int(cfg["eval_batch_size"]), float(cfg["temperature"])
    corpus_index = examples.corpus.index
    positives = np.unique(examples.doc_index)
    hard = []
    if cfg["hard_negatives"] and len(examples):
        pools = mine_negatives(model, examples, cfg["negative_ranks"], batch, cfg["corpus_embeddings"])
        rng = np.random.default_rng([int(seed), 47])
        hard = [int(rng.choice(pools[q])) for q in examples.unique_queries if len(pools.get(q, ()))]
    candidates = np.union1d(positives, np.asarray(hard, dtype=np.int64))
    column = {int(d): j for j, d in enumerate(candidates)}
    q_emb = encode(model, examples.query_texts(), batch_size=batch).astype(np.float64)
    d_emb = encode(model, examples.corpus.documents(candidates), batch_size=batch).astype(np.float64)
    logits = q_emb @ d_emb.T / tau
    own = np.array([column[int(d)] for d in examples.doc_index], dtype=np.int64)
    qrels = examples.data.qrels
    for i, (query, mine) in enumerate(zip(examples.query_keys, own)):
        others = [column[corpus_index[d]] for d, rel in qrels[str(query)].items()
                  if rel >= 1 and d in corpus_index and corpus_index[d] in column]
        others = [j for j in others if j != mine]
        logits[i, others] = -np.inf  # the query's other positives are not its negatives
    top = logits.max(axis=1, keepdims=True)
    log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    losses = log_z - logits[np.arange(len(own)), own]
    return losses, {"n_candidates": int(len(candidates)), "n_in_batch": int(len(positives)),
                    "n_hard": int(len(set(hard) - set(positives.tolist()))), "temperature": tau,
                    "negative_ranks": [int(r) for r in cfg["negative_ranks"]], "hard_negatives": bool(cfg["hard_negatives"])}
