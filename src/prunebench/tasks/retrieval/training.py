"""Fine-tuning a dense retriever on (query, positive) pairs (OPERA's recipe, scaled to MiniLM).

Per step: the sampler's batch of pairs (one per query), one hard negative per query drawn from the
documents the **pretrained** encoder (the model as passed in, before any update) ranks at
positions ``negative_ranks`` = [10, 100) for that query, positives excluded (OPERA mines 10–100 for
BGE); InfoNCE at ``temperature`` against every positive and negative in the batch (in-batch
negatives), per-example losses (reduction none) times the sampler's weights, averaged. AdamW
(weight decay on ≥2-d parameters), linear warmup for ``warmup_ratio`` of the steps then linear
decay to 0, gradient clipping at ``grad_clip`` (HF Trainer's 1.0). After each step the sampler
``observe``-s the batch's positive cosines (OPERA's online score refresh).

The sampler is the recipe's ``sampler`` (``basic``, ``rs2``, ``opera``, ``infobatch``) or, when the
sweep's rs2/infobatch protocols set ``dynamic_pruning`` (the image loop's key), the retrieval sampler
it names (:data:`DYNAMIC_RULES`). ``eval_steps``: NDCG@10 on the evaluation set at those steps too
(the quality-versus-steps curve, ``result.curve``; their time is left out of ``wall_time_s``). With
``steps = 0`` nothing is mined or trained (the pretrained arm). The test predictions carry the run's
training-side facts (:class:`RetrievalPredictions`: query coverage, queries seen, the curve).

An "epoch" for the callbacks is ``ceil(n_queries / batch_size)`` steps; its ``stats.losses`` hold the
last training loss of each pair seen in it (NaN for pairs not drawn).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from prunebench.config import check_known_keys
from prunebench.errors import PrunebenchError

RECIPE_DEFAULTS = {
    "encoder": "minilm", "model_dir": None, "max_seq_length": None, "encoder_seed": 0,
    "steps": 50, "batch_size": 16, "lr": 2e-5, "weight_decay": 0.01, "warmup_ratio": 0.05, "grad_clip": 1.0,
    "temperature": 0.05, "hard_negatives": True, "negative_ranks": [10, 100],
    "sampler": "basic", "sampler_params": {}, "eval_batch_size": 64, "threads": None, "progress": False,
    "corpus_embeddings": None, "dynamic_pruning": None, "eval_steps": [],
}
# The sweep protocols' training-time samplers (prunebench.sweep.protocols: rs2, infobatch set
# ``dynamic_pruning`` as for the image loop; retrieval reads the same keys as its own samplers).
DYNAMIC_RULES = {"rs2": ("rs2", False), "rs2-with-replacement": ("rs2", True), "infobatch": ("infobatch", None)}


def recipe(train_cfg) -> dict:
    cfg = dict(train_cfg or {})
    check_known_keys(cfg, RECIPE_DEFAULTS, where="retrieval recipe")
    cfg = {**RECIPE_DEFAULTS, **cfg}
    dynamic = cfg["dynamic_pruning"]
    if dynamic:
        rule = dynamic.get("rule")
        if rule not in DYNAMIC_RULES:
            raise PrunebenchError(f"retrieval dynamic_pruning rule '{rule}' is not one of {', '.join(DYNAMIC_RULES)}")
        sampler, replacement = DYNAMIC_RULES[rule]
        ratio = float(dynamic.get("ratio", 0.5))
        params = ({"fraction": round(1.0 - ratio, 12), "replacement": replacement} if sampler == "rs2" else
                  {"ratio": ratio, "anneal": float(dynamic.get("anneal", 0.875)),
                   "pool_rule": dynamic.get("pool_rule", "mean")})
        cfg = {**cfg, "sampler": sampler, "sampler_params": {**params, **(cfg["sampler_params"] or {})}}
    return cfg


@dataclass
class RetrievalEpochStats:
    """Per-pair training statistics of one callback epoch (aligned to the example set)."""

    epoch: int
    ids: np.ndarray
    losses: np.ndarray
    cosines: np.ndarray
    seen: np.ndarray
    step: int = 0
    sampler_state: dict = field(default_factory=dict)

    @classmethod
    def empty(cls, epoch: int, ids: np.ndarray) -> "RetrievalEpochStats":
        n = len(ids)
        return cls(epoch, ids, np.full(n, np.nan, dtype=np.float32), np.full(n, np.nan, dtype=np.float32),
                   np.zeros(n, dtype=bool))

    def record(self, positions, losses, cosines) -> None:
        self.losses[positions] = losses
        self.cosines[positions] = cosines
        self.seen[positions] = True


@dataclass
class RetrievalTrainResult:
    model: object
    test_logits: np.ndarray | None
    train_steps: int
    wall_time_s: float
    mining_s: float
    step_losses: list
    sampler_state: dict
    pair_forwards: int
    epochs: int  # callback epochs completed (ceil(n_queries / batch_size) steps each)
    curve: list = field(default_factory=list)  # [(step, NDCG@10)] at the recipe's eval_steps and the end
    extras: dict = field(default_factory=dict)  # training-side facts for the sweep row (coverage, ...)


def encode_queries_and_docs(model, examples, batch_size: int):
    from prunebench.tasks.retrieval.encoder import encode

    queries = examples.unique_queries
    q_emb = encode(model, [examples.data.queries[q] for q in queries], batch_size=batch_size)
    return queries, q_emb


def corpus_embeddings(model, corpus, batch_size: int, cached: str | None = None) -> np.ndarray:
    """The corpus under ``model``; ``cached``: an ``.npz`` with ``doc_ids`` and ``doc_emb`` made by the
    same (pretrained) encoder, e.g. the gate's ``--save-embeddings`` (its doc ids must match)."""
    from prunebench.tasks.retrieval.encoder import encode

    if cached:
        with np.load(cached, allow_pickle=False) as data:
            ids = [str(x) for x in data["doc_ids"]]
            if ids != list(corpus.doc_ids):
                raise PrunebenchError(f"corpus_embeddings {cached} was made for another corpus (doc ids differ); "
                                      f"drop the key or regenerate it for this corpus")
            return np.asarray(data["doc_emb"], dtype=np.float32)
    return encode(model, corpus.documents(), batch_size=batch_size)


