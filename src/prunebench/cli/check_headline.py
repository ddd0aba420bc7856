"""``python -m prunebench check-headline``: regenerate a scale's results and compare with results/headline.json.

Without ``--no-run`` the part of the scale's Snakemake workflow behind ``results/<name>/headline.json``
is rerun: data, the sweep metrics' score tables (with an empty probe cache), sweep, fits
(``--forceall``); or, with ``--rerun sweep``, the sweep points and what follows (``--forcerun sweep_point``). The committed outputs are never silently overwritten: the
expected headline file is read first, ``results/<name>/``, ``results/headline.json`` and the scale's
figure files are snapshotted to a temporary folder, and restored after the comparison (pass or
fail, even on Ctrl-C) unless ``--keep-regenerated`` is given. Exit status 1 on any FAIL/MISSING row.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check-headline", help="regenerate the ci-scale headline numbers and compare them with results/headline.json",
        description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="ci", help="scale to regenerate (default ci)")
    parser.add_argument("--no-run", action="store_true", help="compare the results on disk without rerunning")
    parser.add_argument("--rerun", choices=("all", "sweep"), default="all",
                        help="all: the whole workflow from data (default); sweep: sweep points and what follows")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    parser.add_argument("--expected", default="results/headline.json", help="headline file with the expected values")
    parser.add_argument("--keep-regenerated", action="store_true",
                        help="leave the regenerated results in place instead of restoring the committed ones")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prunebench.config import load_config, resolve_config_path, results_dir
    from prunebench.headline import THEORY_SCALE, compare, failed, format_table, read_headline
    from prunebench.provenance import REPO_ROOT

    config = load_config(args.config)
    expected_path = _absolute(args.expected, REPO_ROOT)
    expected = read_headline(expected_path)["entries"]
    scales = {config["name"], THEORY_SCALE}
    if args.no_run:
        got = _entries(config, results_dir(config))
    else:
        with _snapshot(_protected_paths(config, REPO_ROOT, expected_path), keep=args.keep_regenerated):
            _regenerate(resolve_config_path(args.config), results_dir(config), args.rerun, args.cores, REPO_ROOT)
            got = _entries(config, results_dir(config))
    rows = compare(expected, got, scales)
    print(format_table(rows))
    bad = failed(rows)
    if bad:
        print(f"\ncheck-headline: {len(bad)} of {len(rows)} headline numbers regressed or are missing "
              f"(scale {config['name']}); see the FAIL/MISSING rows above", file=sys.stderr)
        return 1
    print(f"\ncheck-headline: all {len(rows)} headline numbers of scale {config['name']} within tolerance")
    return 0


def _entries(config: dict, results: Path) -> list[dict]:
    from prunebench.cli.headline import build_entries

    return build_entries(config, results / "sweep.parquet", results / "scaling.json")


def _absolute(path, root: Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else root / path


def _protected_paths(config: dict, root: Path, expected_path: Path) -> list[Path]:
    """What a rerun may rewrite: the scale's results, the headline file, the scale's figure files."""
    name = config["name"]
    figures = root / "figures" if name == "ci" else root / "figures" / name
    return [root / "results" / name, expected_path, figures]


@contextmanager
def _snapshot(paths: list[Path], keep: bool):
    """Copy ``paths`` (files, folders; a missing one is remembered as missing) and restore them after."""
    with tempfile.TemporaryDirectory(prefix="prunebench-check-") as tmp:
        saved = [(path, _save(path, Path(tmp) / str(i))) for i, path in enumerate(paths)]
        try:
            yield
        finally:
            if not keep:
                for path, copy in saved:
                    _restore(path, copy)
                print("check-headline: restored the committed results (use --keep-regenerated to keep the new ones)")


def _save(path: Path, copy: Path) -> Path | None:
    if path.is_dir():
        # figures/ at ci scale also holds other scales' folders: keep only its own top-level files
        if path.name == "figures":
            copy.mkdir(parents=True)
            for item in path.iterdir():
                if item.is_file():
                    shutil.copy2(item, copy / item.name)
            return copy
        shutil.copytree(path, copy, symlinks=True)
        return copy
    if path.is_file():
        shutil.copy2(path, copy)
        return copy
    return None


def _restore(path: Path, copy: Path | None) -> None:
    if path.is_dir() and path.name == "figures":
        for item in path.iterdir():
            if item.is_file():
                item.unlink()
        for item in (copy.iterdir() if copy else ()):
            shutil.copy2(item, path / item.name)
        return
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if copy is not None and copy.is_dir():
        shutil.copytree(copy, path, symlinks=True)
    elif copy is not None:
        shutil.copy2(copy, path)


def _regenerate(config_path: Path, results: Path, rerun: str, cores: int, root: Path) -> None:
    """Rerun (forced) what the scale's headline file depends on, with Snakemake from the repository root."""
    from prunebench.errors import PrunebenchError

    if rerun == "all":
        shutil.rmtree(results / "probes", ignore_errors=True)  # retrain the probes too (restored afterwards)
    force = ["--forceall"] if rerun == "all" else ["--forcerun", "sweep_point"]
    target = str((results / "headline.json").relative_to(root))
    command = [sys.executable, "-m", "snakemake", target, "--cores", str(cores), "--configfile", str(config_path),
               "--rerun-incomplete", *force]
    print("check-headline: regenerating with:", " ".join(command), flush=True)
    if subprocess.run(command, cwd=root).returncode != 0:
        raise PrunebenchError("the workflow failed while regenerating the results (see the Snakemake log above); "
                              "fix it, then rerun check-headline")
