"""Every retrieval arm at several optimizer-step budgets (``sweep.step_budgets``; issue 17).

OPERA (Fang et al. 2026) reports that plain fine-tuning gets *worse* from 2k to 8k steps while DP
holds. To check that at our scales, a config lists ``sweep.step_budgets: [B_1, ..., B_k]`` (one of
them the recipe's own ``probe.steps``): the recipe's budget is the scale's sweep itself
(``results/<name>/runs/``, ``sweep.parquet``); every other budget B trains the same plan with
``sweep.train.steps = B`` (:func:`prunebench.sweep.plan.budget_config`) into ``results/<name>/steps<B>/``
(its run files, its own ``sweep.parquet``, its arms table; figure
``figures/<name>/steps<B>/retrieval_quality_vs_steps.png``). Each row carries ``step_budget`` (B) and
``train_steps`` (what it ran: 0 for the pretrained arm, fewer than B for InfoBatch); the
NDCG@10-vs-steps curve of a run (``quality_curve``) is kept as it is. Tables of different budgets are
never pooled: :func:`budgets_table` stacks one arms table per budget, and :func:`budget_effects`
pairs the same arm and seed across budgets (ΔNDCG@10 of the largest budget minus the smallest).

Commands (the workflow's ``workflow/rules/retrieval.smk`` calls them):

    python -m prunebench.tasks.retrieval.budgets point --config C --steps B --protocol P --size N ...
    python -m prunebench.tasks.retrieval.budgets aggregate --config C --steps B --out T.parquet RUN...
    python -m prunebench.tasks.retrieval.budgets compare --config C --csv X.csv --json X.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from prunebench.errors import PrunebenchError

BUDGET_COLUMN = "step_budget"


def run_budget_point(config: dict, steps: int, point, *, score_path=None, baseline_row: dict | None = None,
                     device: str | None = None, threads: int | None = None) -> dict:
    """The row of ``point`` trained at budget ``steps`` (the sweep's own :func:`run_point` under
    :func:`budget_config`), with its ``step_budget``."""
    from prunebench.sweep.plan import budget_config, step_budgets
    from prunebench.sweep.point import run_point

    if int(steps) not in step_budgets(config):
        raise PrunebenchError(f"--steps {steps} is not one of sweep.step_budgets {step_budgets(config)}; "
                              f"use one of them or add it to the config")
    if baseline_row is not None and int(baseline_row.get(BUDGET_COLUMN, baseline_row["train_steps"])) != int(steps):
        raise PrunebenchError(f"the --baseline run file is of another step budget "
                              f"({baseline_row.get(BUDGET_COLUMN, baseline_row['train_steps'])}, not {steps}); "
                              f"pass the f=1 run of steps{steps}/runs/")
    row = run_point(budget_config(config, steps), point, score_path=score_path, baseline_row=baseline_row,
                    device=device, threads=threads)
    return {**row, BUDGET_COLUMN: int(steps)}


def budget_point_inputs(results: str, score_source: str):
    """The workflow's input function of a budget point (rule ``retrieval_budgets_point``): the data
    manifest, the point's score table (one per metric, shared by every budget) and, for a protocol that
    needs it (fixed_compute), the f = 1 run of the same budget."""
    def inputs(wildcards) -> dict:
        from prunebench.sweep.plan import parse_point, score_table_path
        from prunebench.sweep.protocols import get_protocol

        out = {"data": f"{results}/data/manifest.json"}
        point = parse_point(wildcards.protocol, wildcards.n, wildcards.metric, wildcards.keep, wildcards.f,
                            wildcards.seed)
        scores = score_table_path(results, point, score_source)
        if scores is not None:
            out["scores"] = str(scores)
        if get_protocol(point.protocol).needs_baseline:
            out["baseline"] = f"{results}/steps{wildcards.steps}/runs/{point.baseline().relative_path()}"
        return out

    return inputs


def budget_run_files(config: dict, steps: int, results=None) -> list[Path]:
    """The run files of budget ``steps`` (not the recipe's own: that is the scale's sweep)."""
    from prunebench.config import results_dir
    from prunebench.sweep.plan import budget_points

    results = Path(results) if results is not None else results_dir(config)
    return [results / bp.relative_path() for bp in budget_points(config) if bp.steps == int(steps)]


def aggregate_budget(config: dict, steps: int, paths=None):
    """The sweep table of budget ``steps`` (run files ``paths``, default its planned ones), refused when
    a run was made under other settings or another budget."""
    from prunebench.provenance import stage_hash
    from prunebench.sweep.aggregate import sweep_table
    from prunebench.sweep.plan import budget_config, recipe_steps

    if int(steps) == recipe_steps(config):
        raise PrunebenchError(f"budget {steps} is the recipe's own: its table is the scale's sweep.parquet "
                              f"(`python -m prunebench sweep aggregate`), not a steps{steps}/ table")
    table = sweep_table(paths or budget_run_files(config, steps),
                        expected_hash=stage_hash(budget_config(config, steps), "sweep_point"))
    found = sorted(set(table[BUDGET_COLUMN].fillna(-1).astype(int))) if BUDGET_COLUMN in table else [-1]
    if found != [int(steps)]:
        raise PrunebenchError(f"run files of budget(s) {[b if b >= 0 else 'none' for b in found]} given as budget "
                              f"{steps}; aggregate each budget's steps<B>/runs/ on its own")
    return table


def budget_table(config: dict, steps: int, results=None):
    """Budget ``steps``'s sweep table from disk, with its ``step_budget`` column (the recipe's own
    budget: the scale's ``sweep.parquet``; another: ``steps<B>/sweep.parquet``)."""
    from prunebench.config import results_dir
    from prunebench.provenance import stage_hash
    from prunebench.sweep.aggregate import read_sweep_table
    from prunebench.sweep.plan import budget_config, budget_folder, recipe_steps

    results = Path(results) if results is not None else results_dir(config)
    own = int(steps) == recipe_steps(config)
    path = results / "sweep.parquet" if own else results / budget_folder(steps) / "sweep.parquet"
    table = read_sweep_table(path, expected_hash=stage_hash(budget_config(config, steps), "sweep_point"))
    if BUDGET_COLUMN not in table:
        table[BUDGET_COLUMN] = int(steps)
    return table