def pair_similarity(model, examples, batch_size: int = 64) -> np.ndarray:
    """Cosine similarity of each (query, positive) pair under ``model`` (aligned to ``examples``)."""
    from prunebench.tasks.retrieval.encoder import encode

    q_emb = encode(model, examples.query_texts(), batch_size=batch_size)
    d_emb = encode(model, examples.doc_texts(), batch_size=batch_size)
    return np.einsum("ij,ij->i", q_emb, d_emb).astype(np.float64)


def mine_negatives(model, examples, ranks, batch_size: int, cached: str | None = None) -> dict:
    """query id → corpus positions ranked in ``[ranks[0], ranks[1])`` by ``model``, positives excluded."""
    from prunebench.tasks.retrieval.evaluation import exact_search

    lo, hi = int(ranks[0]), int(ranks[1])
    queries, q_emb = encode_queries_and_docs(model, examples, batch_size)
    d_emb = corpus_embeddings(model, examples.corpus, batch_size, cached)
    top, _ = exact_search(q_emb, d_emb, k=hi)
    index = examples.corpus.index
    out = {}
    for q, row in zip(queries, top):
        positives = {index[d] for d, r in examples.data.qrels[q].items() if r >= 1}
        out[q] = np.array([j for j in row[lo:hi] if j not in positives], dtype=np.int64)
    return out


class RetrievalPredictions(np.ndarray):
    """The query × corpus cosine matrix of a trained model, carrying the training-side facts of the run
    (``meta``: query coverage, queries seen, the NDCG@10 curve) to :meth:`Retrieval.evaluate`, which
    puts them in the sweep row (``Task.train``'s result has no other way into the row today)."""

    @classmethod
    def wrap(cls, array, meta: dict) -> "RetrievalPredictions":
        out = np.asarray(array).view(cls)
        out.meta = dict(meta)
        return out

    def __array_finalize__(self, obj):
        self.meta = getattr(obj, "meta", {})


def _ndcg(predictions, eval_set) -> float:
    from prunebench.tasks.retrieval.evaluation import evaluate_scores, summarize

    queries = eval_set.unique_queries
    scores = evaluate_scores(eval_set.qrels(), queries, eval_set.corpus.doc_ids, np.asarray(predictions))
    return float(summarize(scores)["ndcg@10"]["mean"])


def lr_factor(step: int, total: int, warmup_ratio: float) -> float:
    """Linear warmup over ``ceil(warmup_ratio·total)`` steps, then linear decay to 0 (HF's schedule)."""
    warmup = int(math.ceil(warmup_ratio * total))
    if step < warmup:
        return float(step + 1) / float(max(1, warmup))
    return max(0.0, float(total - step) / float(max(1, total - warmup)))


