"""``random``: the baseline every pruning metric must beat."""

from __future__ import annotations

import numpy as np

from prunebench.metrics.registry import MetricResult, register_metric


def random_scores(ids, seed: int) -> np.ndarray:
    """I.i.d. U(0, 1) scores keyed by example id: id ``i`` gets the ``i``-th draw of the seeded stream.

    Keying by id (not position) makes the score of an example the same in every subset of the split.
    """
    ids = np.asarray(ids, dtype=np.int64)
    return np.random.default_rng(seed).random(int(ids.max()) + 1)[ids] if len(ids) else np.zeros(0)


@register_metric("random", defaults={"stream": 0}, needs_labels=False, reference="uniform baseline (Sorscher et al. 2022 random-100..104)")
def random_metric(ctx, params):
    """Uniform random score ``s_i ~ U(0,1)`` i.i.d., seed ``derive_seed(seed, "random", stream)``.

    Keep-hard and keep-easy both give a uniformly random subset; different ``stream`` values give
    independent baselines (the paper released five: random-100..104). No probe, zero probe cost.
    """
    seed = ctx.derive("random", params["stream"])
    return MetricResult(scores=random_scores(ctx.train_set.ids, seed), variant=f"uniform,stream={params['stream']}",
                        seeds=[seed])
