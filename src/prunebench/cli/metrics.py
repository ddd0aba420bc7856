"""``python -m prunebench metrics {list,compute,correlations}``: pruning scores (higher = harder)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("metrics", help="list, compute and compare pruning metrics",
                                   description="Pruning metric scores; every score is higher = harder.")
    commands = parser.add_subparsers(dest="metrics_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    commands.add_parser("list", help="print one registered metric name per line").set_defaults(func=run_list)

    compute = commands.add_parser("compute", help="compute one metric and write its score table")
    compute.add_argument("--config", required=True, help="scale name (smoke, ci, ...) or YAML path")
    compute.add_argument("--metric", required=True, help="registered metric name (see `metrics list`)")
    compute.add_argument("--out", default=None, help="output parquet (default results/<config>/scores/<metric>.parquet)")
    compute.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="override a metric parameter, e.g. --set ensemble_size=1 (YAML value)")
    compute.add_argument("--device", default=None, help="cpu, cuda or auto (default: the config's)")
    compute.set_defaults(func=run_compute)

    models = commands.add_parser("models", help="train one chunk of a metric's subset models (metrics.models_per_job)",
                                 description="Train chunk k of a model set (memorization: subsample, influence: "
                                             "influence) and cache each model's outcome; the metric's own job then "
                                             "only reads them (prunebench.metrics.chunks).")
    models.add_argument("--config", required=True, help="scale name or YAML path")
    models.add_argument("--model-set", required=True, help="the set's key (subsample, influence)")
    models.add_argument("--chunk", required=True, type=int, help="chunk index k: models [k*K, (k+1)*K)")
    models.add_argument("--out", required=True, help="JSON summary of the chunk (the workflow's marker)")
    models.add_argument("--device", default=None, help="cpu, cuda or auto (default: the config's)")
    models.set_defaults(func=run_models)

    ablation = commands.add_parser("reference-ablation",
                                   help="text-lm: score a stratified pool subsample with a pretrained LM and compare "
                                        "it with the trained reference's perplexity table")
    ablation.add_argument("--config", required=True, help="a text-lm scale whose perplexity table is computed")
    ablation.add_argument("--per-domain", type=int, default=60, help="documents per domain (default 60)")
    ablation.add_argument("--rate", type=float, default=0.5, help="the windows' selection rate (default 0.5)")
    ablation.add_argument("--model", default="smollm2-135m", help="shipped name, .gguf file or model directory")
    ablation.add_argument("--threads", type=int, default=None, help="torch threads (default probe.threads)")
    ablation.add_argument("--out", required=True, help="JSON result")
    ablation.set_defaults(func=run_reference_ablation)

    corr = commands.add_parser("correlations", help="Spearman rank correlations between score tables")
    corr.add_argument("--config", default=None, help="check every table against this config's train ids")
    corr.add_argument("--scores", nargs="+", required=True, help="score directory or parquet files")
    corr.add_argument("--out-fig", required=True, help="heatmap image (png/pdf)")
    corr.add_argument("--out-csv", required=True, help="correlation matrix CSV")
    corr.set_defaults(func=run_correlations)


def run_list(args: argparse.Namespace) -> int:
    from prunebench.metrics import list_metrics

    for name in list_metrics():
        print(name)
    return 0


def parse_overrides(items: list[str]) -> dict:
    """``["k=v", ...]`` → dict with YAML-parsed values."""
    import yaml

    from prunebench.errors import PrunebenchError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PrunebenchError(f"--set expects KEY=VALUE, got '{item}'")
        out[key.strip()] = yaml.safe_load(value)
    return out


def pin_threads(config: dict) -> None:
    """Run the whole score job (not only its probe training) with ``probe.threads`` torch threads,
    when set: the count its table records and its config_hash includes, whatever the machine's cores."""
    threads = (config.get("probe") or {}).get("threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def run_compute(args: argparse.Namespace) -> int:
    from prunebench.config import load_config
    from prunebench.metrics.compute import compute_metric

    config = load_config(args.config)
    pin_threads(config)
    path = compute_metric(config, args.metric, out=args.out, overrides=parse_overrides(args.set), device=args.device)
    print(path)
    return 0


def run_models(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from prunebench.config import load_config
    from prunebench.metrics.chunks import train_chunk
    from prunebench.provenance import atomic_write

    config = load_config(args.config)
    pin_threads(config)
    summary = train_chunk(config, args.model_set, args.chunk, device=args.device)
    atomic_write(Path(args.out), lambda tmp: tmp.write_text(json.dumps(summary, indent=1) + "\n"))
    print(f"{args.model_set} chunk {args.chunk + 1}/{summary['chunks']}: {len(summary['models'])} models "
          f"in {summary['seconds']:.1f} s -> {args.out}")
    return 0


def run_reference_ablation(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import torch

    from prunebench.config import load_config
    from prunebench.provenance import atomic_write
    from prunebench.tasks.text_lm.reference_ablation import run_ablation

    config = load_config(args.config)
    torch.set_num_threads(int(args.threads or (config.get("probe") or {}).get("threads") or 1))
    result = run_ablation(config, per_domain=args.per_domain, rate=args.rate, model=args.model)
    atomic_write(Path(args.out), lambda tmp: tmp.write_text(json.dumps(result, indent=1) + "\n"))
    rho = result["spearman"]
    print(f"{result['subsample']['n']} documents: Spearman {rho['rho']:.3f} [{rho['ci95'][0]:.3f}, {rho['ci95'][1]:.3f}] "
          f"({result['tokens_per_second']:.0f} tokens/s) -> {args.out}")
    return 0


def run_correlations(args: argparse.Namespace) -> int:
    from prunebench.figures.correlation import plot_correlations, score_files

    expected_ids, title = None, "Spearman rank correlation of pruning scores"
    if args.config:
        from prunebench.config import load_config
        from prunebench.metrics.storage import read_current_scores
        from prunebench.tasks import task_of_config

        config = load_config(args.config)
        expected_ids = task_of_config(config).load_split(config["data"], "train").ids  # image task: load_dataset
        title += f" ({config['name']}, N={len(expected_ids)})"
        for path in score_files(args.scores):  # a stale table is refused before anything is drawn
            read_current_scores(path, config, expected_ids)
    matrix = plot_correlations(score_files(args.scores), args.out_fig, args.out_csv, expected_ids=expected_ids,
                               title=title)
    for note in matrix.attrs.get("left_out", []):
        print(note)
    print(f"{len(matrix)} metrics -> {args.out_fig}, {args.out_csv}")
    return 0
