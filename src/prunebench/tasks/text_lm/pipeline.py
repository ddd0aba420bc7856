"""Perplexity pruning end to end, in one process (Ankner et al. 2024, Algorithm 1, at small scale):

reference LM on D_ref -> mean token NLL of every pool document (the ``perplexity`` metric) ->
low / medium / high percentile window at rate r (selection rule ``window``) and a random
baseline -> domain composition before and after (share of documents and of tokens) -> a final LM
(>= 4x the reference's parameters) trained on each selection for the same token budget ->
validation NLL / perplexity, the checkpoint curve and the steps to match the unpruned baseline's
final loss.

The Snakemake workflow runs the same steps stage by stage (``--config text-ci``, docs/text.md);
:func:`run_pruning` is the one-process reference, and the CPU miniature in ``docs/text.md`` runs it::

    python -m prunebench.tasks.text_lm.pipeline --preset miniature --out results/text-miniature.json
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.seeding import derive_seed

WINDOWS = ("low", "medium", "high")


def select_window(scores, ids, fraction_kept: float, window: str) -> np.ndarray:
    """Sorted positions of the ``window`` of the scores at rate ``fraction_kept`` through
    :func:`prunebench.selection.select` (rule ``window``, ties broken by id)."""
    from prunebench.selection import select

    scores = np.asarray(scores, dtype=np.float64)
    return select(scores, np.zeros(len(scores), dtype=np.int64), fraction_kept, keep=window, rule="window", ids=ids)


def select_random(n: int, fraction_kept: float, seed: int) -> np.ndarray:
    """A uniformly random ``kept_count(n, f)`` positions (the no-metric baseline), sorted."""
    from prunebench.selection import kept_count

    return np.sort(np.random.default_rng(seed).permutation(n)[:kept_count(n, fraction_kept)])


def domain_composition(domains, domain_names, n_tokens, positions=None) -> dict:
    """Per domain: share of documents and share of tokens among ``positions`` (default: all)."""
    domains = np.asarray(domains, dtype=np.int64)
    n_tokens = np.asarray(n_tokens, dtype=np.float64)
    if positions is not None:
        domains, n_tokens = domains[positions], n_tokens[positions]
    docs = np.bincount(domains, minlength=len(domain_names)).astype(np.float64)
    toks = np.bincount(domains, weights=n_tokens, minlength=len(domain_names))
    return {name: {"doc_share": float(docs[k] / max(docs.sum(), 1)), "token_share": float(toks[k] / max(toks.sum(), 1))}
            for k, name in enumerate(domain_names)}


def run_pruning(data_cfg: dict, *, reference_recipe: dict, final_recipe: dict, fraction_kept: float = 0.5,
                windows=WINDOWS, include_random: bool = True, include_full: bool = True, seed: int = 0,
                device: str = "cpu", min_size_ratio: float = 4.0, task=None, log=None) -> dict:
    """The whole pipeline; returns a JSON-able dict (see the module docstring).

    ``final_recipe`` must fix a token budget (``tokens`` or ``steps``), so every selection trains
    on the same number of tokens; ``include_full`` adds the unpruned pool at that budget (the
    baseline of steps-to-match).
    """
    from prunebench.metrics.perplexity import perplexity
    from prunebench.metrics.registry import get_metric
    from prunebench.metrics.context import MetricContext
    from prunebench.tasks import get_task
    from prunebench.tasks.text_lm.model import check_size_ratio
    from prunebench.tasks.text_lm.training import steps_to_match

    if final_recipe.get("tokens") is None and final_recipe.get("steps") is None:
        raise PrunebenchError("final_recipe needs a token budget (tokens or steps) so pruned and unpruned runs match")
    say = log or (lambda message: None)
    task = task or get_task("text-lm")
    t0 = time.perf_counter()
    pool = task.load_split(data_cfg, "train")
    validation = task.load_split(data_cfg, "validation")
    config = {"task": "text-lm", "seed": seed, "data": data_cfg, "probe": {}}
    ctx = MetricContext(config=config, train_set=pool, device=device)
    spec = get_metric("perplexity")
    params = spec.params({key: reference_recipe.get(key) for key in ("model", "tokens", "steps", "batch_size", "lr",
                                                                     "context", "tokenizer")
                          if reference_recipe.get(key) is not None})
    scored = perplexity(ctx, params)
    scores, n_tokens = scored.scores, scored.extra["n_tokens"]
    say(f"reference LM: {scored.extra['reference_parameters']:,} parameters, {scored.extra['reference_tokens']:,} "
        f"tokens on {scored.extra['reference_documents']} D_ref documents; scored {len(pool)} pool documents "
        f"({time.perf_counter() - t0:.1f} s)")
    selections = {w: select_window(scores, pool.ids, fraction_kept, w) for w in windows}
    if include_random:
        selections["random"] = select_random(len(pool), fraction_kept, derive_seed(seed, "text-lm", "random"))
    if include_full:
        selections["full"] = np.arange(len(pool))
    composition = {"before": domain_composition(pool.domains, pool.domain_names, n_tokens)}
    composition.update({name: domain_composition(pool.domains, pool.domain_names, n_tokens, pos)
                        for name, pos in selections.items() if name != "full"})
    final_seed = derive_seed(seed, "text-lm", "final")
    runs, reference_params = {}, scored.extra["reference_parameters"]
    for name, positions in selections.items():
        subset = pool.subset(positions)
        model = task.build_model(final_recipe, subset, final_seed)
        ratio = check_size_ratio(reference_params, model.num_parameters(), min_size_ratio)
        result = task.train(model, subset, final_recipe, seed=final_seed, device=device, eval_set=validation)
        evaluation = task.evaluate(result.test_logits, validation)
        runs[name] = {"documents": len(subset), "pool_tokens": int(n_tokens[positions].sum()), "steps": result.steps,
                      "tokens": result.tokens, "epochs": result.epochs, "val_nll": evaluation.error,
                      "val_perplexity": evaluation.value, "curve": result.curve, "wall_time_s": result.wall_time_s,
                      "final_parameters": int(model.num_parameters()), "size_ratio": ratio,
                      "mean_score_kept": float(np.mean(scores[positions]))}
        say(f"{name:>6}: {len(subset)} docs, {result.tokens:,} tokens, val NLL {evaluation.error:.4f} "
            f"(ppl {evaluation.value:.2f}) in {result.wall_time_s:.1f} s")
    baseline = runs.get("full") or runs.get("random")
    if baseline is not None:
        for name, run in runs.items():
            reached = steps_to_match(run["curve"], baseline["val_nll"])
            # None: the run never reached the baseline's final validation NLL at any checkpoint
            run["steps_to_match_baseline"] = reached if math.isfinite(reached) else None
            run["speedup_vs_baseline"] = baseline["steps"] / reached if math.isfinite(reached) and reached > 0 else None
    return {"fraction_kept": fraction_kept, "seed": seed, "pool_documents": len(pool),
            "validation_documents": len(validation), "domain_names": list(pool.domain_names),
            "reference": {k: scored.extra[k] for k in ("reference_parameters", "reference_tokens", "reference_steps",
                                                        "reference_documents", "tokenizer")},
            "score_mean_by_domain": {name: float(scores[pool.domains == k].mean()) if np.any(pool.domains == k)
                                     else None for k, name in enumerate(pool.domain_names)},
            "composition": composition, "runs": runs, "baseline": "full" if "full" in runs else "random",
            "wall_time_s": time.perf_counter() - t0}


# A CPU miniature (1 thread, a few minutes): a 4,000-character-per-corpus slice of each NLTK corpus
# would be too little text; instead cap every corpus at a fixed number of documents.
PRESETS = {
    "tiny": {  # seconds: what tests/test_text_lm.py runs
        "data": {"doc_chars": 300, "min_chars": 100, "max_docs_per_corpus": 24,
                 "splits": {"reference": 0.3, "train": 0.5, "validation": 0.2, "test": 0.0}},
        "reference": {"model": "nano", "tokenizer": "byte", "context": 64, "batch_size": 8, "steps": 15},
        "final": {"model": "micro", "tokenizer": "byte", "context": 64, "batch_size": 8, "steps": 15,
                  "eval_points": 3},
    },
    "miniature": {  # about 4-5 minutes on one (shared) core
        "data": {"doc_chars": 600, "min_chars": 200, "max_docs_per_corpus": 300,
                 "splits": {"reference": 0.3, "train": 0.6, "validation": 0.1, "test": 0.0}},
        "reference": {"model": "micro", "tokenizer": {"kind": "bpe", "vocab_size": 512}, "context": 64,
                      "batch_size": 16, "tokens": 100_000},
        "final": {"model": "mini", "tokenizer": {"kind": "bpe", "vocab_size": 512}, "context": 64, "batch_size": 16,
                  "tokens": 100_000, "eval_points": 4},
    },
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="miniature")
    parser.add_argument("--fraction-kept", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="write the result JSON here")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    spec = PRESETS[args.preset]
    result = run_pruning(spec["data"], reference_recipe=spec["reference"], final_recipe=spec["final"],
                         fraction_kept=args.fraction_kept, seed=args.seed, log=lambda m: print(m, flush=True))
    result["preset"] = {"name": args.preset, **spec, "threads": args.threads}
    text = json.dumps(result, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "curve"} for k, v in result["runs"].items()},
                     indent=1))
    print(json.dumps(result["composition"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
