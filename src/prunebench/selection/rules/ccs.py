"""``ccs``: coverage-centric coreset selection (Zheng, Liu, Li, Prakash, ICLR 2023, Algorithm 1)."""

from __future__ import annotations

import math

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.selection import kept_count, preference_order
from prunebench.selection.registry import register_rule


def ccs(scores, fraction_kept: float, seed: int, hard_cutoff: float = 0.1, strata: int = 50) -> np.ndarray:
    """Coverage-centric coreset selection (Zheng, Liu, Li, Prakash, ICLR 2023, Algorithm 1).

    1. Drop the hardest ``β = hard_cutoff`` fraction (likely mislabeled or ambiguous); β is lowered
       to ``1 - f`` if fewer than ``kept_count(N, f)`` examples would remain.
    2. Split the remaining score range into ``k = strata`` strata of equal width.
    3. Budget allocation: while budget ``m`` is left, take the non-empty stratum ``B`` with the fewest
       examples, keep ``m_B = min(|B|, floor(m / #strata left))`` of its examples drawn uniformly at
       random (the last stratum takes what is left), ``m -= m_B``.

    Every non-empty stratum gets at least one example whenever the budget is at least the number
    of non-empty strata. Returns sorted positions; random draws are fixed by ``seed``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    n_keep = kept_count(n, fraction_kept)
    if strata < 1:
        raise PrunebenchError(f"ccs strata must be >= 1, got {strata}")
    rng = np.random.default_rng(seed)
    n_drop = min(int(math.floor(hard_cutoff * n)), n - n_keep)
    by_hardness = preference_order(scores, "hard", seed)
    pool = np.sort(by_hardness[n_drop:])
    values = scores[pool]
    low, high = values.min(), values.max()
    width = (high - low) / strata if high > low else 1.0
    bins = np.minimum(((values - low) / width).astype(np.int64), strata - 1)
    groups = [pool[bins == b] for b in range(strata) if np.any(bins == b)]
    groups.sort(key=len)
    kept, budget = [], n_keep
    for left, group in zip(range(len(groups), 0, -1), groups):
        take = min(len(group), budget if left == 1 else budget // left)
        kept.append(rng.choice(group, size=take, replace=False))
        budget -= take
    return np.sort(np.concatenate(kept))


@register_rule("ccs", keeps=("ccs", "easy", "hard"), defaults={"hard_cutoff": 0.1, "strata": 50},
               reference="Zheng et al. 2023, Coverage-centric Coreset Selection for High Pruning Rates (ICLR)")
def ccs_rule(scores, strata, fraction_kept, keep, seed, ids, params):
    """Drop the hardest beta, then fill the budget from equal-width score strata, fewest first (keep is ignored)."""
    return ccs(scores, fraction_kept, seed, params["hard_cutoff"], params["strata"])
