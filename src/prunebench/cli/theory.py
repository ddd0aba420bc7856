"""``python -m prunebench theory ...``: the teacher–student perceptron theory of data pruning.

    theory point --alpha-tot 6 --f 0.5 --keep hard --theta 0     one JSON object (eps, kappa, R, rho, ...)
    theory curves --config ci --out results/theory/curves.csv    theory curves of the three studies
    theory crossover --config ci --out results/theory/crossover.csv
    theory simulate --config ci --out results/theory/simulations.csv
    theory analyse --config ci --curves ... --frontier-out ... --fits-out ...
    theory figures --config ci --curves ... --crossover ... --sims ... --frontier ... --fits ... --outdir figures
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("theory", help="perceptron pruning theory (replica solver, simulations, figures)",
                                   description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="theory_command", metavar="SUBCOMMAND", required=True)

    point = commands.add_parser("point", help="solve the saddle-point equations at one point; prints JSON")
    point.add_argument("--alpha-tot", type=float, required=True, help="examples per dimension before pruning (> 0)")
    point.add_argument("--f", type=float, required=True, help="fraction kept, in (0, 1]")
    point.add_argument("--keep", default="hard", help="easy or hard (default hard)")
    point.add_argument("--theta", type=float, default=0.0, help="probe angle to the teacher, radians in [0, pi/2]")
    point.set_defaults(func=run_point)

    for name, help_text, runner in (("curves", "theory curves of every study -> CSV", run_curves),
                                    ("crossover", "alpha_tot where keep-hard overtakes keep-easy, per f -> CSV", run_crossover),
                                    ("simulate", "max-margin simulations at the configured points -> CSV", run_simulate)):
        command = commands.add_parser(name, help=help_text)
        _config_argument(command)
        command.add_argument("--out", required=True, help="output CSV")
        command.add_argument("--workers", type=int, default=None, help="processes (default theory.workers)")
        command.set_defaults(func=runner)

    analyse = commands.add_parser("analyse", help="Pareto frontier, optimal f and scaling fits of the curves -> CSV")
    _config_argument(analyse)
    analyse.add_argument("--curves", required=True, help="curves CSV from 'theory curves'")
    analyse.add_argument("--frontier-out", required=True, help="output CSV: frontier and f_opt per alpha_prune")
    analyse.add_argument("--fits-out", required=True, help="output CSV: power-law and exponential fits")
    analyse.add_argument("--workers", type=int, default=1, help="processes for the continuous theta = 0 frontier (default 1)")
    analyse.set_defaults(func=run_analyse)

    figures = commands.add_parser("figures", help="the three theory figures (PNG)")
    _config_argument(figures)
    for name in ("curves", "crossover", "sims", "frontier", "fits"):
        figures.add_argument(f"--{name}", required=True, help=f"{name} CSV")
    figures.add_argument("--outdir", required=True, help="folder for theory_*.png")
    figures.set_defaults(func=run_figures)


def _config_argument(parser) -> None:
    parser.add_argument("--config", required=True, help="scale name (smoke, ci, ...) or YAML path; reads its theory section")


def _settings(args) -> dict:
    from prunebench.config import load_config
    from prunebench.theory.settings import theory_settings

    config = load_config(args.config)
    return {**theory_settings(config), "seed": int(config.get("seed", 0))}


def _workers(args, settings) -> int:
    return max(1, args.workers if args.workers is not None else int(settings["workers"]))


def _write_csv(frame, out) -> Path:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.10g")
    print(f"{len(frame)} rows -> {path}")
    return path


def run_point(args: argparse.Namespace) -> int:
    from prunebench.theory import solve_point

    point = solve_point(args.alpha_tot, args.f, args.keep, args.theta).as_dict()
    print(json.dumps({key: (None if isinstance(v, float) and not math.isfinite(v) else v) for key, v in point.items()}))
    return 0


def run_curves(args: argparse.Namespace) -> int:
    from prunebench.theory.curves import theory_curves

    settings = _settings(args)
    _write_csv(theory_curves(settings, _workers(args, settings)), args.out)
    return 0


def run_crossover(args: argparse.Namespace) -> int:
    from prunebench.theory.curves import crossover_table

    settings = _settings(args)
    _write_csv(crossover_table(settings, _workers(args, settings)), args.out)
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    from prunebench.theory.curves import simulation_table

    settings = _settings(args)
    _write_csv(simulation_table(settings, settings["seed"], _workers(args, settings)), args.out)
    return 0


def run_analyse(args: argparse.Namespace) -> int:
    import pandas as pd

    from prunebench.theory.analysis import continuous_frontier, pareto_frontier, refine_below_grid, scaling_fits
    from prunebench.theory.curves import fraction_grid, grid

    settings, workers = _settings(args), max(1, args.workers)
    curves, spec = _read_csv(args.curves, pd), settings["frontier"]
    exact = continuous_frontier(grid(spec["alpha_prune"]), fraction_grid(spec["fractions"]), spec["f_floor"], workers,
                                dense_alphas=grid(spec["optimum_alpha"]), curves=curves)
    imperfect = refine_below_grid(pareto_frontier(curves, studies=("imperfect",)), curves,
                                  settings["imperfect"]["f_floor"], workers)
    frontier = pd.concat([exact, imperfect], ignore_index=True)
    ranges = {study: tuple(settings[study]["fit_alpha"]) for study in ("frontier", "imperfect")}
    _write_csv(frontier, args.frontier_out)
    _write_csv(scaling_fits(frontier, ranges), args.fits_out)
    return 0


def run_figures(args: argparse.Namespace) -> int:
    import pandas as pd

    from prunebench.theory.plots import write_figures

    settings = _settings(args)
    tables = {name: _read_csv(getattr(args, name), pd) for name in ("curves", "crossover", "sims", "frontier", "fits")}
    for path in write_figures(**tables, outdir=args.outdir, show_theta=settings["imperfect"].get("show_theta")):
        print(f"figure -> {path}")
    return 0


def _read_csv(path, pd):
    from prunebench.errors import PrunebenchError

    if not Path(path).is_file():
        raise PrunebenchError(f"{path} not found; produce it first (snakemake theory_all, or the matching 'theory' command)")
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
