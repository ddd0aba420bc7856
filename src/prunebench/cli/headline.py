"""``python -m prunebench headline build``: record a scale's headline numbers from its results."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("headline", help="build the headline numbers (results/headline.json)")
    commands = parser.add_subparsers(dest="headline_command", metavar="SUBCOMMAND", required=True)
    build = commands.add_parser(
        "build", help="compute a scale's headline entries and merge them into results/headline.json",
        description="Headline numbers of one scale (+ the theory golden points). Accuracies are fractions; "
                    "fraction kept f = kept/N (prune_ratio = 1-f); scores higher = harder.")
    build.add_argument("--config", required=True, help="scale name or YAML path")
    build.add_argument("--sweep", default=None, help="sweep table (default results/<name>/sweep.parquet)")
    source = build.add_mutually_exclusive_group()
    source.add_argument("--scaling", default=None, help="scaling summary (default results/<name>/scaling.json)")
    source.add_argument("--refit", action="store_true",
                        help="fit the scaling summary from --sweep in a scratch folder (a scale without a scaling "
                             "stage, e.g. retrieval; the same computation as check-headline's derived check)")
    build.add_argument("--out", default=None, help="this scale's entries (default results/<name>/headline.json)")
    build.add_argument("--merge-into", default="results/headline.json",
                       help="headline file to update (entries of this scale and 'theory' are replaced)")
    build.add_argument("--no-merge", action="store_true", help="only write --out")
    build.set_defaults(func=run_build)


def build_entries(config: dict, sweep_path, scaling_path) -> list[dict]:
    """Empirical entries of the config's scale, its configured claims (``headline.claims``) and the theory entries."""
    import json
    from pathlib import Path

    from prunebench.errors import PrunebenchError
    from prunebench.headline import claim_entries, empirical_entries, theory_entries
    from prunebench.sweep import read_sweep_table

    scaling_path = Path(scaling_path)
    if not scaling_path.is_file():
        raise PrunebenchError(f"scaling summary {scaling_path} not found; run `python -m prunebench scaling fit` first")
    scaling = json.loads(scaling_path.read_text())
    from prunebench.provenance import stage_hash

    sweep = read_sweep_table(sweep_path, expected_hash=stage_hash(config, "sweep_point"))
    return empirical_entries(config, sweep, scaling) + claim_entries(config, sweep, scaling) + theory_entries(config)


def run_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from prunebench.config import load_config, results_dir
    from prunebench.headline import merge_entries, read_headline, write_headline
    from prunebench.provenance import REPO_ROOT

    config = load_config(args.config)
    results = results_dir(config)
    sweep = Path(args.sweep) if args.sweep else results / "sweep.parquet"
    if args.refit:
        from prunebench.checks.derived import refitted_entries
        from prunebench.errors import PrunebenchError

        if not sweep.is_file():
            raise PrunebenchError(f"sweep table {sweep} not found; run the scale's sweep first (`make resume CONFIG={config['name']}`)")
        entries = refitted_entries(config, args.config, sweep)
    else:
        entries = build_entries(config, sweep, args.scaling or results / "scaling.json")
    scales = {config["name"]} | {e["scale"] for e in entries}
    out = write_headline(merge_entries(None, entries, scales), args.out or results / "headline.json")
    print(f"{len(entries)} headline entries of scale(s) {', '.join(sorted(scales))} -> {out}")
    if not args.no_merge and config.get("headline") is None:
        print(f"config {config['name']} has no headline section: not merged into {args.merge_into}")
    elif not args.no_merge:
        target = Path(args.merge_into)
        target = target if target.is_absolute() else REPO_ROOT / target
        existing = read_headline(target) if target.is_file() else None
        write_headline(merge_entries(existing, entries, scales), target)
        print(f"merged into {target}")
    return 0
