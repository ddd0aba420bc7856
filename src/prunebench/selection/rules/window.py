"""``window``: keep a percentile window of the scores (Ankner et al. 2024, "Perplexed by Perplexity",
arXiv 2405.20541, §3: low / medium / high perplexity selection at selection rate r_s).

With the examples ranked by ``(score, id)`` ascending and ``n = kept_count(N, f)`` kept, the
empirical percentile window is

- ``low``:    ranks ``[0, n)``               (F in [0, f]; = keep easy),
- ``medium``: ranks ``[s, s + n)`` with ``s = floor((N - n) / 2)`` (F in [1/2 - f/2, 1/2 + f/2],
  centred on the median; the 25th-75th percentile at f = 0.5),
- ``high``:   ranks ``[N - n, N)``           (F in [1 - f, 1]; = keep hard).

Ties are broken by the example id (not by a random draw), so a window is a deterministic function
of the score table: rerunning, or reordering the table, keeps the same ids. The rule is
task-independent (documents, images, query-document pairs) and ignores strata and the seed.
"""

from __future__ import annotations

import numpy as np

from prunebench.selection import kept_count
from prunebench.selection.registry import register_rule

WINDOWS = ("low", "medium", "high")


def window_start(n_total: int, n_keep: int, window: str) -> int:
    """First rank kept by ``window`` (``low`` 0, ``medium`` floor((N - n)/2), ``high`` N - n)."""
    return {"low": 0, "medium": (n_total - n_keep) // 2, "high": n_total - n_keep}[window]


def percentile_window(scores, ids, fraction_kept: float, window: str) -> np.ndarray:
    """Sorted positions of the ``window`` (low / medium / high) of ``kept_count(N, f)`` examples, ties by id."""
    scores = np.asarray(scores, dtype=np.float64)
    ids = np.arange(len(scores)) if ids is None else np.asarray(ids)
    n_keep = kept_count(len(scores), fraction_kept)
    order = np.lexsort((ids, scores))
    start = window_start(len(scores), n_keep, window)
    return np.sort(order[start:start + n_keep])


@register_rule("window", keeps=WINDOWS, reference="Ankner et al. 2024, Perplexed by Perplexity (arXiv 2405.20541)")
def window_rule(scores, strata, fraction_kept, keep, seed, ids, params):
    """Keep the low / medium / high percentile window of the scores at rate f, ties broken by id."""
    return percentile_window(scores, ids, fraction_kept, keep)
