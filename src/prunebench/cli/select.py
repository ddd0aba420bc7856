"""``python -m prunebench select``: keep a fraction of the training set by a score table."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "select", help="write the kept example ids for a score table",
        description="Keep fraction_kept (f) of the scored examples; prune_ratio = 1 - f. Scores: higher = harder.")
    parser.add_argument("--scores", required=True, help="score table (results/<config>/scores/<metric>.parquet)")
    parser.add_argument("--config", required=True, help="scale name or YAML path (for the dataset and defaults)")
    parser.add_argument("--fraction-kept", type=float, required=True, help="fraction of the dataset kept, in (0, 1]")
    from prunebench.selection import get_rule, list_rules

    keeps = list(dict.fromkeys(keep for name in list_rules() for keep in get_rule(name).keeps))
    parser.add_argument("--keep", choices=keeps, default="hard",
                        help="keep mode of the rule (topk: hard = highest scores, easy; window: low, medium, high)")
    parser.add_argument("--rule", choices=list_rules(), default=None, help="selection rule (default: config)")
    parser.add_argument("--class-balance", type=float, default=None, help="class-balance floor (default: config, 0.5)")
    parser.add_argument("--seed", type=int, default=None, help="tie-break / sampling seed (default: derived)")
    parser.add_argument("--out", required=True, help="output .parquet or .csv of kept example ids")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prunebench.config import load_config
    from prunebench.data import load_dataset
    from prunebench.metrics.storage import read_current_scores
    from prunebench.provenance import code_version
    from prunebench.seeding import derive_seed
    from prunebench.selection import kept_count, select
    from prunebench.selection.io import selection_settings, write_selection

    config = load_config(args.config)
    settings = selection_settings(config)
    rule = args.rule or settings["rule"]
    class_balance = settings["class_balance"] if args.class_balance is None else args.class_balance
    train = load_dataset(config["data"], "train")
    table = read_current_scores(args.scores, config, expected_ids=train.ids)
    seed = args.seed if args.seed is not None else derive_seed(
        config["seed"], "select", table.provenance.get("score_name") or table.metric, args.keep, rule, f"{args.fraction_kept:.6f}")
    positions = select(table.scores, train.labels, args.fraction_kept, keep=args.keep, seed=seed,
                       class_balance=class_balance, rule=rule, ccs_hard_cutoff=settings["ccs"]["hard_cutoff"],
                       ccs_strata=settings["ccs"]["strata"], ids=train.ids)
    n_kept = kept_count(len(train), args.fraction_kept)
    provenance = {
        "metric": table.metric, "score_name": table.provenance.get("score_name") or table.metric, "variant": table.provenance.get("variant", ""), "direction": "higher=harder",
        "score_file": str(args.scores), "score_config_hash": table.provenance.get("config_hash", ""),
        "keep": f"{args.keep} (ignored by ccs)" if rule == "ccs" else args.keep, "rule": rule,
        "fraction_kept": float(args.fraction_kept), "prune_ratio": float(1.0 - args.fraction_kept),
        "class_balance": float(class_balance) if rule == "topk" else float("nan"),
        "ccs_hard_cutoff": float(settings["ccs"]["hard_cutoff"]) if rule == "ccs" else float("nan"),
        "ccs_strata": int(settings["ccs"]["strata"]) if rule == "ccs" else -1,
        "seed": int(seed), "n_kept": int(n_kept), "n_total": int(len(train)), "code_version": code_version(),
        "config": config["name"],
    }
    path = write_selection(args.out, train.ids[positions], provenance)
    print(f"kept {len(positions)}/{len(train)} examples (fraction_kept={args.fraction_kept}, "
          f"prune_ratio={1 - args.fraction_kept:.4g}, keep={args.keep}, rule={rule}) -> {path}")
    return 0
