"""The retrieval task's arms (OPERA's table, docs/retrieval.md): one row per arm of the sweep table
(pretrained, no pruning, SP at each kept fraction and its lowest / random variants, DP, InfoBatch,
RS2) with NDCG@10 and Recall@20 (mean ± standard error over seeds), query coverage, wall time and
the steps to match the no-pruning result; and the figure of NDCG@10 versus optimizer steps for every
arm (each run's ``quality_curve``: its evaluations during training and at the end; step 0 is the
pretrained encoder, where every arm starts).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

NO_PRUNING = "no pruning"
PRETRAINED = "pretrained"


def arm_of(row) -> str:
    """The arm label of a sweep row."""
    protocol, metric, keep, f = row["protocol"], row["metric"], row["keep"], float(row["fraction_kept"])
    if protocol == "pretrained":
        return PRETRAINED
    if metric == "none":
        return NO_PRUNING
    if protocol == "opera":
        return "DP (OPERA)"
    if protocol == "infobatch":
        return "InfoBatch"
    if protocol == "rs2":
        return f"RS2 f={f:g}" + (" w/o repl." if keep == "without-replacement" else "")
    if metric == "pretrained-similarity":
        name = {"easy": "SP (keep high sim.)", "hard": "SP variant (keep low sim.)"}.get(keep, f"SP keep {keep}")
        return f"{name} f={f:g}"
    if metric == "random":
        return f"SP variant (random) f={f:g}"
    return f"{metric}/{keep} f={f:g} ({protocol})"


def _mean_se(values) -> tuple[float, float]:
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if not len(values):
        return float("nan"), float("nan")
    se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(values.mean()), se


def curves(frame: pd.DataFrame) -> dict[str, dict[int, list[float]]]:
    """arm → {step: [NDCG@10 of each seed]}, every arm starting at the pretrained value at step 0."""
    out: dict[str, dict[int, list[float]]] = {}
    pretrained = frame.loc[frame["arm"] == PRETRAINED, "eval_value"]
    start = float(pretrained.mean()) if len(pretrained) else None
    for _, row in frame.iterrows():
        arm = row["arm"]
        if arm == PRETRAINED:
            continue
        points = json.loads(row.get("quality_curve") or "[]") if isinstance(row.get("quality_curve"), str) else []
        if not points:
            points = [[int(row["train_steps"]), float(row["eval_value"])]]
        if start is not None:
            points = [[0, start], *points]
        for step, value in points:
            out.setdefault(arm, {}).setdefault(int(step), []).append(float(value))
    return out


def steps_to_match(curve: dict[int, list[float]], target: float) -> float:
    """First step (linear interpolation between evaluations) where the mean curve reaches ``target``."""
    steps = sorted(curve)
    means = [float(np.mean(curve[s])) for s in steps]
    for i, (step, value) in enumerate(zip(steps, means)):
        if value >= target:
            if i == 0:
                return float(step)
            s0, v0 = steps[i - 1], means[i - 1]
            return float(s0 + (target - v0) / (value - v0) * (step - s0)) if value != v0 else float(step)
    return float("nan")


def arms_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: seeds, NDCG@10 and Recall@20 (mean, s.e. over seeds; the mean over seeds of each
    run's test-query s.e. beside it), paired difference to no pruning, coverage, wall time, steps."""
    frame = sweep.copy()
    frame["arm"] = [arm_of(row) for _, row in frame.iterrows()]
    base = frame[frame["arm"] == NO_PRUNING].set_index("seed")["eval_value"]
    target = float(base.mean()) if len(base) else float("nan")
    arm_curves = curves(frame)
    rows = []
    for arm, group in frame.groupby("arm", sort=False):
        ndcg, ndcg_se = _mean_se(group["eval_value"])
        recall, recall_se = _mean_se(group["recall_at_20"]) if "recall_at_20" in group else (float("nan"),) * 2
        paired = [v - base[s] for s, v in zip(group["seed"], group["eval_value"]) if s in base.index]
        delta, delta_se = _mean_se(paired) if arm not in (NO_PRUNING,) else (0.0, float("nan"))
        first = group.iloc[0]
        rows.append({
            "arm": arm, "protocol": first["protocol"], "metric": first["metric"], "keep": first["keep"],
            "fraction_kept": float(first["fraction_kept"]), "n_seeds": int(group["seed"].nunique()),
            "ndcg_at_10": ndcg, "ndcg_at_10_se": ndcg_se, "recall_at_20": recall, "recall_at_20_se": recall_se,
            "ndcg_at_10_test_se": float(group["ndcg_at_10_se"].mean()) if "ndcg_at_10_se" in group else float("nan"),
            "delta_ndcg_vs_no_pruning": delta, "delta_ndcg_se": delta_se,
            "query_coverage": float(group["query_coverage"].mean()) if "query_coverage" in group else float("nan"),
            "queries_seen": float(group["queries_seen"].mean()) if "queries_seen" in group else float("nan"),
            "train_steps": int(group["train_steps"].max()),
            "train_wall_time_s": float(group["train_wall_time_s"].mean()),
            "steps_to_match_no_pruning": steps_to_match(arm_curves[arm], target) if arm in arm_curves else float("nan"),
        })
    order = {PRETRAINED: 0, NO_PRUNING: 1}
    table = pd.DataFrame(rows)
    table["_order"] = [order.get(a, 2 if a.startswith("SP (") else 3 if a.startswith("SP") else 4) for a in table["arm"]]
    return table.sort_values(["_order", "arm"]).drop(columns="_order").reset_index(drop=True)


def plot_quality_vs_steps(sweep: pd.DataFrame, out: str | Path, title: str = "") -> Path:
    """NDCG@10 (mean over seeds, ± s.e. band) versus optimizer steps, one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = sweep.copy()
    frame["arm"] = [arm_of(row) for _, row in frame.iterrows()]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for arm, curve in sorted(curves(frame).items()):
        steps = sorted(curve)
        mean = np.array([np.mean(curve[s]) for s in steps])
        se = np.array([np.std(curve[s], ddof=1) / math.sqrt(len(curve[s])) if len(curve[s]) > 1 else 0.0
                       for s in steps])
        style = {"lw": 2.4, "color": "black"} if arm == NO_PRUNING else {"lw": 1.5}
        line, = ax.plot(steps, mean, marker="o", ms=3, label=arm, **style)
        ax.fill_between(steps, mean - se, mean + se, alpha=0.12, color=line.get_color())
    pretrained = frame.loc[frame["arm"] == PRETRAINED, "eval_value"]
    if len(pretrained):
        ax.axhline(float(pretrained.mean()), color="grey", ls=":", lw=1, label="pretrained (zero-shot)")
    ax.set_xlabel("optimizer steps")
    ax.set_ylabel("NDCG@10 (test, pytrec_eval)")
    ax.set_title(title or "NDCG@10 versus training steps")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def write_arms(sweep_path, out_csv, out_json, out_fig, name: str = "") -> pd.DataFrame:
    """The arms table (CSV and JSON records) and the quality-versus-steps figure of a sweep table."""
    sweep = pd.read_parquet(sweep_path)
    table = arms_table(sweep)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False)
    records = json.loads(table.to_json(orient="records"))
    Path(out_json).write_text(json.dumps({"scale": name, "eval_metric": "ndcg@10", "arms": records}, indent=1) + "\n")
    plot_quality_vs_steps(sweep, out_fig, title=f"{name}: NDCG@10 versus training steps" if name else "")
    return table
