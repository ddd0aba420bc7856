"""The ``retrieval`` task: fine-tuning a dense retriever (all-MiniLM-L6-v2) on (query, positive) pairs.

- examples (:mod:`.beir`): one per (query, positive document) pair; strata = query ids;
- model (:mod:`.encoder`): a fresh copy of the pretrained encoder (or a tiny random one for tests);
- training (:mod:`.training`): InfoNCE, in-batch + one mined hard negative, AdamW, warmup + linear
  decay, a pluggable sampler (:mod:`.samplers`: ``basic``, ``rs2``, ``opera``);
- outputs: ``embedding`` = the pair's normalised query embedding and positive-document embedding
  concatenated (2·D; their dot product is the pair's cosine), ``loss`` = the pair's InfoNCE at the
  recipe's temperature against the distinct positive documents of the example set (in-set
  negatives: cheap, no corpus encoding);
- predictions: the query × corpus cosine matrix of the set's distinct queries (``unique_queries``
  order) over its corpus; evaluation: exact search, top 100, pytrec_eval NDCG@10 (error = 1 − value).
"""

from __future__ import annotations

import numpy as np

import json
from dataclasses import dataclass, field

from prunebench.errors import PrunebenchError
from prunebench.tasks.base import Evaluation, Task
from prunebench.tasks.registry import register_task

SMOKE_RECIPE = {"encoder": "tiny", "max_seq_length": 32, "steps": 4, "batch_size": 8, "lr": 1e-3, "temperature": 0.05,
                "hard_negatives": True, "negative_ranks": [2, 20], "eval_batch_size": 64, "threads": 1}
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "fe", "gu", "hi", "jo", "bu")


def synthetic_data(size: int, seed: int, split: str = "train"):
    """``size`` (query, positive) pairs over a generated corpus: documents are 12 pseudo-words, a query
    is 4 words of its first positive; every fourth query has a second positive; 16 distractors."""
    from prunebench.tasks.retrieval.beir import Corpus, build_split, pair_examples

    rng = np.random.default_rng([int(seed), 7])
    vocab = ["".join(rng.choice(_SYLLABLES, size=3)) for _ in range(400)]
    n_docs = int(size) + 16
    words = [list(rng.choice(vocab, size=12)) for _ in range(n_docs)]
    doc_ids = [f"d{i:05d}" for i in range(n_docs)]
    queries, qrels, pairs, doc = {}, {}, 0, 0
    while pairs < size:
        q = f"q{len(queries):05d}"
        k = 2 if (len(queries) % 4 == 3 and size - pairs >= 2) else 1
        docs = [doc_ids[doc + j] for j in range(k)]
        queries[q] = " ".join(rng.choice(words[doc], size=4, replace=False))
        qrels[q] = {d: 1 for d in docs}
        pairs, doc = pairs + k, doc + k
    corpus = Corpus(tuple(doc_ids), tuple(f"topic {w[0]}" for w in words), tuple(" ".join(w) for w in words))
    return pair_examples(build_split(f"synthetic-{seed}-{size}", split, corpus, queries, qrels, source="synthetic"))


# sweep-row columns beside eval_* (mean and standard error over the test queries)
EXTRA_MEASURES = {"ndcg@10": "ndcg_at_10", "recall@10": "recall_at_10", "recall@20": "recall_at_20",
                  "recall@100": "recall_at_100", "opera_ndcg@10": "opera_ndcg_at_10"}


@dataclass(frozen=True)
class RetrievalEvaluation(Evaluation):
    """NDCG@10 as the evaluation, plus Recall@10/20/100, OPERA's NDCG and their standard errors, and the
    run's training-side facts (query coverage, queries seen, the NDCG@10-vs-steps curve) as row columns."""

    extras: dict = field(default_factory=dict)

    def row(self) -> dict:
        return {**super().row(), **self.extras}


def evaluation_extras(summary: dict, meta: dict) -> dict:
    out = {}
    for key, column in EXTRA_MEASURES.items():
        out[column] = float(summary[key]["mean"])
        out[f"{column}_se"] = float(summary[key]["se"])
    out["n_test_queries"] = int(summary["ndcg@10"]["n"])
    out["query_coverage"] = float(meta.get("query_coverage", float("nan")))
    out["queries_seen"] = float(meta.get("queries_seen", float("nan")))
    out["n_train_queries"] = int(meta.get("n_train_queries", -1))
    out["pair_forwards"] = int(meta.get("pair_forwards", -1))
    out["mining_wall_time_s"] = float(meta.get("mining_s", float("nan")))
    out["sampler"] = str(meta.get("sampler", ""))
    out["quality_curve"] = json.dumps([[int(s), round(float(v), 6)] for s, v in meta.get("curve", [])])
    return out


