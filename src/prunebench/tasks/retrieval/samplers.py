"""Training-time samplers of (query, positive) pairs, and OPERA's static pruning.

A sampler picks each step's batch: ``batch(step)`` returns pair positions (one pair per query, no
query twice in a batch), ``observe(step, positions, cosines, losses)`` receives the batch's positive
cosines under the model being trained (after the forward pass), ``weights(positions)`` the per-pair
loss weights. No DataLoader, no monkeypatching, no global RNG: every draw comes from a private
``np.random.default_rng([seed, tag, step])``.

- :class:`BasicSampler` ("basic", standard fine-tuning as OPERA's ``BaseDataset``): every query once
  per epoch in a fresh random order, a uniformly random positive each time it is drawn.
- :class:`RS2Sampler` ("rs2", Okanovic et al. 2023, repeated sampling of random subsets): a fresh
  uniformly random subset of ``fraction · n`` queries every epoch (independent between epochs).
- :class:`InfoBatchSampler` ("infobatch", Qin et al. 2024 as published: below-mean-loss queries
  dropped with probability r each epoch, the kept ones re-weighted by 1/(1 − r), full epochs after
  δ of the steps).
- :class:`OperaSampler` ("opera", OPERA dynamic pruning, ``opera/data/sampler.py`` semantics; see
  the reference note §2.4):

  * pair scores ``s_p`` start as the pretrained cosines and are overwritten every step with the
    batch's positive cosines under the current model (criterion ``sim``);
  * **query level**: query score = mean of its pairs' ``s_p``; a fixed pass length
    ``n0 = n(1 − r0)/x0 + r0·n`` (floored); at every reset (one pass of ``n0`` queries) the strength
    ``x(t)`` (cosine 2 → 5 over the run) gives the cutoff ``r(t) = (x·n0 − n)/(n(x − 1))``; the
    queries at or above the ``(1 − r)``-quantile of the query scores are always in the pass and the
    remaining ``n0 − |top|`` slots are filled uniformly without replacement from the rest (so a
    below-threshold query is seen with probability ≈ 1/x); the pass is then shuffled;
  * **document level**: a global threshold, the ``(1 − c(t))``-quantile of all pair scores
    (``c`` cosine 0.25 → 0.5), computed at the same reset; a positive above it gets weight
    ``x_d = 5``, others 1; one positive is drawn with the normalised weights;
  * **no loss rescaling**: ``weights`` are all 1 (DP is a deliberately biased curriculum).

  Departures from the official code, on purpose: (1) the schedule-wrap quirk (§2.7.1: the official
  ``PruneScheduler`` returns the *start* value once ``step ≥ max_steps·delta``) is **fixed**: the
  schedule holds its end value; (2) a pass ends when fewer than a batch of its queries remain
  (drop-last), then the sampler resets; (3) if ties put more than ``n0`` queries at or above the
  threshold, the ``n0`` highest (ties by query order) are kept. Thresholds are recomputed only at a
  reset, as in the official code (§2.7.2), while scores are refreshed every step.

:func:`static_prune` is OPERA SP (``opera/pruning/remove_positives.py``): keep exactly
``floor(kept_pct · P)`` pairs with the highest pretrained similarity (mode ``ep``; ``hp`` keeps the
lowest, ``ran`` a random fraction), ties by example id, and report the query coverage it leaves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from prunebench.errors import PrunebenchError

OPERA_DEFAULTS = {"x0": 2.0, "x_end": 5.0, "r0": 0.25, "c0": 0.25, "c_end": 0.5, "x_d": 5.0, "delta": 1.0}
RS2_DEFAULTS = {"fraction": 0.5}


# -- schedules and OPERA's closed forms ------------------------------------------------------------
def cosine_schedule(start: float, end: float, step: int, total: int, delta: float = 1.0, wrap: bool = False) -> float:
    """``end + ½(start − end)(1 + cos(π t / (T·delta)))``; after ``T·delta`` it holds ``end``
    (``wrap=True`` reproduces the official code's quirk of returning ``start`` there instead)."""
    horizon = float(total) * float(delta)
    if horizon <= 0 or step >= horizon:
        return float(start if wrap and horizon > 0 else end)
    return float(end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * step / horizon)))