def budgets_table(tables: dict):
    """One arms table (:func:`prunebench.figures.retrieval.arms_table`) per budget, each computed
    from that budget's rows alone, stacked with ``step_budget`` first."""
    import pandas as pd

    from prunebench.figures.retrieval import arms_table

    parts = []
    for steps in sorted(tables):
        arms = arms_table(tables[steps])
        arms.insert(0, BUDGET_COLUMN, int(steps))
        parts.append(arms)
    return pd.concat(parts, ignore_index=True)


def _mean_se(values) -> tuple[float | None, float | None]:
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return None, None
    return float(values.mean()), (float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None)


def budget_effects(tables: dict) -> list[dict]:
    """Per arm run at the smallest budget and another budget B: ΔNDCG@10 = NDCG@10(B) − NDCG@10(B_min)
    per seed both ran, its mean and standard error over seeds (None with one pair), and whether it is
    resolved (|Δ| > 1.96 se). OPERA's observation is Δ < 0 for no pruning and Δ ≈ 0 for DP."""
    from prunebench.figures.retrieval import arm_of

    budgets = sorted(tables)
    by_arm = {}
    for steps in budgets:
        frame = tables[steps]
        for (_, row) in frame.iterrows():
            by_arm.setdefault(arm_of(row), {}).setdefault(steps, {})[int(row["seed"])] = float(row["eval_value"])
    out = []
    low = budgets[0]
    for arm in sorted(by_arm):
        for high in budgets[1:]:
            a, b = by_arm[arm].get(low, {}), by_arm[arm].get(high, {})
            seeds = sorted(set(a) & set(b))
            if not seeds:
                continue
            d = [b[s] - a[s] for s in seeds]
            mean, se = _mean_se(d)
            out.append({"arm": arm, "from_steps": int(low), "to_steps": int(high), "delta_ndcg_at_10": mean,
                        "se": se, "n_pairs": len(seeds), "per_seed": {int(s): x for s, x in zip(seeds, d)},
                        "resolved": bool(se is not None and abs(mean) > 1.96 * se),
                        "ndcg_at_10_from": float(np.mean([a[s] for s in seeds])),
                        "ndcg_at_10_to": float(np.mean([b[s] for s in seeds]))})
    return out


def write_budgets(config: dict, out_csv, out_json, results=None, figures=None) -> dict:
    """``retrieval_budgets.csv`` (the stacked per-budget arms tables) and ``.json`` (them and the
    budget effects) of a config with ``sweep.step_budgets``; with ``figures`` (a folder) also each
    other budget's own arms table (``<results>/steps<B>/retrieval_arms.csv/.json``) and NDCG@10-vs-steps
    figure (``<figures>/steps<B>/retrieval_quality_vs_steps.png``)."""
    from prunebench.config import results_dir
    from prunebench.figures.retrieval import write_arms
    from prunebench.sweep.plan import budget_folder, recipe_steps, step_budgets

    budgets = step_budgets(config)
    if len(budgets) < 2:
        raise PrunebenchError("sweep.step_budgets lists fewer than two budgets: nothing to compare; "
                              "give e.g. step_budgets: [32, 128]")
    tables = {steps: budget_table(config, steps, results) for steps in budgets}
    if figures is not None:
        root = Path(results) if results is not None else results_dir(config)
        for steps in budgets:
            if steps == recipe_steps(config):
                continue  # the scale's own arms table (rule retrieval_arms)
            folder = root / budget_folder(steps)
            write_arms(folder / "sweep.parquet", folder / "retrieval_arms.csv", folder / "retrieval_arms.json",
                       Path(figures) / budget_folder(steps) / "retrieval_quality_vs_steps.png",
                       name=f"{config['name']} ({steps} steps)")
    table = budgets_table(tables)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False)
    document = {"scale": config["name"], "eval_metric": "ndcg@10", "step_budgets": budgets,
                "arms": json.loads(table.to_json(orient="records")), "budget_effects": budget_effects(tables)}
    Path(out_json).write_text(json.dumps(document, indent=1) + "\n")
    return document


