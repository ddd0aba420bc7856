"""``python -m prunebench figures empirical``: the paper's empirical panels from a sweep."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("figures", help="draw figures (empirical panels of the sweep)")
    commands = parser.add_subparsers(dest="figures_command", metavar="SUBCOMMAND", required=True)
    empirical = commands.add_parser(
        "empirical", help="error vs pruned size, keep easy vs hard, frontier, metric benchmark, scaling fits",
        description="Empirical figures. fraction kept f = kept/N (prune_ratio = 1-f); scores: higher = harder.")
    empirical.add_argument("--config", required=True, help="scale name or YAML path")
    empirical.add_argument("--sweep", required=True, help="sweep table (results/<name>/sweep.parquet)")
    empirical.add_argument("--scaling", default=None, help="scaling summary (results/<name>/scaling.json)")
    empirical.add_argument("--scores-dir", default=None,
                           help="score tables of the sweep's metrics (default results/<name>/scores): estimators "
                                "too noisy to rank (prunebench.metrics.reliability) are left out of the benchmark figure")
    empirical.add_argument("--outdir", required=True, help="output folder (figures/ at ci scale, else figures/<name>)")
    empirical.set_defaults(func=run_empirical)
    compute = commands.add_parser(
        "compute", help="accuracy at the largest N vs total compute (scoring + training) of every method",
        description="Accuracy vs total cost (optimizer steps; seconds) at the largest N: static pruning over f, "
                    "InfoBatch, RS2 with/without replacement, compressed schedule, full data (methods without "
                    "rows are skipped).")
    compute.add_argument("--config", required=True, help="scale name or YAML path")
    compute.add_argument("--sweep", required=True, help="sweep table (results/<name>/sweep.parquet)")
    compute.add_argument("--out", required=True, help="output PNG (figures/<name>/accuracy_vs_compute.png)")
    compute.set_defaults(func=run_compute)
    composition = commands.add_parser(
        "composition", help="domain composition (documents, tokens) before and after each window (text-lm)",
        description="Share of documents and of tokens per domain: the pool, a random selection and the low / "
                    "medium / high windows of each metric at rate f (prunebench.figures.composition).")
    composition.add_argument("--config", required=True, help="scale name or YAML path (task text-lm)")
    composition.add_argument("--scores-dir", required=True, help="score tables of the pool (results/<name>/scores)")
    composition.add_argument("--out", required=True, help="output PNG (figures/<name>/domain_composition.png)")
    composition.add_argument("--csv", default=None, help="also write the table here")
    composition.set_defaults(func=run_composition)


def run_empirical(args: argparse.Namespace) -> int:
    from pathlib import Path

    from prunebench.config import load_config, results_dir
    from prunebench.errors import PrunebenchError
    from prunebench.figures.empirical import make_empirical_figures
    from prunebench.provenance import stage_hash
    from prunebench.sweep import read_sweep_table

    config = load_config(args.config)
    sweep = read_sweep_table(args.sweep, expected_hash=stage_hash(config, "sweep_point"))
    scaling = None
    if args.scaling:
        path = Path(args.scaling)
        if not path.is_file():
            raise PrunebenchError(f"scaling summary {path} not found; run `python -m prunebench scaling fit` first")
        scaling = json.loads(path.read_text())
    left_out = unreliable_metrics(sweep, Path(args.scores_dir) if args.scores_dir else results_dir(config) / "scores")
    for reason in left_out.values():
        print(reason)
    for path in make_empirical_figures(config, sweep, scaling, args.outdir, left_out):
        print(path)
    return 0


def run_composition(args: argparse.Namespace) -> int:
    from prunebench.config import load_config
    from prunebench.figures.composition import composition_from_config, plot_composition

    config = load_config(args.config)
    table = composition_from_config(config, args.scores_dir)
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(plot_composition(table, args.out, title=f"{config['name']}: domain composition before and after pruning"))
    return 0


def run_compute(args: argparse.Namespace) -> int:
    from prunebench.config import load_config
    from prunebench.figures.compute import plot_accuracy_vs_compute
    from prunebench.figures.style import save
    from prunebench.provenance import stage_hash
    from prunebench.sweep import read_sweep_table

    config = load_config(args.config)
    sweep = read_sweep_table(args.sweep, expected_hash=stage_hash(config, "sweep_point"))
    print(save(plot_accuracy_vs_compute(sweep, f"{config['name']} scale"), args.out))
    return 0


def unreliable_metrics(sweep, scores_dir) -> dict[str, str]:
    """{metric: reason} for the sweep's metrics whose full-set score table is too noisy for figures
    (the full-set table's models and standard errors stand for the estimator; metrics without a
    table there, e.g. random, are kept)."""
    from prunebench.metrics.reliability import usable_for_figures
    from prunebench.metrics.storage import read_scores

    left_out = {}
    for metric in sorted(set(sweep["metric"])):
        path = scores_dir / f"{metric}.parquet"
        if path.is_file():
            usable, reason = usable_for_figures(read_scores(path))
            if not usable:
                left_out[metric] = reason
    return left_out
