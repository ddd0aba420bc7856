"""Domain composition before and after pruning (Ankner et al. 2024, §4.2: perplexity pruning shifts
the share of each domain): for every metric of a text-lm scale and every percentile window (low /
medium / high, selection rule ``window``) at rate f, the share of the pool's **documents** and of its
**tokens** each domain holds, beside the unpruned pool and a uniform random selection.

The windows are taken on the whole pool (the score tables of ``results/<name>/scores/``, the sweep's
``score_source: full``), with :func:`prunebench.selection.select` (ties by id), so the figure shows
exactly the selections a sweep point at N = the pool would train on. Token counts are the
``n_tokens`` column of the perplexity table (tokens under the reference tokenizer); without it,
every document counts by its characters.

``python -m prunebench figures composition --config text-ci --scores-dir results/text-ci/scores
--out figures/text-ci/domain_composition.png`` (rule ``figures_composition`` of workflow/rules/text.smk)
also writes the table as CSV next to the figure (``--csv``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prunebench.errors import PrunebenchError

WINDOWS = ("low", "medium", "high")
TOKEN_SOURCE = "perplexity"  # the score table whose n_tokens column weights the token shares


def shares(domains, n_domains: int, weights=None) -> np.ndarray:
    """Share of each domain code in ``domains`` (weighted by ``weights``; sums to 1)."""
    counts = np.bincount(np.asarray(domains, dtype=np.int64), weights=weights, minlength=n_domains).astype(np.float64)
    total = counts.sum()
    return counts / total if total > 0 else counts


def composition_table(scores: dict, ids, domains, domain_names, n_tokens, fraction_kept: float = 0.5,
                      windows=WINDOWS, seed: int = 0):
    """Tidy frame: ``metric, selection, domain, doc_share, token_share, n_documents, n_tokens``.

    ``scores``: metric -> scores aligned to ``ids`` (higher = harder). Selections: ``before`` (the
    pool, metric ``pool``), ``random`` (a seeded uniform draw of kept_count(N, f), metric ``random``)
    and each window of each metric, through the shared selection rule ``window``."""
    import pandas as pd

    from prunebench.selection import kept_count, select

    ids, domains = np.asarray(ids), np.asarray(domains, dtype=np.int64)
    n_tokens = np.asarray(n_tokens, dtype=np.float64)
    if not (len(ids) == len(domains) == len(n_tokens)):
        raise PrunebenchError("ids, domains and token counts of the pool differ in length; recompute the score tables")
    n_domains = len(domain_names)
    selections = [("pool", "before", np.arange(len(ids)))]
    rng = np.random.default_rng(seed)
    selections.append(("random", "random", np.sort(rng.permutation(len(ids))[:kept_count(len(ids), fraction_kept)])))
    for metric, values in scores.items():
        values = np.asarray(values, dtype=np.float64)
        if len(values) != len(ids):
            raise PrunebenchError(f"metric {metric} has {len(values)} scores for a pool of {len(ids)} documents; "
                                  "recompute its score table")
        for window in windows:
            kept = select(values, domains, fraction_kept, keep=window, rule="window", ids=ids)
            selections.append((metric, window, kept))
    rows = []
    for metric, selection, kept in selections:
        doc = shares(domains[kept], n_domains)
        tok = shares(domains[kept], n_domains, n_tokens[kept])
        counts = np.bincount(domains[kept], minlength=n_domains)
        tokens = np.bincount(domains[kept], weights=n_tokens[kept], minlength=n_domains)
        for k, name in enumerate(domain_names):
            rows.append({"metric": metric, "selection": selection, "fraction_kept": 1.0 if selection == "before"
                         else float(fraction_kept), "domain": name, "doc_share": float(doc[k]),
                         "token_share": float(tok[k]), "n_documents": int(counts[k]), "n_tokens": float(tokens[k])})
    return pd.DataFrame(rows)


def plot_composition(table, out: str | Path, title: str = "") -> Path:
    """Stacked bars: one panel row per metric, documents (left) and tokens (right); one bar per
    selection (pool, random, low, medium, high), stacked by domain share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in dict.fromkeys(table["metric"]) if m not in ("pool", "random")]
    domains = list(dict.fromkeys(table["domain"]))
    if not metrics:
        raise PrunebenchError("no metric windows to draw; the composition table holds only the pool and random")
    colors = plt.get_cmap("tab10")(np.arange(len(domains)) % 10)
    fig, axes = plt.subplots(len(metrics), 2, figsize=(9, 2.6 * len(metrics) + 0.6), squeeze=False, sharey=True)
    for row, metric in enumerate(metrics):
        frames = [table[table["selection"] == "before"], table[table["selection"] == "random"],
                  *[table[(table["metric"] == metric) & (table["selection"] == w)] for w in WINDOWS]]
        labels = ["pool", "random", *[f"{w}" for w in WINDOWS]]
        for col, column in enumerate(("doc_share", "token_share")):
            ax = axes[row][col]
            bottom = np.zeros(len(frames))
            for k, domain in enumerate(domains):
                heights = np.array([float(f.loc[f["domain"] == domain, column].sum()) for f in frames])
                ax.bar(np.arange(len(frames)), heights, bottom=bottom, color=colors[k], width=0.7,
                       label=domain if row == 0 and col == 0 else None)
                bottom += heights
            ax.set_xticks(np.arange(len(frames)), labels)
            ax.set_ylim(0, 1)
            ax.set_title(f"{metric}: share of {'documents' if col == 0 else 'tokens'}", fontsize=9)
    fraction = float(table.loc[table["selection"] != "before", "fraction_kept"].iloc[0])
    fig.suptitle(title or f"domain composition before and after pruning (f = {fraction:g})", fontsize=10)
    fig.legend(loc="lower center", ncol=len(domains), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def composition_from_config(config: dict, scores_dir: str | Path, metrics=None, fraction_kept: float | None = None):
    """The composition table of a text-lm config: the pool (``Task.load_split(data, "train")``), its
    score tables under ``scores_dir`` (``metrics``: default the sweep's metrics but random), windows at
    ``fraction_kept`` (default the sweep's smallest f < 1, else 0.5)."""
    from prunebench.metrics.storage import read_scores
    from prunebench.seeding import derive_seed
    from prunebench.tasks import task_of_config

    task = task_of_config(config)
    pool = task.load_split(config["data"], "train")
    strata = task.strata(pool)
    if strata is None or not hasattr(pool, "domain_names"):
        raise PrunebenchError(f"task '{task.name}' has no domains to compose; the composition figure is for text-lm")
    sweep = config.get("sweep") or {}
    metrics = [m for m in (metrics or sweep.get("metrics") or []) if m != "random"]
    if fraction_kept is None:
        pruned = [float(f) for f in sweep.get("fractions_kept") or [] if float(f) < 1.0]
        fraction_kept = min(pruned) if pruned else 0.5
    scores_dir = Path(scores_dir)
    scores, n_tokens = {}, None
    for metric in metrics:
        table = read_scores(scores_dir / f"{metric}.parquet", expected_ids=pool.ids)
        scores[metric] = table.scores
        if metric == TOKEN_SOURCE:
            import pandas as pd

            frame = pd.read_parquet(scores_dir / f"{metric}.parquet", columns=["example_id", "n_tokens"])
            by_id = dict(zip(frame["example_id"].to_numpy(), frame["n_tokens"].to_numpy()))
            n_tokens = np.array([by_id[int(i)] for i in pool.ids], dtype=np.float64)
    if n_tokens is None:
        n_tokens = np.array([len(t) for t in pool.texts], dtype=np.float64)  # characters, without the perplexity table
    return composition_table(scores, pool.ids, strata, list(pool.domain_names), n_tokens, fraction_kept,
                             seed=derive_seed(int(config.get("seed", 0)), "composition-random"))