# --- command line ------------------------------------------------------------------------------------

ACTIONS = ("point", "aggregate", "compare")


def add_budget_parsers(actions, prefix: str = "") -> None:
    """The ``point`` / ``aggregate`` / ``compare`` parsers, named ``<prefix><action>`` (the CLI's
    ``retrieval budgets-point`` etc.), each dispatching to :func:`run_budget_command`."""
    from prunebench.sweep.protocols import list_protocols

    point = actions.add_parser(f"{prefix}point", help="train one point of the plan at one step budget")
    point.add_argument("--config", required=True)
    point.add_argument("--steps", type=int, required=True, help="the budget (one of sweep.step_budgets)")
    point.add_argument("--protocol", required=True, choices=list(list_protocols()))
    point.add_argument("--size", type=int, required=True)
    point.add_argument("--metric", required=True)
    point.add_argument("--keep", required=True)
    point.add_argument("--fraction-kept", required=True)
    point.add_argument("--seed", type=int, required=True)
    point.add_argument("--threads", type=int, default=None)
    point.add_argument("--device", default=None)
    point.add_argument("--scores", default=None, help="the metric's score table")
    point.add_argument("--baseline", default=None, help="the f=1 run file of the same budget (fixed_compute)")
    point.add_argument("--out", required=True)
    aggregate = actions.add_parser(f"{prefix}aggregate", help="the sweep table of one budget's run files")
    aggregate.add_argument("--config", required=True)
    aggregate.add_argument("--steps", type=int, required=True)
    aggregate.add_argument("--out", required=True)
    aggregate.add_argument("--csv", default=None)
    aggregate.add_argument("runs", nargs="*", help="run files (default: the budget's planned ones)")
    compare = actions.add_parser(f"{prefix}compare", help="the arms of every budget side by side and the budget effects")
    compare.add_argument("--config", required=True)
    compare.add_argument("--csv", required=True)
    compare.add_argument("--json", required=True)
    compare.add_argument("--figures", default=None,
                         help="also write each other budget's arms table and figure (figures folder of the scale)")
    for action, parser in zip(ACTIONS, (point, aggregate, compare)):
        parser.set_defaults(budget_action=action, func=run_budget_command)


def run_budget_command(args) -> int:
    """One budget action (``args.budget_action``); errors are :class:`PrunebenchError` (one line)."""
    from prunebench.config import load_config

    config = load_config(args.config)
    if args.budget_action == "point":
        from prunebench.sweep.plan import parse_point
        from prunebench.sweep.point import read_row, write_row

        point = parse_point(args.protocol, args.size, args.metric, args.keep, args.fraction_kept, args.seed)
        row = run_budget_point(config, args.steps, point, score_path=args.scores, device=args.device,
                               baseline_row=read_row(args.baseline) if args.baseline else None, threads=args.threads)
        write_row(row, args.out)
        print(f"steps{args.steps}/{point.relative_path()}: train_steps={row['train_steps']} "
              f"ndcg@10={row['eval_value']:.4f} -> {args.out}")
    elif args.budget_action == "aggregate":
        from prunebench.sweep.aggregate import write_sweep_table

        table = aggregate_budget(config, args.steps, args.runs or None)
        write_sweep_table(table, args.out, args.csv)
        print(f"{len(table)} runs of budget {args.steps} -> {args.out}")
    else:
        document = write_budgets(config, args.csv, args.json, figures=args.figures)
        for effect in document["budget_effects"]:
            se = "-" if effect["se"] is None else f"{effect['se']:.4f}"
            print(f"{effect['arm']}: NDCG@10 {effect['from_steps']} -> {effect['to_steps']} steps: "
                  f"{effect['delta_ndcg_at_10']:+.4f} (se {se}, {effect['n_pairs']} seeds)")
    return 0


def main(argv=None) -> int:
    """``python -m prunebench.tasks.retrieval.budgets ACTION ...`` (the same as ``prunebench retrieval budgets-ACTION``)."""
    parser = argparse.ArgumentParser(prog="python -m prunebench.tasks.retrieval.budgets",
                                     description="retrieval arms at several step budgets (sweep.step_budgets)")
    add_budget_parsers(parser.add_subparsers(dest="action", metavar="ACTION", required=True))
    args = parser.parse_args(argv)
    try:
        return run_budget_command(args)
    except PrunebenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