def train_retriever(model, examples, train_cfg, *, seed: int, device: str = "cpu", eval_set=None, steps=None,
                    callbacks=(), checkpoint_path=None, predict=None, scores=None) -> RetrievalTrainResult:
    import torch

    from prunebench.tasks.retrieval.encoder import forward
    from prunebench.tasks.retrieval.losses import info_nce
    from prunebench.tasks.retrieval.samplers import make_sampler

    cfg = recipe(train_cfg)
    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))
    total = int(steps if steps is not None else cfg["steps"])
    start = time.perf_counter()
    torch.manual_seed(seed)
    model.to(device)
    # everything the pretrained encoder provides, before the first update
    t0 = time.perf_counter()
    negatives = (mine_negatives(model, examples, cfg["negative_ranks"], cfg["eval_batch_size"], cfg["corpus_embeddings"])
                 if cfg["hard_negatives"] and total > 0 else {})
    if cfg["sampler"] == "opera" and scores is None and total > 0:
        scores = pair_similarity(model, examples, cfg["eval_batch_size"])
    mining_s = time.perf_counter() - t0
    sampler = make_sampler(cfg["sampler"], examples.query_ids, batch_size=cfg["batch_size"], total_steps=total,
                           seed=seed, scores=scores, **dict(cfg["sampler_params"] or {}))
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg["lr"])
    for cb in callbacks:
        getattr(cb, "on_train_start", lambda *a: None)(model, examples)
    steps_per_epoch = max(1, math.ceil(sampler.n / sampler.batch_size))
    stats, epoch = RetrievalEpochStats.empty(0, examples.ids), 0
    corpus, step_losses, pair_forwards = examples.corpus, [], 0
    eval_steps = sorted({int(s) for s in (cfg["eval_steps"] or []) if 0 < int(s) < total})
    curve, eval_s = [], 0.0
    model.train()
    for step in range(total):
        if step in eval_steps and eval_set is not None and predict is not None:
            t1 = time.perf_counter()
            model.eval()
            curve.append((step, _ndcg(predict(model, eval_set), eval_set)))
            model.train()
            eval_s += time.perf_counter() - t1
        positions = sampler.batch(step)
        rng = np.random.default_rng([int(seed), 31, step])
        neg_docs = []
        for key in examples.query_keys[positions]:
            pool = negatives.get(str(key))
            if pool is not None and len(pool):
                neg_docs.append(int(rng.choice(pool)))
        for group in optimizer.param_groups:
            group["lr"] = cfg["lr"] * lr_factor(step, total, cfg["warmup_ratio"])
        q = forward(model, examples.query_texts(positions), device)
        d = forward(model, examples.doc_texts(positions) + corpus.documents(neg_docs), device)
        losses, cosines = info_nce(q, d, cfg["temperature"])
        weights = torch.as_tensor(sampler.weights(positions), dtype=losses.dtype, device=losses.device)
        loss = (weights * losses).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        optimizer.step()
        losses_np, cos_np = losses.detach().cpu().numpy(), cosines.cpu().numpy()
        sampler.observe(step, positions, cos_np, losses_np)
        stats.record(positions, losses_np, cos_np)
        step_losses.append(float(loss.detach()))
        pair_forwards += len(positions)
        if cfg["progress"]:
            print(f"step {step + 1}/{total} loss {step_losses[-1]:.4f}", flush=True)
        if (step + 1) % steps_per_epoch == 0 or step + 1 == total:
            stats.step, stats.sampler_state = step + 1, sampler.state()
            for cb in callbacks:
                getattr(cb, "on_epoch_end", lambda *a: None)(epoch, stats, model)
            epoch += 1
            stats = RetrievalEpochStats.empty(epoch, examples.ids)
    model.eval()
    train_wall_s = time.perf_counter() - start - eval_s  # mining + training, no evaluation
    test_logits = predict(model, eval_set) if (eval_set is not None and predict is not None) else None
    n_split = len(getattr(examples.data, "qrels", {}) or {}) or sampler.n
    state = sampler.state()
    extras = {"query_coverage": sampler.n / n_split, "queries_seen": float(state["query_coverage"]) * sampler.n / n_split,
              "n_train_queries": int(sampler.n), "n_split_queries": int(n_split), "pair_forwards": int(pair_forwards),
              "mining_s": float(mining_s), "curve_eval_s": float(eval_s), "train_wall_s": float(train_wall_s), "sampler": cfg["sampler"]}
    if test_logits is not None:
        curve.append((total, _ndcg(test_logits, eval_set)))
        test_logits = RetrievalPredictions.wrap(test_logits, {**extras, "curve": curve})
    result = RetrievalTrainResult(model, test_logits, total, train_wall_s, mining_s,
                                  step_losses, state, pair_forwards, epoch, curve, extras)
    if checkpoint_path is not None:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, checkpoint_path)
    for cb in callbacks:
        getattr(cb, "on_train_end", lambda *a: None)(result)
    return result
