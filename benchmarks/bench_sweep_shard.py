"""Per-point overhead of the sweep: one process per point (`sweep point`) against one shard (`sweep shard`).

    .venv/bin/python benchmarks/bench_sweep_shard.py                       # ci scale, 6 points, 3 repeats
    .venv/bin/python benchmarks/bench_sweep_shard.py --config cifar10 --name cifar10-gpubench \\
        --sizes 3125 50000 --device cuda --point-repeats 1 --out $OUT/sweep_shard.jsonl   # on a GPU

The points (per size N): the f = 1 baseline, random at f = 0.8 and 0.5, EL2N keep-hard at f = 0.8 and
0.5, and the fixed-compute EL2N keep-hard point at f = 0.5. They run under a scratch copy of the
config (``name`` = ``--name``: results/<name>/, deleted afterwards; results/ci is never touched),
reading the EL2N initial-subset score tables of ``--scores-from`` (results/ci by default; with
``--compute-scores`` they are computed by `sweep scores` and timed, the GPU script's score ensemble).

Each repeat runs both ways from a clean runs folder and times whole processes from outside:
``point``: one `python -m prunebench sweep point` process per point (interpreter start, imports,
data decode, device, training, evaluation); ``shard``: one `python -m prunebench sweep shard`
process for all the points. Per-point seconds = process seconds / points; the training seconds are
the rows' ``train_wall_time_s`` (the trainer's own clock: optimizer steps only, no evaluation);
``run_point_s`` is the rows' ``wall_time_s`` (inside run_point: selection, training, evaluation, and
for the per-point way the data load). The point's own work is the shard's ``run_point_s``; the
start-up overhead (interpreter, imports, data decode, device) is per-point seconds − that work, and
``startup_overhead_pct`` = 100 · overhead / training seconds (the issue's target: under 10%);
``non_training_pct`` also counts the evaluation and selection. The two ways must give identical rows
up to the timing fields (checked: ``rows_identical``, ``rows_differ_in``).
One JSON line per repeat is appended to results/benchmarks/sweep_shard.jsonl (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from prunebench.config import REPO_ROOT, load_config, resolve_config_path
from prunebench.provenance import code_version
from prunebench.sweep import SweepPoint, baseline_point
from prunebench.sweep.plan import score_table_path

TIMING_KEYS = {"wall_time_s", "train_wall_time_s", "checksum"}


def bench_points(sizes: list[int]) -> list[SweepPoint]:
    """Six points per N: baseline, random 0.8/0.5, el2n hard 0.8/0.5, fixed-compute el2n hard 0.5."""
    points = []
    for n in sizes:
        points += [baseline_point(n, 0)]
        points += [SweepPoint("fixed_epochs", n, "random", "random", f, 0) for f in (0.8, 0.5)]
        points += [SweepPoint("fixed_epochs", n, "el2n", "hard", f, 0) for f in (0.8, 0.5)]
        points += [SweepPoint("fixed_compute", n, "el2n", "hard", 0.5, 0)]
    return points


def scratch_config(source: str, name: str, sizes: list[int], device: str | None) -> Path:
    """A copy of ``source`` named ``name`` whose sweep holds ``sizes`` (written under results/<name>/)."""
    config = yaml.safe_load(resolve_config_path(source).read_text())
    config["name"] = name
    config["sweep"]["sizes"] = sizes
    if device:
        config["device"] = device
    path = REPO_ROOT / "results" / name / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def python_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "prunebench", *args]


def timed(command: list[str]) -> float:
    """Seconds of one whole process (it must succeed; its output goes to the log on failure)."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def provide_scores(config_path: Path, config: dict, points: list[SweepPoint], scores_from: str | None,
                   device: str | None) -> dict:
    """Copy (or, without ``scores_from``, compute and time) the EL2N tables the points read."""
    seconds = {}
    for n in sorted({p.initial_size for p in points if p.metric == "el2n"}):
        point = SweepPoint("fixed_epochs", n, "el2n", "hard", 0.5, 0)
        target = score_table_path(REPO_ROOT / "results" / config["name"], point, "initial_subset")
        if scores_from:
            source = score_table_path(REPO_ROOT / "results" / scores_from, point, "initial_subset")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        else:
            options = ["--device", device] if device else []
            seconds[f"N{point.initial_size}"] = timed(python_command(
                "sweep", "scores", "--config", str(config_path), "--metric", "el2n", "--size",
                str(point.initial_size), "--seed", "0", *options))
    return seconds


def per_point_commands(config_path: Path, points: list[SweepPoint], runs: Path, threads: int,
                       device: str | None) -> list[list[str]]:
    """One `sweep point` command per point, as the workflow's rule sweep_point writes it."""
    commands = []
    for point in points:
        extra = ["--device", device] if device else []
        if point.protocol == "fixed_compute":
            extra += ["--baseline", str(runs / point.baseline().relative_path())]
        commands.append(python_command(
            "sweep", "point", "--config", str(config_path), "--protocol", point.protocol, "--size",
            str(point.initial_size), "--metric", point.metric, "--keep", point.keep, "--fraction-kept",
            str(point.fraction_kept), "--seed", str(point.seed), "--threads", str(threads), *extra,
            "--out", str(runs / point.relative_path())))
    return commands


