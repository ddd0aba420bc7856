"""Retrieval evaluation: exact dense search, standard (BEIR / pytrec_eval) metrics, and OPERA's own NDCG.

- :func:`exact_search`: dot product of normalised query and corpus embeddings (= cosine), the top
  ``k = 100`` per query (ties: lower corpus position first), like a FAISS flat inner-product index
  and MTEB's exact search.
- :func:`standard_metrics`: per-query NDCG@10 and Recall@10/20/100 from ``pytrec_eval``
  (``ndcg_cut.10``: graded gains, ideal DCG over **all** judged documents of the query;
  ``recall.k``: |relevant ∩ top-k| / |relevant|), as BEIR and MTEB compute them.
- :func:`opera_ndcg`: OPERA's ``opera/eval/evaluate.py`` variant, ``sklearn.metrics.ndcg_score`` on
  the retrieved top-100 list with binary labels; its ideal DCG counts only the relevant documents
  that were retrieved, so it is ≥ the standard value. Reported beside it for parity, never instead.
- :func:`summarize`: mean and standard error (sample sd / √n) of each per-query metric.
"""

from __future__ import annotations

import numpy as np

STANDARD_MEASURES = {"ndcg@10": ("ndcg_cut", 10), "recall@10": ("recall", 10), "recall@20": ("recall", 20),
                     "recall@100": ("recall", 100)}
TOP_K = 100


def exact_search(query_emb: np.ndarray, doc_emb: np.ndarray, k: int = TOP_K, chunk: int = 256):
    """Top-``k`` corpus positions and scores per query (descending score; ties by position)."""
    query_emb = np.asarray(query_emb, dtype=np.float32)
    doc_emb = np.asarray(doc_emb, dtype=np.float32)
    k = min(int(k), doc_emb.shape[0])
    top_idx = np.zeros((len(query_emb), k), dtype=np.int64)
    top_scores = np.zeros((len(query_emb), k), dtype=np.float32)
    for start in range(0, len(query_emb), chunk):
        scores = query_emb[start:start + chunk] @ doc_emb.T
        top = ranked(scores, k)
        top_idx[start:start + chunk] = top
        top_scores[start:start + chunk] = np.take_along_axis(scores, top, axis=1)
    return top_idx, top_scores


def ranked(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores per row, descending, ties by lower position (stable sort)."""
    return np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :k]


def run_dict(query_keys, doc_keys, top_idx, top_scores) -> dict:
    """pytrec_eval run: query id → {doc id: score}."""
    return {str(q): {str(doc_keys[j]): float(s) for j, s in zip(idx, sc)}
            for q, idx, sc in zip(query_keys, top_idx, top_scores)}


def standard_metrics(qrels: dict, run: dict, query_keys) -> dict[str, np.ndarray]:
    """Per-query NDCG@10, Recall@10/20/100 (pytrec_eval), aligned to ``query_keys`` (0 for a query with no run)."""
    import pytrec_eval

    measures = {"ndcg_cut.10", "recall.10,20,100"}
    judged = {str(q): {str(d): int(r) for d, r in docs.items()} for q, docs in qrels.items()}
    evaluator = pytrec_eval.RelevanceEvaluator(judged, measures)
    per_query = evaluator.evaluate({q: run.get(q, {}) for q in judged})
    out = {}
    for label, (name, k) in STANDARD_MEASURES.items():
        out[label] = np.array([per_query.get(str(q), {}).get(f"{name}_{k}", 0.0) for q in query_keys], dtype=np.float64)
    return out


def opera_ndcg(qrels: dict, query_keys, doc_keys, top_idx, top_scores, k: int = 10) -> np.ndarray:
    """OPERA's NDCG@k per query: ``sklearn.metrics.ndcg_score`` on the retrieved list, binary labels."""
    from sklearn.metrics import ndcg_score

    values = []
    for q, idx, sc in zip(query_keys, top_idx, top_scores):
        relevant = {d for d, r in qrels[str(q)].items() if r >= 1}
        labels = np.array([[1.0 if str(doc_keys[j]) in relevant else 0.0 for j in idx]])
        values.append(float(ndcg_score(labels, np.asarray(sc, dtype=np.float64)[None, :], k=k)) if labels.sum() else 0.0)
    return np.array(values, dtype=np.float64)


def summarize(per_query: dict[str, np.ndarray]) -> dict:
    """``{metric: {"mean", "se", "n"}}`` (se = sample standard deviation / √n)."""
    out = {}
    for name, values in per_query.items():
        values = np.asarray(values, dtype=np.float64)
        n = len(values)
        out[name] = {"mean": float(values.mean()) if n else float("nan"),
                     "se": float(values.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"), "n": int(n)}
    return out


def evaluate_rankings(qrels: dict, query_keys, doc_keys, top_idx, top_scores) -> dict[str, np.ndarray]:
    """Every per-query metric of a top-k ranking: the standard ones plus ``opera_ndcg@10``."""
    run = run_dict(query_keys, doc_keys, top_idx, top_scores)
    metrics = standard_metrics(qrels, run, query_keys)
    metrics["opera_ndcg@10"] = opera_ndcg(qrels, query_keys, doc_keys, top_idx, top_scores, k=10)
    return metrics


def evaluate_scores(qrels: dict, query_keys, doc_keys, scores: np.ndarray, k: int = TOP_K) -> dict[str, np.ndarray]:
    """Per-query metrics of a dense query × corpus score matrix (top ``k`` retrieved)."""
    scores = np.asarray(scores)
    top = ranked(scores, min(k, scores.shape[1]))
    return evaluate_rankings(qrels, query_keys, doc_keys, top, np.take_along_axis(scores, top, axis=1))
