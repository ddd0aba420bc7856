"""``python -m prunebench sweep {plan,protocols,scores,point,shard,aggregate}``: the training sweep over N × f × metric × keep × seed."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)
CONVENTION = "fraction_kept f = kept/N (prune_ratio = 1-f); scores: higher = harder; keep=hard keeps the highest"


def register(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="plan, run and aggregate the pruning sweep",
                                   description=f"The pruning sweep. {CONVENTION}.")
    commands = parser.add_subparsers(dest="sweep_command", metavar="SUBCOMMAND", required=True)
    _register_plan(commands)
    _register_protocols(commands)
    _register_scores(commands)
    _register_point(commands)
    _register_shard(commands)
    _register_aggregate(commands)


def _register_plan(commands) -> None:
    parser = commands.add_parser("plan", help="list the points of a config's sweep (one run file per line)")
    parser.add_argument("--config", required=True, help="scale name or YAML path")
    parser.add_argument("--format", choices=("paths", "table"), default="paths",
                        help="run-file paths (default) or a table of coordinates")
    parser.set_defaults(func=run_plan)


def _register_protocols(commands) -> None:
    parser = commands.add_parser("protocols", help="list the registered sweep protocols (what each trains on, its budget)")
    parser.set_defaults(func=run_protocols)


def _register_point(commands) -> None:
    parser = commands.add_parser("point", help="train and evaluate one sweep point, write its row",
                                 description=f"One sweep point. {CONVENTION}.")
    parser.add_argument("--config", required=True, help="scale name or YAML path")
    from prunebench.sweep.protocols import keep_labels, list_protocols

    parser.add_argument("--protocol", choices=list_protocols(), default="fixed_epochs",
                        help="a registered protocol (`sweep protocols` lists them with their budgets)")
    parser.add_argument("--size", type=int, required=True, help="initial dataset size N (class-balanced subsample)")
    parser.add_argument("--metric", required=True, help="metric name; 'none' for the f=1 baseline")
    parser.add_argument("--keep", required=True, choices=keep_labels(),
                        help="easy/hard (ccs under selection rule ccs, random for metric random, all for the baseline; "
                             "a baseline protocol's own labels, see `sweep protocols`)")
    parser.add_argument("--fraction-kept", type=float, required=True, help="f in (0, 1]; 1 only for the baseline")
    parser.add_argument("--seed", type=int, default=0, help="replicate index (seeds are derived from the config's)")
    parser.add_argument("--scores", default=None, help="score table (default results/<name>/scores/<metric>.parquet)")
    parser.add_argument("--baseline", default=None, help="run file of the f=1 point (needed by fixed_compute)")
    parser.add_argument("--device", default=None, help="cpu/cuda (default: the config's device)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default sweep.threads)")
    parser.add_argument("--out", required=True, help="run file (.json) to write")
    parser.set_defaults(func=run_point)


def _register_shard(commands) -> None:
    parser = commands.add_parser(
        "shard", help="train a shard of sweep points in one process (data and device loaded once)",
        description=f"Several sweep points in one process; each run file is written as soon as its point finishes, "
                    f"and present valid run files are skipped. {CONVENTION}.")
    parser.add_argument("--config", required=True, help="scale name or YAML path")
    chosen = parser.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--shard", default=None, help="i/k: the i-th (0-based) of k contiguous chunks of the plan")
    chosen.add_argument("--points", nargs="+", default=None, help="run files to produce (paths as `sweep plan` prints)")
    parser.add_argument("--runs", default=None, help="runs folder for --shard (default results/<name>/runs)")
    parser.add_argument("--device", default=None, help="cpu/cuda (default: the config's device)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default sweep.threads)")
    parser.set_defaults(func=run_shard)


def _register_scores(commands) -> None:
    parser = commands.add_parser(
        "scores", help="score one replicate's N-example initial dataset (probes trained on it alone)",
        description="A metric's score table of the (N, seed) initial dataset, for sweep.score_source initial_subset. "
                    "Scores: higher = harder.")
    parser.add_argument("--config", required=True, help="scale name or YAML path")
    parser.add_argument("--metric", required=True, help="score name (a metrics.names entry)")
    parser.add_argument("--size", type=int, required=True, help="initial dataset size N")
    parser.add_argument("--seed", type=int, default=0, help="replicate index (the sweep's seed)")
    parser.add_argument("--device", default=None, help="cpu/cuda (default: the config's device)")
    parser.add_argument("--out", default=None,
                        help="score table (default results/<name>/scores/subset/N<N>/seed<s>/<metric>.parquet)")
    parser.set_defaults(func=run_scores)


def _register_aggregate(commands) -> None:
    parser = commands.add_parser("aggregate", help="concatenate run files into the tidy sweep table")
    parser.add_argument("runs", nargs="+", help="run files and/or directories holding them")
    parser.add_argument("--out", required=True, help="sweep table (.parquet)")
    parser.add_argument("--csv", default=None, help="also write a CSV copy (for readable diffs)")
    parser.add_argument("--config", default=None,
                        help="refuse run files made under other settings than this config's (scale name or YAML path)")
    parser.set_defaults(func=run_aggregate)


def run_plan(args: argparse.Namespace) -> int:
    from prunebench.config import load_config
    from prunebench.sweep import format_fraction, plan_points

    config = load_config(args.config)
    points = plan_points(config)
    if args.format == "paths":
        for point in points:
            print(f"results/{config['name']}/runs/{point.relative_path()}")
        return 0
    print("protocol\tinitial_size\tmetric\tkeep\tfraction_kept\tseed")
    for p in points:
        print(f"{p.protocol}\t{p.initial_size}\t{p.metric}\t{p.keep}\t{format_fraction(p.fraction_kept)}\t{p.seed}")
    log.info("%d points (%s)", len(points), CONVENTION)
    return 0


def run_protocols(args: argparse.Namespace) -> int:
    from prunebench.sweep.protocols import get_protocol, list_protocols

    print("protocol\ttrains_on\tlabels (metric/keep)\tfractions\tbudget")
    for name in list_protocols():
        protocol = get_protocol(name)
        labels = ", ".join(f"{m}/{k}" for m, k in protocol.labels) or "the sweep's strategies"
        print(f"{name}\t{protocol.trains_on}\t{labels}\t{'f < 1' if protocol.per_fraction else 'f = 1'}\t"
              f"{protocol.budget}")
    return 0


def run_scores(args: argparse.Namespace) -> int:
    from prunebench.config import load_config
    from prunebench.sweep.scores import compute_subset_scores

    from prunebench.cli.metrics import pin_threads

    config = load_config(args.config)
    pin_threads(config)  # the whole job at probe.threads, like `metrics compute`
    path = compute_subset_scores(config, args.metric, args.size, args.seed, out=args.out, device=args.device)
    print(path)
    return 0


def check_point_args(args: argparse.Namespace) -> None:
    """Refuse, naming the option, a non-positive ``--size``/``--threads`` or a negative ``--seed``."""
    from prunebench.errors import PrunebenchError

    if args.size < 1:
        raise PrunebenchError(f"--size {args.size}: the initial dataset size N must be a positive integer (one of "
                              "sweep.sizes)")
    if args.seed < 0:
        raise PrunebenchError(f"--seed {args.seed}: the replicate index must be 0 or more (one of sweep.seeds)")
    if args.threads is not None and args.threads < 1:
        raise PrunebenchError(f"--threads {args.threads}: the torch thread count must be 1 or more (sweep.threads)")


def run_point(args: argparse.Namespace) -> int:
    from prunebench.config import load_config
    from prunebench.sweep import parse_point, read_row, run_point as run, write_row

    check_point_args(args)
    config = load_config(args.config)
    point = parse_point(args.protocol, args.size, args.metric, args.keep, args.fraction_kept, args.seed)
    baseline_row = read_row(args.baseline) if args.baseline else None
    row = run(config, point, score_path=args.scores, baseline_row=baseline_row, device=args.device,
              threads=args.threads)
    write_row(row, args.out)
    print(f"{point.relative_path()}: n_kept={row['n_kept']} (fraction_kept={point.fraction_kept:g}) "
          f"steps={row['train_steps']} test_accuracy={row['test_accuracy']:.4f} in {row['wall_time_s']:.1f}s -> {args.out}")
    return 0


def run_shard(args: argparse.Namespace) -> int:
    from pathlib import Path

    from prunebench.config import load_config, results_dir
    from prunebench.errors import PrunebenchError
    from prunebench.sweep.shard import parse_shard_spec, point_of_run_file, run_shard as run, shard_of_plan

    if args.threads is not None and args.threads < 1:
        raise PrunebenchError(f"--threads {args.threads}: the torch thread count must be 1 or more (sweep.threads)")
    config = load_config(args.config)
    if args.shard is not None:
        runs = Path(args.runs) if args.runs else results_dir(config) / "runs"
        jobs = [(point, runs / point.relative_path()) for point in shard_of_plan(config, *parse_shard_spec(args.shard))]
    else:
        jobs = [(point_of_run_file(path), Path(path)) for path in args.points]
    report = run(config, jobs, device=args.device, threads=args.threads)
    mean = sum(report.point_s) / len(report.point_s) if report.point_s else 0.0
    print(f"{len(report.trained)} points trained, {len(report.skipped)} skipped (valid run files); "
          f"load {report.load_s:.1f}s once, {mean:.2f}s per point")
    return 0


def run_aggregate(args: argparse.Namespace) -> int:
    from prunebench.sweep import sweep_table, write_sweep_table

    expected = None
    if args.config:
        from prunebench.config import load_config
        from prunebench.provenance import stage_hash

        expected = stage_hash(load_config(args.config), "sweep_point")
    table = sweep_table(args.runs, expected_hash=expected)
    path = write_sweep_table(table, args.out, args.csv)
    print(f"{len(table)} runs -> {path}" + (f" (+ {args.csv})" if args.csv else ""))
    return 0
