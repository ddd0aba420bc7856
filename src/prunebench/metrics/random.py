"""``random``: the baseline every pruning metric must beat."""

from __future__ import annotations

import numpy as np

from prunebench.metrics.registry import MetricResult, register_metric


def random_scores(ids, seed: int) -> np.ndarray:
    """I.i.d. U(0, 1) scores keyed by example id: id ``i`` gets the ``i``-th draw of the seeded stream.

    Keying by id (not position) makes the score of an example the same in every subset of the split.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) and int(ids.max()) >= SPARSE_IDS:  # hashed ids (text-lm documents): a keyed hash per id
        return hashed_uniform(ids, seed)
    return np.random.default_rng(seed).random(int(ids.max()) + 1)[ids] if len(ids) else np.zeros(0)


SPARSE_IDS = 1 << 31  # ids at or above this are hashes, not positions in a split (no stream of that length)


def hashed_uniform(ids, seed: int) -> np.ndarray:
    """U(0, 1) per id from splitmix64(id + golden * (seed + 1)), the top 53 bits: keyed by id like
    :func:`random_scores`, for ids too large to index a stream."""
    with np.errstate(over="ignore"):
        z = np.asarray(ids, dtype=np.int64).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(int(seed) + 1)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@register_metric("random", defaults={"stream": 0}, needs_labels=False, reference="uniform baseline (Sorscher et al. 2022 random-100..104)")
def random_metric(ctx, params):
    """Uniform random score ``s_i ~ U(0,1)`` i.i.d., seed ``derive_seed(seed, "random", stream)``.

    Keep-hard and keep-easy both give a uniformly random subset; different ``stream`` values give
    independent baselines (the paper released five: random-100..104). No probe, zero probe cost.
    """
    seed = ctx.derive("random", params["stream"])
    return MetricResult(scores=random_scores(ctx.train_set.ids, seed), variant=f"uniform,stream={params['stream']}",
                        seeds=[seed])
