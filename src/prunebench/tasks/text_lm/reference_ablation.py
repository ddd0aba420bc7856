"""The off-the-shelf reference ablation on a documented subsample (Ankner et al. 2024, arXiv 2405.20541).

Does a pretrained LM that was never trained on D_ref (SmolLM2-135M, metric ``pretrained-perplexity``)
rank the pool as the trained reference (metric ``perplexity``, the scale's committed score table)
does? Scoring the whole pool with a 135M model is a GPU job (~200 tokens/s per CPU thread), so this
scores a stable, domain-stratified subsample: the ``per_domain`` documents of each domain with the
lowest ``sha256("reference-ablation/<id>")``. Reported, with the subsample's ids digest:

- Spearman rank correlation of the two scores over the subsample, with a 95% percentile bootstrap
  interval (``scipy.stats.bootstrap``, documents resampled), and within each domain;
- each reference's mean NLL per domain (its ranking of the domains);
- for r = ``rate`` windows (low / medium / high, the ``window`` rule's
  :func:`~prunebench.selection.rules.window.percentile_window` on the subsample): the Jaccard overlap of the documents each reference keeps, and each window's domain
  shares under both.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from prunebench.errors import PrunebenchError

WINDOWS = ("low", "medium", "high")


def stratified_subsample(pool, per_domain: int) -> np.ndarray:
    """Sorted positions of the ``per_domain`` documents of each domain with the lowest keyed hash."""
    keys = np.array([int.from_bytes(hashlib.sha256(f"reference-ablation/{int(i)}".encode()).digest()[:8], "big")
                     for i in pool.ids], dtype=np.uint64)
    chosen = []
    for domain in np.unique(pool.domains):
        members = np.flatnonzero(pool.domains == domain)
        chosen.extend(members[np.argsort(keys[members], kind="stable")[:per_domain]])
    return np.sort(np.asarray(chosen, dtype=np.int64))


def window(scores, ids, rate: float, keep: str) -> set:
    """Ids kept by the percentile window ``keep`` at rate ``rate``: the selection rule's own function."""
    from prunebench.selection.rules.window import percentile_window

    return set(int(i) for i in np.asarray(ids)[percentile_window(scores, ids, rate, keep)])


def spearman_with_interval(a, b, seed: int = 0) -> dict:
    """Spearman rho of two score vectors and its 95% percentile bootstrap interval (pairs resampled)."""
    from scipy.stats import bootstrap, spearmanr

    rho = float(spearmanr(a, b).statistic)
    result = bootstrap((np.asarray(a), np.asarray(b)), lambda x, y: spearmanr(x, y).statistic, paired=True,
                       vectorized=False, n_resamples=999, method="percentile", random_state=seed)
    return {"rho": rho, "ci95": [float(result.confidence_interval.low), float(result.confidence_interval.high)],
            "n": int(len(a))}


def run_ablation(config: dict, *, per_domain: int, rate: float = 0.5, model: str = "smollm2-135m",
                 batch_size: int = 8, max_tokens: int = 256, device: str = "cpu") -> dict:
    """Score the subsample with the pretrained LM and compare it with the committed ``perplexity`` table."""
    from prunebench.metrics.compute import default_score_path
    from prunebench.metrics.pretrained_perplexity import document_nll, load_pretrained_lm
    from prunebench.metrics.storage import read_scores
    from prunebench.provenance import environment
    from prunebench.tasks import task_of_config

    task = task_of_config(config)
    if task.name != "text-lm":
        raise PrunebenchError(f"the reference ablation is for text-lm scales; {config['name']} is task '{task.name}'")
    pool = task.load_split(config["data"], "train")
    trained = read_scores(default_score_path(config, "perplexity"), pool.ids)
    positions = stratified_subsample(pool, per_domain)
    ids, domains = np.asarray(pool.ids)[positions], np.asarray(pool.domains)[positions]
    start = time.perf_counter()
    lm, tokenizer, described = load_pretrained_lm(model, device=device)
    loaded_s = time.perf_counter() - start
    pretrained, n_tokens = document_nll(lm, tokenizer, [pool.texts[p] for p in positions], batch_size=batch_size,
                                        max_tokens=max_tokens, device=device)
    scored_s = time.perf_counter() - start - loaded_s
    reference = trained.scores[positions]
    names = list(pool.domain_names)
    return {
        "scale": config["name"], "model": described, "max_tokens": max_tokens, "rate": rate,
        "subsample": {"per_domain": per_domain, "n": int(len(positions)),
                      "ids_sha256": hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest(),
                      "rule": "per domain, the lowest sha256('reference-ablation/<id>')"},
        "spearman": spearman_with_interval(reference, pretrained),
        "spearman_within_domain": {names[d]: float(_spearman(reference[domains == d], pretrained[domains == d]))
                                   for d in np.unique(domains)},
        "mean_nll_by_domain": {names[d]: {"trained_reference": float(reference[domains == d].mean()),
                                          "pretrained": float(pretrained[domains == d].mean())}
                               for d in np.unique(domains)},
        "windows": {keep: _window_summary(reference, pretrained, ids, domains, names, rate, keep) for keep in WINDOWS},
        "pretrained_tokens": int(n_tokens.sum()), "load_s": loaded_s, "score_s": scored_s,
        "tokens_per_second": float(n_tokens.sum() / max(scored_s, 1e-9)), "machine": environment(),
    }


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return spearmanr(a, b).statistic


def _window_summary(reference, pretrained, ids, domains, names, rate, keep) -> dict:
    by_trained, by_pretrained = window(reference, ids, rate, keep), window(pretrained, ids, rate, keep)
    position = {int(i): k for k, i in enumerate(ids)}

    def shares(kept):
        codes = domains[[position[i] for i in kept]]
        return {names[d]: float(np.mean(codes == d)) for d in np.unique(domains)}

    return {"jaccard": len(by_trained & by_pretrained) / len(by_trained | by_pretrained),
            "domain_share_trained_reference": shares(by_trained), "domain_share_pretrained": shares(by_pretrained)}
