"""``python -m prunebench scaling fit``: scaling-law fits of a sweep table → ``scaling.json``."""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("scaling", help="fit scaling laws to a sweep table")
    commands = parser.add_subparsers(dest="scaling_command", metavar="SUBCOMMAND", required=True)
    fit = commands.add_parser(
        "fit", help="power law (± floor) and exponential fits, AIC/BIC, t intervals, frontier tests, crossover",
        description="Fit test error vs pruned dataset size P = f*N (fraction_kept f; prune_ratio = 1-f).")
    fit.add_argument("--sweep", required=True, help="sweep table (results/<name>/sweep.parquet)")
    fit.add_argument("--config", default=None, help="scale name or YAML path (for the scaling section)")
    fit.add_argument("--criterion", choices=("aic", "aicc", "bic"), default=None, help="model selection (default bic)")
    fit.add_argument("--n-boot", type=int, default=None,
                     help="frontier bootstrap-t replicates (default scaling.n_boot or 200)")
    fit.add_argument("--n-null", type=int, default=None,
                     help="power-law null repeats that measure the tests' false-positive rate (default scaling.n_null or 400)")
    fit.add_argument("--out", required=True, help="output JSON (results/<name>/scaling.json)")
    fit.set_defaults(func=run_fit)


def scaling_settings(config: dict | None) -> dict:
    """The ``scaling`` section with defaults filled in."""
    defaults = {"criterion": "bic", "n_boot": 200, "n_null": 400, "confidence": 0.95}
    return {**defaults, **((config or {}).get("scaling") or {})}


def run_fit(args: argparse.Namespace) -> int:
    from pathlib import Path

    from prunebench.config import load_config
    from prunebench.provenance import code_version
    from prunebench.scaling import analyse_sweep
    from prunebench.seeding import derive_seed
    from prunebench.sweep import read_sweep_table

    config = load_config(args.config) if args.config else None
    settings = scaling_settings(config)
    criterion = args.criterion or settings["criterion"]
    n_boot = args.n_boot if args.n_boot is not None else settings["n_boot"]
    n_null = args.n_null if args.n_null is not None else settings["n_null"]
    seed = derive_seed(config["seed"] if config else 0, "scaling-bootstrap")
    from prunebench.provenance import stage_hash

    expected_hash = stage_hash(config, "sweep_point") if config else None  # refuse a sweep made under other settings
    summary = analyse_sweep(read_sweep_table(args.sweep, expected_hash=expected_hash), criterion=criterion, n_boot=n_boot, seed=seed,
                            confidence=settings["confidence"], n_null=n_null)
    summary = {"sweep": str(args.sweep), "scale": config["name"] if config else None,
               "code_version": code_version(), **summary}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
    full = summary["full_data"]
    if full:
        best = full["best"] or f"none selected ({full['reason']})"
        nu = full["fits"]["power_law"]["params"]["nu"]
        print(f"full data (f=1): power-law exponent nu = {nu if nu is None else round(nu, 4)}; best family: {best}")
    print(f"scaling fits -> {out}")
    return 0
