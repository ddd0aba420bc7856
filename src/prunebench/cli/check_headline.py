"""``python -m prunebench check-headline``: the regression check of a scale's committed results.

1. **Derived** (seconds, exact on any CPU): the scaling fits, frontiers, crossovers and headline
   entries are recomputed from the committed ``results/<scale>/sweep.parquet`` and the theory values
   from the replica solver, and compared with ``results/headline.json`` to 1e-4 relative
   (:mod:`prunebench.checks.derived`).
2. **Trained** (the scale's training, e.g. ~15 min at ci scale on 2 cores; skip with
   ``--skip-retrain``): the score tables and sweep points are regenerated from scratch into
   ``results/<scale>-check/`` (the committed results are never touched) and compared statistically
   with the committed ones against ``results/<scale>/check_calibration.json``
   (:mod:`prunebench.checks.trained`), at a designed family-wise false-alarm rate of 1%.

``--calibrate`` regenerates with another master seed (``--calibration-seed``, default the config's
seed + 1; optionally also under other floating-point kernels, ``--perturb``) and writes the calibration
instead of checking: a regeneration on another CPU is bounded by a fresh seed, not by a kernel switch
on the same CPU (:mod:`prunebench.checks.calibration`). Exit status 1 on any FAIL/MISSING row.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

KERNEL_PERTURBATION = ("ATEN_CPU_CAPABILITY=avx2", "ONEDNN_MAX_CPU_ISA=AVX2")  # e.g. --perturb of a same-CPU study


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check-headline", help="check a scale's committed results: derived numbers exactly, trained ones statistically",
        description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="ci", help="scale to check (default ci)")
    parser.add_argument("--skip-retrain", action="store_true", help="only the derived check (no training)")
    parser.add_argument("--regenerated", default=None,
                        help="compare with this existing regeneration (a results folder) instead of retraining")
    parser.add_argument("--calibrate", action="store_true",
                        help="regenerate with --calibration-seed and write results/<scale>/check_calibration.json")
    parser.add_argument("--calibration-seed", type=int, default=None,
                        help="master seed of the calibration regeneration (default: the config's seed + 1)")
    parser.add_argument("--perturb", nargs="*", default=None, metavar="VAR=VALUE",
                        help="extra environment of the regeneration, e.g. " + " ".join(KERNEL_PERTURBATION))
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores of the regeneration (default 2)")
    parser.add_argument("--expected", default=None,
                        help="headline file with the expected values (default: results/headline.json for ci, "
                             "results/<scale>/headline.json for every other scale)")
    parser.add_argument("--keep-regenerated", action="store_true", help="keep results/<scale>-check/ afterwards")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prunebench.config import load_config, resolve_config_path, results_dir
    from prunebench.provenance import REPO_ROOT

    config_path = resolve_config_path(args.config)
    config = load_config(config_path)
    committed = results_dir(config)
    if args.calibrate:
        return _calibrate(args, config, config_path, committed)
    rows = _derived_rows(config, config_path, committed, _absolute(expected_path(args.expected, config), REPO_ROOT))
    if not args.skip_retrain:
        rows += _trained_rows(args, config, config_path, committed)
    return _report(rows, config["name"])


def expected_path(given, config: dict) -> Path:
    """The headline file a scale is checked against: ``--expected``, else ``results/headline.json`` for
    ci (as always) and the scale's own ``results/<scale>/headline.json`` for the others."""
    if given:
        return Path(given)
    return Path("results/headline.json") if config["name"] == "ci" else Path("results") / config["name"] / "headline.json"


def _derived_rows(config: dict, config_path: Path, committed: Path, expected_path: Path) -> list[dict]:
    from prunebench.checks.derived import compare_derived, rederive_entries
    from prunebench.headline import THEORY_SCALE, read_headline

    expected = read_headline(expected_path)["entries"]
    got = rederive_entries(config, config_path, committed)
    rows = compare_derived(expected, got, {config["name"], THEORY_SCALE})
    print(f"check-headline: derived check of {len(rows)} entries re-derived from {committed / 'sweep.parquet'}",
          flush=True)
    return rows


def _trained_rows(args, config: dict, config_path: Path, committed: Path) -> list[dict]:
    from prunebench.checks.calibration import CALIBRATION_FILE, read_calibration
    from prunebench.checks.trained import check_trained

    calibration = read_calibration(committed / CALIBRATION_FILE)
    regenerated, cleanup = _regeneration(args, config, config_path, args.perturb or (), {})
    try:
        return check_trained(committed, regenerated, calibration)
    finally:
        if cleanup:
            shutil.rmtree(regenerated, ignore_errors=True)


