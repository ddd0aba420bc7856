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