def shard_command(config_path: Path, points: list[SweepPoint], runs: Path, threads: int,
                  device: str | None) -> list[str]:
    extra = ["--device", device] if device else []
    return python_command("sweep", "shard", "--config", str(config_path), "--threads", str(threads), *extra,
                          "--points", *[str(runs / point.relative_path()) for point in points])


def rows(points: list[SweepPoint], runs: Path) -> list[dict]:
    return [json.loads((runs / point.relative_path()).read_text()) for point in points]


def way_figures(process_s: list[float], way_rows: list[dict]) -> dict:
    """Per-point process seconds, mean training and in-process run_point seconds of one way."""
    return {"per_point_s": round(sum(process_s) / len(way_rows), 3),
            "train_s": round(statistics.fmean(row["train_wall_time_s"] for row in way_rows), 3),
            "run_point_s": round(statistics.fmean(row["wall_time_s"] for row in way_rows), 3),
            "process_s": [round(s, 3) for s in process_s]}


def overheads(figures: dict, work_s: float) -> dict:
    """Start-up overhead per point = per-point seconds − the point's own work (``work_s``: the shard's
    in-process run_point seconds: selection, training, evaluation), in % of the training seconds;
    ``non_training_pct`` counts the evaluation and selection as overhead too."""
    startup = figures["per_point_s"] - work_s
    return {**figures, "startup_overhead_s": round(startup, 3),
            "startup_overhead_pct": round(100 * startup / figures["train_s"], 1),
            "non_training_pct": round(100 * (figures["per_point_s"] - figures["train_s"]) / figures["train_s"], 1)}


def differing_keys(first: list[dict], second: list[dict]) -> list[str]:
    """Row keys (timing fields left out) whose values differ between the two ways."""
    return sorted({key for a, b in zip(first, second) for key in a.keys() | b.keys()
                   if key not in TIMING_KEYS and a.get(key) != b.get(key)})


def one_repeat(config_path: Path, points: list[SweepPoint], scratch: Path, threads: int, device: str | None,
               point_ways: bool) -> dict:
    """Both ways from clean runs folders; their figures and whether their rows agree."""
    figures, made = {}, {}
    ways = ("point", "shard") if point_ways else ("shard",)
    for way in ways:
        runs = scratch / f"runs-{way}"
        shutil.rmtree(runs, ignore_errors=True)
        if way == "point":
            seconds = [timed(command) for command in per_point_commands(config_path, points, runs, threads, device)]
        else:
            seconds = [timed(shard_command(config_path, points, runs, threads, device))]
        made[way] = rows(points, runs)
        figures[way] = way_figures(seconds, made[way])
    work_s = figures["shard"]["run_point_s"]
    figures = {way: overheads(figures[way], work_s) for way in ways}
    if point_ways:
        figures["rows_differ_in"] = differing_keys(made["point"], made["shard"])
        figures["rows_identical"] = not figures["rows_differ_in"]
    figures["test_accuracy"] = [round(row["test_accuracy"], 4) for row in made["shard"]]
    figures["train_steps"] = [row["train_steps"] for row in made["shard"]]
    return figures


def machine(threads: int, device: str | None) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "threads": threads, "host": platform.node(),
            "load_avg_1m_start": round(os.getloadavg()[0], 2)}
    if device and device.startswith("cuda"):
        import torch

        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="ci", help="scale whose sweep recipe is timed")
    parser.add_argument("--name", default="ci-shardbench", help="scratch results/<name>/ (deleted afterwards)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[400], help="initial sizes N (6 points each)")
    parser.add_argument("--scores-from", default="ci", help="results/<scale> holding the EL2N initial-subset tables; "
                        "'' computes them with `sweep scores` (timed)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--point-repeats", type=int, default=None,
                        help="repeats that also run the per-point way (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per job (default sweep.threads)")
    parser.add_argument("--device", default=None, help="cpu/cuda (default: the config's device)")
    parser.add_argument("--tag", default="", help="free text for the row (machine state, e.g. 'shared with a CI run')")
    parser.add_argument("--out", default=str(REPO_ROOT / "results" / "benchmarks" / "sweep_shard.jsonl"))
    parser.add_argument("--keep-scratch", action="store_true")
    args = parser.parse_args()

    points = bench_points(args.sizes)
    config_path = scratch_config(args.config, args.name, args.sizes, args.device)
    config = load_config(config_path)
    threads = args.threads or int(config["sweep"].get("threads", 1))
    scratch = config_path.parent
    try:
        score_s = provide_scores(config_path, config, points, args.scores_from or None, args.device)
        for repeat in range(args.repeats):
            point_ways = args.point_repeats is None or repeat < args.point_repeats
            figures = one_repeat(config_path, points, scratch, threads, args.device, point_ways)
            row = {"timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"), "tag": args.tag,
                   "config": args.config, "sizes": args.sizes, "points": [p.relative_path() for p in points],
                   "repeat": repeat, "device": args.device or config.get("device", "auto"), **machine(threads, args.device),
                   "score_tables": f"copied from results/{args.scores_from}" if args.scores_from else "computed",
                   "score_seconds": score_s, **figures, "load_avg_1m_end": round(os.getloadavg()[0], 2),
                   "code_version": code_version()}
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            with open(args.out, "a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps({k: row[k] for k in ("repeat", "point", "shard", "rows_differ_in") if k in row}))
    finally:
        if not args.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
