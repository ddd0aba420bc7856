"""``topk``: keep the best-ranked examples under keep easy / hard, with the class-balance floor
(Sorscher et al. 2022, §5, "50% class-balancing ratio"; see :mod:`prunebench.selection`)."""

from __future__ import annotations

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.selection import class_floors, kept_count, preference_order
from prunebench.selection.registry import register_rule


def topk(scores, labels, fraction_kept: float, keep: str, seed: int, class_balance: float = 0.0) -> np.ndarray:
    """Keep the best-ranked ``kept_count(N, f)`` examples subject to the class-balance floor; sorted positions."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n_keep = kept_count(len(scores), fraction_kept)
    if not 0.0 <= class_balance <= 1.0:
        raise PrunebenchError(f"class_balance must be in [0, 1], got {class_balance}")
    order = preference_order(scores, keep, seed)
    chosen = np.zeros(len(scores), dtype=bool)
    if class_balance > 0:
        floors = class_floors(labels, n_keep, fraction_kept, class_balance)
        ordered_labels = labels[order]
        for cls, floor in enumerate(floors):
            if floor:
                chosen[order[ordered_labels == cls][:floor]] = True
    rest = order[~chosen[order]]
    chosen[rest[: n_keep - chosen.sum()]] = True
    return np.flatnonzero(chosen)


@register_rule("topk", keeps=("easy", "hard"), defaults={"class_balance": 0.0}, uses_strata=True,
               reference="Sorscher et al. 2022 (keep easy / keep hard; 50% class balancing on ImageNet)")
def topk_rule(scores, strata, fraction_kept, keep, seed, ids, params):
    """Keep the kept_count(N, f) best-ranked examples (hard: highest scores), at least ceil(b f N_c) per stratum."""
    return topk(scores, strata, fraction_kept, keep, seed, params["class_balance"])