def pass_length(n: int, r0: float = 0.25, x0: float = 2.0) -> int:
    """OPERA's fixed epoch length ``n0 = n(1 − r0)/x0 + r0·n`` (floored, at least 1)."""
    return max(1, int(math.floor(n * (1.0 - r0) / x0 + r0 * n + 1e-9)))


def cutoff_ratio(x: float, n0: float, n: int) -> float:
    """The protected fraction that keeps the pass length ``n0`` at strength ``x``:
    ``r = (x·n0 − n) / (n(x − 1))``, clipped to [0, 1]."""
    if x <= 1.0:
        return 1.0
    return float(min(1.0, max(0.0, (x * n0 - n) / (n * (x - 1.0)))))


def document_probabilities(scores: np.ndarray, threshold: float, x_d: float = 5.0) -> np.ndarray:
    """One query's positive-selection probabilities: weight ``x_d`` above ``threshold``, 1 otherwise,
    normalised (``x_d/(x_d·a + b)`` and ``1/(x_d·a + b)`` for ``a`` pairs above and ``b`` below)."""
    weights = np.where(np.asarray(scores, dtype=np.float64) > threshold, float(x_d), 1.0)
    return weights / weights.sum()


def select_pass(query_scores: np.ndarray, n0: int, r: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One OPERA pass: (shuffled query indices, boolean "protected" mask over queries)."""
    q = np.asarray(query_scores, dtype=np.float64)
    n = len(q)
    n0 = min(int(n0), n)
    threshold = np.quantile(q, 1.0 - r) if r > 0 else np.inf
    top = np.flatnonzero(q >= threshold)
    if len(top) > n0:  # ties: the n0 highest, ties by query order
        top = np.sort(top[np.argsort(-q[top], kind="stable")[:n0]])
    protected = np.zeros(n, dtype=bool)
    protected[top] = True
    rest = np.flatnonzero(~protected)
    fill = rng.choice(rest, size=min(n0 - len(top), len(rest)), replace=False) if n0 > len(top) and len(rest) else []
    chosen = np.concatenate([top, np.asarray(fill, dtype=np.int64)]).astype(np.int64)
    return rng.permutation(chosen), protected


# -- the samplers ---------------------------------------------------------------------------------
class PairSampler:
    """Base: groups pair positions by query (``query_ids`` per pair, as the example set's strata)."""

    name = ""
    tag = 0

    def __init__(self, query_ids, *, batch_size: int, total_steps: int, seed: int, **params):
        query_ids = np.asarray(query_ids, dtype=np.int64)
        if len(query_ids) == 0:
            raise PrunebenchError("the training set has no (query, positive) pairs; check the split's qrels")
        self.queries, inverse = np.unique(query_ids, return_inverse=True)
        self.pair_query = inverse.astype(np.int64)  # pair position → query index
        order = np.argsort(self.pair_query, kind="stable")
        bounds = np.searchsorted(self.pair_query[order], np.arange(len(self.queries) + 1))
        self.pairs_of = [order[bounds[i]:bounds[i + 1]] for i in range(len(self.queries))]
        self.n = len(self.queries)
        self.batch_size = max(1, min(int(batch_size), self.n))
        self.total_steps = int(total_steps)
        self.seed = int(seed)
        self.params = params
        self.seen_queries = np.zeros(self.n, dtype=bool)

    def rng(self, *keys) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.tag, *[int(k) for k in keys]])

    def batch_queries(self, step: int) -> np.ndarray:
        raise NotImplementedError

    def choose_positive(self, query: int, rng: np.random.Generator) -> int:
        pairs = self.pairs_of[query]
        return int(pairs[0] if len(pairs) == 1 else rng.choice(pairs))

    def batch(self, step: int) -> np.ndarray:
        queries = self.batch_queries(step)
        rng = self.rng(step, 1)
        self.seen_queries[queries] = True
        return np.array([self.choose_positive(int(q), rng) for q in queries], dtype=np.int64)

    def observe(self, step: int, positions, cosines, losses) -> None:
        pass

    def weights(self, positions) -> np.ndarray:
        return np.ones(len(positions), dtype=np.float64)

    def state(self) -> dict:
        return {"sampler": self.name, "query_coverage": float(self.seen_queries.mean())}


