"""``input-norm``: the trivial baseline that GraNd at initialisation was found to track."""

from __future__ import annotations

import numpy as np

from prunebench.metrics.registry import MetricResult, register_metric


def input_norms(dataset, batch_size: int = 1024) -> np.ndarray:
    """``||x̃_i||_2`` of each normalised image ``x̃ = (x/255 − μ_c)/σ_c`` (:func:`prunebench.data.normalize`),
    ``batch_size`` rows at a time (a memory-mapped set is read slice by slice, never whole)."""
    import torch

    from prunebench.data import host_rows, normalize

    norms = []
    for start in range(0, len(dataset.images), batch_size):
        x = normalize(torch.from_numpy(host_rows(dataset.images, slice(start, start + batch_size))), dataset.channel_stats)
        norms.append(x.flatten(1).double().norm(dim=1).numpy())
    return np.concatenate(norms) if norms else np.zeros(0)


@register_metric("input-norm", needs_labels=False,
                 reference="Kirsch 2023, Does 'Deep Learning on a Data Diet' reproduce? (GraNd at init tracks the input norm)")
def input_norm(ctx, params):
    """L2 norm of the normalised input image, ``score_i = ||x̃_i||_2`` (higher = "harder").

    Kirsch (2023) could not reproduce GraNd at initialisation (Paul et al. 2021) as a pruning
    score and found it ranks examples much like the norm of the input; this baseline puts that
    trivial ranking in every benchmark figure. No probe, no labels; exact, so ``score_se = 0``.
    """
    scores = input_norms(ctx.train_set)
    return MetricResult(scores=scores, variant="l2-normalised-input", score_se=np.zeros_like(scores))