@register_task("retrieval")
class Retrieval(Task):
    """Dense retrieval fine-tuning (OPERA's setting): SciFact or any BEIR folder, NDCG@10."""

    outputs = frozenset({"loss", "embedding"})
    eval_metric = "ndcg@10"
    higher_is_better = True
    summary = "dense-retriever fine-tuning on (query, positive) pairs (SciFact / BEIR), all-MiniLM-L6-v2, NDCG@10"

    def load_split(self, data_cfg: dict, split: str):
        from prunebench.tasks.retrieval.beir import load_retrieval_split, pair_examples, restrict_corpus

        from prunebench.tasks.retrieval.beir import check_corpus_memory, restrict_queries

        data_cfg = data_cfg or {}
        data = load_retrieval_split(data_cfg, split)
        if split == "train" and data_cfg.get("train_queries"):
            data = restrict_queries(data, int(data_cfg["train_queries"]), seed=int(data_cfg.get("corpus_seed", 0)))
        if data_cfg.get("corpus_docs"):
            data = restrict_corpus(data, int(data_cfg["corpus_docs"]), seed=int(data_cfg.get("corpus_seed", 0)))
        check_corpus_memory(data.corpus, data_cfg.get("memory_mb"), where=f"retrieval {split} split")
        return pair_examples(data)

    def strata(self, examples) -> np.ndarray:
        return np.asarray(examples.query_ids, dtype=np.int64)

    def build_model(self, train_cfg, examples, seed: int):
        from prunebench.tasks.retrieval.encoder import load_encoder
        from prunebench.tasks.retrieval.training import recipe

        cfg = recipe(train_cfg)
        return load_encoder({k: cfg[k] for k in ("encoder", "model_dir", "max_seq_length", "encoder_seed")})

    def train(self, model, examples, train_cfg, *, seed: int, device="cpu", eval_set=None, steps=None,
              callbacks=(), checkpoint_path=None, scores=None):
        from prunebench.tasks.retrieval.training import train_retriever

        return train_retriever(model, examples, train_cfg, seed=seed, device=device, eval_set=eval_set, steps=steps,
                               callbacks=callbacks, checkpoint_path=checkpoint_path, scores=scores,
                               predict=lambda m, ex: self.predict(m, ex, device=device, train_cfg=train_cfg))

    def predict(self, model, examples, *, device="cpu", train_cfg=None) -> np.ndarray:
        """Cosine matrix (distinct queries × corpus documents), float32."""
        from prunebench.tasks.retrieval.encoder import encode
        from prunebench.tasks.retrieval.training import corpus_embeddings, recipe

        cfg = recipe(train_cfg)
        queries = examples.unique_queries
        q_emb = encode(model, [examples.data.queries[q] for q in queries], batch_size=cfg["eval_batch_size"])
        d_emb = corpus_embeddings(model, examples.corpus, cfg["eval_batch_size"])
        return (q_emb @ d_emb.T).astype(np.float32)

    def example_outputs(self, model, examples, names, *, device="cpu", train_cfg=None) -> dict[str, np.ndarray]:
        import torch
        import torch.nn.functional as F

        from prunebench.tasks.retrieval.encoder import encode
        from prunebench.tasks.retrieval.training import recipe

        cfg = recipe(train_cfg)
        names = tuple(names)
        unknown = sorted(set(names) - set(self.outputs))
        if unknown:
            raise PrunebenchError(f"task 'retrieval' records {', '.join(sorted(self.outputs))}, not {', '.join(unknown)}")
        q_emb = encode(model, examples.query_texts(), batch_size=cfg["eval_batch_size"])
        docs, doc_pos = np.unique(examples.doc_index, return_inverse=True)
        d_emb = encode(model, examples.corpus.documents(docs), batch_size=cfg["eval_batch_size"])
        out = {}
        if "embedding" in names:
            out["embedding"] = np.concatenate([q_emb, d_emb[doc_pos]], axis=1)
        if "loss" in names:
            logits = torch.from_numpy(q_emb @ d_emb.T / float(cfg["temperature"]))
            out["loss"] = F.cross_entropy(logits, torch.from_numpy(doc_pos.astype(np.int64)),
                                          reduction="none").numpy().astype(np.float64)
        return {name: out[name] for name in names}

    def pair_losses(self, model, examples, *, train_cfg=None, seed: int = 0) -> tuple[np.ndarray, dict]:
        """Each pair's InfoNCE under ``model`` against in-batch and mined hard negatives, one batch holding
        the whole set (:func:`prunebench.tasks.retrieval.losses.pair_info_nce`; the ``pair-loss`` metric)."""
        from prunebench.tasks.retrieval.losses import pair_info_nce

        return pair_info_nce(model, examples, train_cfg, seed=seed)

    def evaluate(self, predictions: np.ndarray, examples) -> Evaluation:
        """Standard NDCG@10 (pytrec_eval) of the exact-search ranking ``predictions``; error = 1 − NDCG@10."""
        summary = self.evaluate_all(predictions, examples)
        value = float(summary["ndcg@10"]["mean"])
        return RetrievalEvaluation("ndcg@10", value, 1.0 - value, True,
                                   evaluation_extras(summary, getattr(predictions, "meta", {}) or {}))

    def recipe(self, train_cfg) -> dict:
        from prunebench.tasks.retrieval.training import recipe

        return recipe(train_cfg)

    def evaluate_all(self, predictions: np.ndarray, examples) -> dict:
        """Mean and standard error of NDCG@10, Recall@10/20/100 and OPERA's NDCG@10."""
        from prunebench.tasks.retrieval.evaluation import evaluate_scores, summarize

        predictions = np.asarray(predictions)
        queries = examples.unique_queries
        if predictions.shape != (len(queries), len(examples.corpus)):
            raise PrunebenchError(f"retrieval predictions must be queries × documents = {len(queries)}×"
                                  f"{len(examples.corpus)}, got {predictions.shape}; pass task.predict's output")
        return summarize(evaluate_scores(examples.qrels(), queries, examples.corpus.doc_ids, predictions))

    def synthetic_split(self, size: int, seed: int, split: str = "train"):
        return synthetic_data(size, seed, split)

    def smoke_recipe(self) -> dict:
        return dict(SMOKE_RECIPE)