class _EpochSampler(PairSampler):
    """Epochs of shuffled query lists (drop-last batches), rebuilt by ``epoch_queries``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch, self.order, self.cursor = -1, np.zeros(0, dtype=np.int64), 0

    def epoch_queries(self, epoch: int) -> np.ndarray:
        raise NotImplementedError

    def batch_queries(self, step: int) -> np.ndarray:
        if self.cursor + self.batch_size > len(self.order):
            self.epoch += 1
            self.order, self.cursor = self.epoch_queries(self.epoch), 0
            if len(self.order) < self.batch_size:
                raise PrunebenchError(f"sampler '{self.name}' draws {len(self.order)} queries per epoch, fewer than "
                                      f"batch_size {self.batch_size}; lower the batch size or raise the fraction")
        out = self.order[self.cursor:self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return out

    @property
    def steps_per_epoch(self) -> int:
        return max(1, self.epoch_size // self.batch_size)


class BasicSampler(_EpochSampler):
    name, tag = "basic", 11

    @property
    def epoch_size(self) -> int:
        return self.n

    def epoch_queries(self, epoch: int) -> np.ndarray:
        return self.rng(epoch, 0).permutation(self.n)


class RS2Sampler(_EpochSampler):
    """RS2: a fresh random ``fraction·n`` of the queries every epoch. ``replacement=True`` (default):
    independent uniform subsets; ``False`` (the paper's recommended "without replacement"): successive
    epochs walk through seeded permutations of all queries, every query seen once before any repeats."""

    name, tag = "rs2", 12

    def __init__(self, *args, fraction: float = RS2_DEFAULTS["fraction"], replacement: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0.0 < float(fraction) <= 1.0:
            raise PrunebenchError(f"rs2 fraction must be in (0, 1], got {fraction}")
        self.fraction, self.replacement = float(fraction), bool(replacement)

    @property
    def epoch_size(self) -> int:
        return max(1, int(round(self.fraction * self.n)))

    def epoch_queries(self, epoch: int) -> np.ndarray:
        if self.replacement:
            rng = self.rng(epoch, 0)
            return rng.permutation(rng.choice(self.n, size=self.epoch_size, replace=False))
        start = epoch * self.epoch_size  # position in the concatenation of permutations 0, 1, 2, ...
        out, cycle, offset = [], start // self.n, start % self.n
        while sum(len(part) for part in out) < self.epoch_size:
            perm = self.rng(cycle, 2).permutation(self.n)
            out.append(perm[offset:offset + self.epoch_size - sum(len(part) for part in out)])
            cycle, offset = cycle + 1, 0
        return np.concatenate(out).astype(np.int64)


class InfoBatchSampler(_EpochSampler):
    """InfoBatch (Qin et al., ICLR 2024) over queries, at a fixed number of optimizer steps.

    Each epoch (a pass over the kept list): a query whose score (its last training loss; all start
    equal, so the first epoch is full) is below the mean of the scores is dropped with probability
    ``ratio``, and the kept below-mean queries get loss weight ``1/(1 − ratio)`` (the expected
    gradient sum is preserved); from step ``anneal·total_steps`` on, every epoch is full with unit
    weights. Epochs are shorter than ``n``, so the fixed step budget holds more of them."""

    name, tag = "infobatch", 14

    def __init__(self, *args, ratio: float = 0.5, anneal: float = 0.875, pool_rule: str = "mean", **kwargs):
        super().__init__(*args, **kwargs)
        if not 0.0 <= float(ratio) < 1.0:
            raise PrunebenchError(f"infobatch ratio must be in [0, 1), got {ratio}")
        if pool_rule != "mean":
            raise PrunebenchError(f"the retrieval infobatch sampler prunes below-mean losses (pool_rule 'mean'), "
                                  f"not '{pool_rule}'")
        self.ratio, self.anneal = float(ratio), float(anneal)
        self.scores = np.ones(self.n, dtype=np.float64)  # InfoBatch initialises every score equally
        self.query_weight = np.ones(self.n, dtype=np.float64)
        self.step = 0
        self.pruned_total = 0

    @property
    def epoch_size(self) -> int:
        return self.n

    def batch_queries(self, step: int) -> np.ndarray:
        self.step = int(step)
        return super().batch_queries(step)

    def epoch_queries(self, epoch: int) -> np.ndarray:
        rng = self.rng(epoch, 0)
        self.query_weight = np.ones(self.n, dtype=np.float64)
        if self.ratio == 0 or self.step >= self.anneal * self.total_steps:
            return rng.permutation(self.n)
        below = self.scores < self.scores.mean()
        dropped = below & (rng.random(self.n) < self.ratio)
        self.query_weight[below & ~dropped] = 1.0 / (1.0 - self.ratio)
        self.pruned_total += int(dropped.sum())
        return rng.permutation(np.flatnonzero(~dropped))

    def observe(self, step: int, positions, cosines, losses) -> None:
        self.scores[self.pair_query[np.asarray(positions, dtype=np.int64)]] = np.asarray(losses, dtype=np.float64)

    def weights(self, positions) -> np.ndarray:
        return self.query_weight[self.pair_query[np.asarray(positions, dtype=np.int64)]]

    def state(self) -> dict:
        return {**super().state(), "pruned_query_draws": int(self.pruned_total), "epochs_started": int(self.epoch + 1)}


class OperaSampler(PairSampler):
    """OPERA dynamic pruning (query and document level); ``scores``: the pretrained pair cosines."""

    name, tag = "opera", 13

    def __init__(self, query_ids, *, scores, level: str = "both", **kwargs):
        opera = {k: kwargs.pop(k) for k in list(kwargs) if k in OPERA_DEFAULTS}
        super().__init__(query_ids, **kwargs)
        self.cfg = {**OPERA_DEFAULTS, **opera}
        scores = np.asarray(scores, dtype=np.float64)
        if scores.shape != self.pair_query.shape or not np.all(np.isfinite(scores)):
            raise PrunebenchError("opera sampler needs one finite initial score per training pair "
                                  "(the pretrained cosine similarities)")
        if level not in ("query", "document", "both"):
            raise PrunebenchError(f"opera level must be 'query', 'document' or 'both', got '{level}'")
        self.level = level
        self.scores = scores.copy()
        self.n0 = pass_length(self.n, self.cfg["r0"], self.cfg["x0"]) if level != "document" else self.n
        self.batch_size = max(1, min(self.batch_size, self.n0))
        self.pass_list, self.cursor, self.resets = np.zeros(0, dtype=np.int64), 0, 0
        self.doc_threshold = np.inf
        self.last = {}

    def strength(self, step: int) -> float:
        return cosine_schedule(self.cfg["x0"], self.cfg["x_end"], step, self.total_steps, self.cfg["delta"])

    def doc_fraction(self, step: int) -> float:
        return cosine_schedule(self.cfg["c0"], self.cfg["c_end"], step, self.total_steps, self.cfg["delta"])

    def query_scores(self) -> np.ndarray:
        return np.bincount(self.pair_query, weights=self.scores, minlength=self.n) / np.bincount(self.pair_query,
                                                                                                minlength=self.n)

    def reset(self, step: int) -> None:
        rng = self.rng(step, 0)
        x = self.strength(step)
        if self.level == "document":
            r, self.pass_list, protected = 1.0, rng.permutation(self.n), np.ones(self.n, dtype=bool)
        else:
            r = cutoff_ratio(x, self.n0, self.n)
            self.pass_list, protected = select_pass(self.query_scores(), self.n0, r, rng)
        c = self.doc_fraction(step)
        self.doc_threshold = float(np.quantile(self.scores, 1.0 - c)) if self.level != "query" else np.inf
        self.cursor, self.resets = 0, self.resets + 1
        self.last = {"step": int(step), "x": x, "r": r, "c": c, "n_protected": int(protected.sum()),
                     "doc_threshold": self.doc_threshold}

    def batch_queries(self, step: int) -> np.ndarray:
        if self.cursor + self.batch_size > len(self.pass_list):
            self.reset(step)
        out = self.pass_list[self.cursor:self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return out

    def choose_positive(self, query: int, rng: np.random.Generator) -> int:
        pairs = self.pairs_of[query]
        if len(pairs) == 1:
            return int(pairs[0])
        if self.level == "query":  # no document-level stage: a uniformly random positive, as "basic"
            return int(rng.choice(pairs))
        return int(rng.choice(pairs, p=document_probabilities(self.scores[pairs], self.doc_threshold, self.cfg["x_d"])))

    def observe(self, step: int, positions, cosines, losses) -> None:
        self.scores[np.asarray(positions, dtype=np.int64)] = np.asarray(cosines, dtype=np.float64)

    def state(self) -> dict:
        return {**super().state(), "n0": int(self.n0), "resets": int(self.resets), **self.last}


SAMPLERS = {"basic": BasicSampler, "rs2": RS2Sampler, "opera": OperaSampler, "infobatch": InfoBatchSampler}


def make_sampler(name: str, query_ids, *, batch_size: int, total_steps: int, seed: int, scores=None, **params):
    """A sampler by name (``basic``, ``rs2``, ``opera``, ``infobatch``); ``opera`` needs the initial pair ``scores``."""
    if name not in SAMPLERS:
        raise PrunebenchError(f"unknown sampler '{name}'; use one of {', '.join(SAMPLERS)}")
    if name == "opera":
        if scores is None:
            raise PrunebenchError("sampler 'opera' needs the pretrained pair similarities as initial scores")
        return OperaSampler(query_ids, scores=scores, batch_size=batch_size, total_steps=total_steps, seed=seed,
                            **params)
    return SAMPLERS[name](query_ids, batch_size=batch_size, total_steps=total_steps, seed=seed, **params)


# -- static pruning --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StaticPruneResult:
    positions: np.ndarray  # kept pair positions (sorted)
    n_pairs: int
    n_queries: int
    n_queries_kept: int

    @property
    def coverage(self) -> float:
        """Fraction of training queries left with ≥ 1 kept positive (SP drops the rest)."""
        return self.n_queries_kept / self.n_queries if self.n_queries else float("nan")


def static_prune(similarity, query_ids, kept_pct: float, *, mode: str = "ep", ids=None, seed: int = 0) -> StaticPruneResult:
    """OPERA SP: keep ``floor(kept_pct · P)`` pairs — ``ep`` the highest similarity (the shipped and
    published behaviour, "easy positives"), ``hp`` the lowest, ``ran`` uniformly random — ties by id."""
    similarity = np.asarray(similarity, dtype=np.float64)
    query_ids = np.asarray(query_ids, dtype=np.int64)
    ids = np.arange(len(similarity), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
    if not 0.0 <= float(kept_pct) <= 1.0:
        raise PrunebenchError(f"kept_pct must be in [0, 1], got {kept_pct}")
    keep = int(math.floor(float(kept_pct) * len(similarity) + 1e-9))
    if mode == "ep":
        order = np.lexsort((ids, -similarity))
    elif mode == "hp":
        order = np.lexsort((ids, similarity))
    elif mode == "ran":
        order = np.random.default_rng([int(seed), 21]).permutation(len(similarity))
    else:
        raise PrunebenchError(f"unknown SP mode '{mode}'; use 'ep' (keep high similarity), 'hp' or 'ran'")
    positions = np.sort(order[:keep]).astype(np.int64)
    return StaticPruneResult(positions, len(similarity), len(np.unique(query_ids)), len(np.unique(query_ids[positions])))
