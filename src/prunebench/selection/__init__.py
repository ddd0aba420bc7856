"""Selection rules: which examples to keep given a score (higher = harder).

Conventions (stated in every output of :mod:`prunebench.cli.select`):

- ``fraction_kept`` f is the fraction of the scored set that is kept; ``prune_ratio = 1 - f``. The
  kept count is ``floor(f * N + 1/2)``, f·N rounded half up (at least 1 when f > 0): one rounding,
  :func:`kept_count`, used by every selection rule and the sweep (Python's ``round`` rounds half
  to even, ``round(2.5) = 2``, which would keep 2 of 5 at f = 0.5 but 4 of 7 at f = 0.5).
- ``keep="hard"`` keeps the highest scores, ``keep="easy"`` the lowest; ties are broken by a
  random permutation drawn from ``seed`` (reproducible, unbiased between tied examples).
- **Class balance** (Sorscher et al. 2022, §5, "50% class-balancing ratio"; our reading of the
  rule, which the paper states only in words): with budget ``n = kept_count(N, f)`` and class ``c`` of
  size ``N_c``, class ``c``'s proportional share is ``f N_c``; every class keeps at least
  ``min(N_c, ceil(class_balance * f * N_c))`` examples (its best-ranked ones under the keep rule),
  and the rest of the budget goes to the best-ranked remaining examples regardless of class.
  ``class_balance=0`` is plain global top-k; ``class_balance=1`` makes every class keep (at least)
  its proportional share. If the floors add up to more than the budget (only possible for
  ``class_balance`` near 1 with rounding), they are reduced by largest-remainder rounding.
- ``rule="window"`` keeps a low / medium / high percentile window (Ankner et al. 2024), ties by id;
  see :mod:`prunebench.selection.rules.window`.
- Rules are registered (:mod:`prunebench.selection.registry`: one module of
  :mod:`prunebench.selection.rules` plus ``@register_rule``); :func:`list_rules` names them.
- ``rule="ccs"`` is coverage-centric selection (Zheng et al. 2023, Algorithm 1), see :func:`ccs`.
  CCS decides by itself which difficulty levels to keep, so ``keep`` does not change it, and it
  is applied over the whole set (``class_balance`` is not used); both are recorded in outputs.
  Its keep mode is ``"ccs"`` (:data:`CCS_KEEP`): the sweep reports CCS as one strategy.
"""

from __future__ import annotations

import math

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.selection.registry import get_rule, list_rules, register_rule

KEEP_MODES = ("easy", "hard")
CCS_KEEP = "ccs"  # the single keep mode of rule ccs (it chooses the difficulty levels itself)


def kept_count(n_total: int, fraction_kept: float) -> int:
    """``floor(f N + 1/2)`` (f·N rounded half up), at least 1 for f > 0, at most N.

    A tolerance of 1e-9 absorbs binary error in f·N (0.7 · 5 = 3.4999999999999996 → 4, not 3).
    """
    if not 0.0 < fraction_kept <= 1.0:
        raise PrunebenchError(f"fraction_kept must be in (0, 1], got {fraction_kept}; prune_ratio = 1 - fraction_kept")
    return int(min(n_total, max(1, math.floor(fraction_kept * n_total + 0.5 + 1e-9))))


def preference_order(scores, keep: str, seed: int) -> np.ndarray:
    """Positions from most to least preferred under ``keep``; ties broken by a seeded permutation."""
    scores = np.asarray(scores, dtype=np.float64)
    if keep not in KEEP_MODES:
        raise PrunebenchError(f"keep must be one of {', '.join(KEEP_MODES)}, got '{keep}'")
    tie_break = np.random.default_rng(seed).permutation(len(scores))
    key = -scores if keep == "hard" else scores
    return np.lexsort((tie_break, key))


def class_floors(labels, n_keep: int, fraction_kept: float, class_balance: float) -> np.ndarray:
    """Minimum number kept per class: ``min(N_c, ceil(class_balance * f * N_c))``, fitted to the budget."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    want = np.minimum(counts, np.ceil(class_balance * fraction_kept * counts - 1e-9)).astype(np.int64)
    if want.sum() <= n_keep:
        return want
    exact = want * (n_keep / want.sum())
    floors = np.floor(exact).astype(np.int64)
    remainder = exact - floors
    floors[np.argsort(-remainder, kind="stable")[: n_keep - floors.sum()]] += 1
    return floors


def select(scores, labels, fraction_kept: float, keep: str = "hard", seed: int = 0, class_balance: float = 0.0,
           rule: str = "topk", ccs_hard_cutoff: float = 0.1, ccs_strata: int = 50, ids=None,
           params: dict | None = None) -> np.ndarray:
    """Sorted positions of the kept examples under the registered ``rule`` (see the module docstring).

    ``labels`` are the strata a balanced rule balances (class labels, query ids, domains).
    ``class_balance`` (topk) defaults to 0 (plain top-k, what the paper did on CIFAR-10); the paper's
    ImageNet runs used 0.5 (see :func:`prunebench.selection.io.default_class_balance`).
    ``ids`` are the examples' canonical ids (rules that break ties by id); ``params`` a rule's other
    parameters (over its registered defaults).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) != len(labels):
        raise PrunebenchError(f"{len(scores)} scores but {len(labels)} labels; score the same dataset you select from")
    if ids is not None and len(ids) != len(scores):
        raise PrunebenchError(f"{len(scores)} scores but {len(ids)} ids; score the same dataset you select from")
    if not np.all(np.isfinite(scores)):
        raise PrunebenchError("scores contain NaN/inf; recompute the score table")
    if keep == CCS_KEEP and rule != "ccs":
        raise PrunebenchError(f"keep '{CCS_KEEP}' belongs to selection rule ccs, not '{rule}'; use keep easy or hard")
    chosen = get_rule(rule)
    chosen.check_keep(keep)
    given = {"topk": {"class_balance": class_balance},
             "ccs": {"hard_cutoff": ccs_hard_cutoff, "strata": ccs_strata}}.get(rule, {})
    settings = chosen.params({**given, **(params or {})})
    return chosen.fn(scores, labels, fraction_kept, keep, seed, ids, settings)


from prunebench.selection.rules.ccs import ccs  # noqa: E402  (re-exported: the rule functions by name)
from prunebench.selection.rules.topk import topk  # noqa: E402
from prunebench.selection.rules.window import percentile_window  # noqa: E402
