"""``python -m prunebench workflow``: run Snakemake the way the Makefile targets do.

What it adds to a bare ``snakemake`` call:

- the local profile (``workflow/profiles/local``: ``--show-failed-logs``, so a failing job's error
  is printed, and ``--rerun-incomplete``);
- recovery after a killed run: Snakemake leaves its lock under ``.snakemake/locks`` when it is
  killed (SIGKILL, a closed terminal) and the next run stops with a ``LockException``. The lock is
  stale when no other Snakemake process works in the directory; then it is removed here, and the
  run resumes (only the missing and incomplete outputs are made);
- a damaged score table or run file (truncated, a flipped bit: its content checksum fails) that
  Snakemake would take as up to date is forced, so it is recomputed;
- ``--regenerate``: committed outputs of a fresh clone count as up to date for Snakemake (they
  exist and are newer than their inputs), so a plain run trains nothing. A root job (data
  preparation, the theory solvers) whose committed output Snakemake has no record of making is
  forced, and with it everything downstream; a run interrupted after the roots ran resumes instead.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
from pathlib import Path

from prunebench.provenance import REPO_ROOT

PROFILE = REPO_ROOT / "workflow" / "profiles" / "local"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "workflow", help="run the Snakemake workflow (local profile, stale-lock recovery, --regenerate)",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    parser.add_argument("--config", default=None, help="scale name or YAML path (default: the Snakefile's, ci)")
    parser.add_argument("--cores", default="2", help="cores Snakemake may use (default 2)")
    parser.add_argument("--directory", default=".", help="working directory of the run (default: here)")
    parser.add_argument("--regenerate", action="store_true",
                        help="force the root jobs whose committed outputs this checkout did not make (fresh clone)")
    parser.add_argument("snakemake_args", nargs=argparse.REMAINDER,
                        help="further Snakemake arguments, after `--` (e.g. -- -n, -- --forcerun rule)")
    parser.set_defaults(func=run_workflow)


def run_workflow(args: argparse.Namespace) -> int:
    """Unlock a stale lock, then run Snakemake with the local profile; returns its exit status."""
    workdir = Path(args.directory).resolve()
    # the user's arguments (targets first) go before the list-valued options (--configfile, --forcerun)
    command = [sys.executable, "-m", "snakemake", *[a for a in args.snakemake_args if a != "--"],
               "--profile", str(PROFILE), "--cores", str(args.cores)]
    if args.config:
        from prunebench.config import load_config, resolve_config_path

        config = load_config(args.config)
        command += ["--configfile", os.path.relpath(resolve_config_path(args.config).resolve(), workdir)]
        forced = [*damaged_outputs(workdir, config), *(forced_roots(workdir, config) if args.regenerate else [])]
        command += ["--forcerun", *forced] if forced else []
    if unlock_stale(workdir):
        print(f"note: removed the stale Snakemake lock of {workdir} (no Snakemake process runs there); resuming",
              file=sys.stderr)
    print(" ".join(command), file=sys.stderr)
    return subprocess.call(command, cwd=workdir)


def root_outputs(config: dict) -> dict[str, list[str]]:
    """The outputs of the workflow's root jobs (no input from another job), by rule."""
    from prunebench.config import output_dirs

    dirs = output_dirs(config)
    theory = dirs["theory"]
    return {
        "data_prepare": [f"{dirs['results']}/data/manifest.json"],
        "theory_curves": [f"{theory}/curves.csv"],
        "theory_crossover": [f"{theory}/crossover.csv"],
        "theory_simulate": [f"{theory}/simulations.csv"],
    }


def damaged_outputs(workdir: Path, config: dict) -> list[str]:
    """Score tables and run files of ``config`` under ``workdir`` that fail their integrity checks
    (unreadable, missing columns or keys, content checksum mismatch), as paths relative to ``workdir``."""
    from prunebench.errors import PrunebenchError
    from prunebench.metrics.storage import read_scores
    from prunebench.sweep.point import read_row

    results = workdir / "results" / config["name"]
    candidates = [(path, read_scores) for path in sorted((results / "scores").rglob("*.parquet"))
                  if re.fullmatch(r"[a-z0-9-]+", path.stem)]  # what the score rules' {metric} matches
    candidates += [(path, read_row) for path in sorted((results / "runs").rglob("*.json"))]
    damaged = []
    for path, read in candidates:
        try:
            read(path)
        except PrunebenchError as err:
            print(f"note: recomputing {path.relative_to(workdir)}: {err}", file=sys.stderr)
            damaged.append(str(path.relative_to(workdir)))
    return damaged


def forced_roots(workdir: Path, config: dict) -> list[str]:
    """The root rules whose outputs exist without a Snakemake record (to ``--forcerun``)."""
    untracked = [rule for rule, outputs in root_outputs(config).items()
                 if any((workdir / path).exists() and not has_record(workdir, path) for path in outputs)]
    if untracked:
        print(f"note: regenerating from {', '.join(untracked)} (their outputs were not made by this checkout)",
              file=sys.stderr)
    return untracked


def has_record(workdir: Path, output: str) -> bool:
    """Whether Snakemake recorded making ``output`` (its ``.snakemake/metadata`` entry: the path's
    URL-safe base64, split into ``@``-prefixed folders past the file-name length limit)."""
    encoded = base64.urlsafe_b64encode(output.encode()).decode()
    limit = 254
    parts = [encoded[i:i + limit] for i in range(0, len(encoded), limit)]
    parts = ["@" + part for part in parts[:-1]] + parts[-1:]
    return (workdir / ".snakemake" / "metadata" / Path(*parts)).exists()


def unlock_stale(workdir: Path) -> bool:
    """Remove ``.snakemake/locks/*`` when no other live Snakemake process works in ``workdir``."""
    locks = sorted((workdir / ".snakemake" / "locks").glob("*.lock"))
    if not locks or snakemake_running_in(workdir):
        return False
    for lock in locks:
        lock.unlink(missing_ok=True)
    return True


def snakemake_running_in(workdir: Path) -> bool:
    """Whether a Snakemake process other than this one has ``workdir`` as its working directory
    (``/proc``; where there is none, assume one runs, so nothing is unlocked)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:  # gone, or not ours to read
            continue
        if cwd == workdir and any(b"snakemake" in part and b"prunebench" not in part for part in command[:3]):
            return True
    return False