def _calibrate(args, config: dict, config_path: Path, committed: Path) -> int:
    from prunebench.checks.calibration import CALIBRATION_FILE, calibrate, write_calibration

    env = args.perturb or ()
    seed = int(config["seed"]) + 1 if args.calibration_seed is None else args.calibration_seed
    regenerated, cleanup = _regeneration(args, config, config_path, env, {"seed": seed})
    perturbation = {"seed": {"committed": int(config["seed"]), "regenerated": seed}, "env": dict(_parse_env(env))}
    try:
        document = calibrate(committed, regenerated, config["name"], perturbation)
    finally:
        if cleanup:
            shutil.rmtree(regenerated, ignore_errors=True)
    out = write_calibration(document, committed / CALIBRATION_FILE)
    low = sorted(document["scores"].items(), key=lambda item: item[1]["rho"])[:3]
    print(f"check-headline: calibration -> {out}: sweep sigma {document['sweep']['sigma']:.4f} over "
          f"{document['sweep']['n_points']} points; lowest score agreement "
          + ", ".join(f"{m} {v['rho']:.3f}" for m, v in low))
    return 0


def _regeneration(args, config: dict, config_path: Path, perturbation, overrides: dict) -> tuple[Path, bool]:
    """(folder with regenerated ``scores/`` and ``sweep.parquet``, whether to delete it afterwards)."""
    from prunebench.provenance import REPO_ROOT

    if args.regenerated:
        return _absolute(args.regenerated, REPO_ROOT), False
    name = f"{config['name']}-check"
    folder = REPO_ROOT / "results" / name
    shutil.rmtree(folder, ignore_errors=True)  # a regeneration is from scratch, never resumed from stale files
    _regenerate(config, config_path, folder, name, perturbation, args.cores, overrides)
    return folder, not args.keep_regenerated


def _regenerate(config: dict, config_path: Path, folder: Path, name: str, perturbation, cores: int,
                overrides: dict) -> None:
    """Run the scale's score and sweep jobs under another ``name`` (same settings but ``overrides``,
    e.g. the calibration's master seed) into ``folder``."""
    import yaml

    from prunebench.errors import PrunebenchError
    from prunebench.provenance import REPO_ROOT

    folder.mkdir(parents=True)
    copy = folder / "config.yaml"
    copy.write_text(yaml.safe_dump({**yaml.safe_load(config_path.read_text()), **overrides, "name": name}, sort_keys=False))
    metrics = list((config.get("metrics") or {}).get("names") or [])
    targets = [f"results/{name}/sweep.parquet"] + [f"results/{name}/scores/{m}.parquet" for m in metrics]
    env = {**os.environ, **dict(_parse_env(perturbation))}
    command = [sys.executable, "-m", "snakemake", *targets, "--cores", str(cores), "--configfile",
               str(copy.relative_to(REPO_ROOT)), "--rerun-incomplete", "--show-failed-logs", "--quiet", "rules"]
    changes = [*(f"{key}={value}" for key, value in overrides.items()), *perturbation]
    print(f"check-headline: regenerating {len(targets)} outputs of scale {config['name']} into {folder} "
          f"({', '.join(changes) or 'same settings, default kernels'})", flush=True)
    if subprocess.run(command, cwd=REPO_ROOT, env=env).returncode != 0:
        raise PrunebenchError("the workflow failed while regenerating the trained results (its error is above); "
                              "fix it, then rerun check-headline")


def _parse_env(assignments) -> list[tuple[str, str]]:
    from prunebench.errors import PrunebenchError

    pairs = []
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PrunebenchError(f"--perturb takes VAR=VALUE pairs, got '{item}'")
        pairs.append((key, value))
    return pairs


def _report(rows: list[dict], scale: str) -> int:
    from prunebench.headline import failed, format_table

    print(format_table(rows))
    bad = failed(rows)
    weak = [r["name"] for r in rows if r["status"] == "NO-POWER"]
    if weak:
        print(f"\ncheck-headline: {len(weak)} score table(s) cannot be checked statistically at this scale "
              f"(two legitimate runs agree no better than chance): {', '.join(weak)}")
    if bad:
        print(f"\ncheck-headline: {len(bad)} of {len(rows)} checks failed or are missing (scale {scale}); "
              "see the FAIL/MISSING rows above", file=sys.stderr)
        return 1
    print(f"\ncheck-headline: all {len(rows) - len(weak)} checks of scale {scale} passed")
    return 0


def _absolute(path, root: Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else root / path
