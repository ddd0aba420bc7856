"""Sweep rules: one job per point (resumable: only missing run files are rerun), then one aggregate.

Run file: results/<name>/runs/<protocol>/N<N>/<metric>/<keep>/f<f>/seed<seed>.json (see
prunebench.sweep.plan). Conventions: higher score = harder; keep=hard keeps the highest scores;
f = fraction kept (prune_ratio = 1 - f). The f = 1 baseline (metric none, keep all) is run once per
(N, seed) and shared by every metric; fixed_compute points wait for it and copy its step count.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # the package, even without `pip install -e`
from prunebench.sweep.plan import (BASELINE_KEEP, BASELINE_METRIC, RANDOM_METRIC, baseline_point, parse_point, plan_points,
                                   score_table_path, sweep_settings)
from prunebench.sweep.point import point_config_hash
from prunebench.sweep.protocols import get_protocol, wildcard_constraints
from prunebench.sweep.shard import chunk_plan

SWEEP = sweep_settings(config)
SWEEP_POINTS = plan_points(config) if config.get("sweep") else []
SWEEP_RUNS = [f"{RESULTS}/runs/{point.relative_path()}" for point in SWEEP_POINTS]
SWEEP_CONFIG_HASH = stage_hash(config, "sweep_point") if SWEEP_POINTS else ""  # a changed recipe reruns every point
SWEEP_TARGETS = [f"{RESULTS}/sweep.parquet", f"{RESULTS}/sweep.csv"] if SWEEP_POINTS else []


def sweep_resources():
    """Scheduler resources of one sweep job, from sweep.resources (None values left out)."""
    wanted = {"mem_mb": 4000, "runtime": 30, "gpu": 0, **(SWEEP.get("resources") or {})}
    return {key: value for key, value in wanted.items() if value is not None}


def sweep_point_inputs(wildcards):
    """The data manifest, the metric's score table (sweep.score_source: the (N, seed) initial subset's
    or the full train set's), and (protocols that need it, fixed_compute) the f = 1 run of the point."""
    inputs = {"data": f"{RESULTS}/data/manifest.json"}
    point = parse_point(wildcards.protocol, wildcards.n, wildcards.metric, wildcards.keep, wildcards.f, wildcards.seed)
    scores = score_table_path(RESULTS, point, SWEEP["score_source"])
    if scores is not None:
        inputs["scores"] = str(scores)
    if get_protocol(wildcards.protocol).needs_baseline:
        inputs["baseline"] = f"{RESULTS}/runs/{baseline_point(int(wildcards.n), int(wildcards.seed)).relative_path()}"
    return inputs


def sweep_point_options(wildcards, input):
    """Command-line options naming the score table and baseline run, when the point has them."""
    options = [f"--scores {input.scores}"] if "scores" in input.keys() else []
    options += [f"--baseline {input.baseline}"] if "baseline" in input.keys() else []
    return " ".join(options)


rule sweep_point:
    input:
        unpack(sweep_point_inputs),
    output:
        f"{RESULTS}/runs/{{protocol}}/N{{n}}/{{metric}}/{{keep}}/f{{f}}/seed{{seed}}.json",
    log:
        f"logs/{NAME}/sweep/{{protocol}}/N{{n}}/{{metric}}/{{keep}}/f{{f}}/seed{{seed}}.log",
    wildcard_constraints:
        **wildcard_constraints(),  # from the protocol registry (prunebench.sweep.protocols)
    params:
        options=sweep_point_options,
        config_hash=SWEEP_CONFIG_HASH,
        threads=SWEEP["threads"],  # the configured count, never Snakemake's capped {threads}
    threads: SWEEP["threads"]
    resources:
        **sweep_resources(),
    shell:
        "{PY} -m prunebench sweep point --config {CONFIG_PATH} --protocol {wildcards.protocol}"
        " --size {wildcards.n} --metric {wildcards.metric} --keep {wildcards.keep}"
        " --fraction-kept {wildcards.f} --seed {wildcards.seed} --threads {params.threads} {params.options}"
        " --out {output} > {log} 2>&1"


# sweep.shard_size k > 0: one job per k consecutive points of the plan (`sweep shard`, data and device
# loaded once per job). These rules name their outputs without wildcards, so Snakemake prefers them
# to sweep_point; with the default 0 none is defined and the jobs above are the only ones.
SWEEP_SHARDS = chunk_plan(SWEEP_POINTS, SWEEP["shard_size"]) if SWEEP_POINTS and SWEEP["shard_size"] else []


def sweep_shard_inputs(shard):
    """The data manifest, the score tables of the shard's points, and the f = 1 runs its
    fixed_compute points need from other shards."""
    outputs = {f"{RESULTS}/runs/{point.relative_path()}" for point in shard}
    tables = {str(score_table_path(RESULTS, point, SWEEP["score_source"])) for point in shard
              if score_table_path(RESULTS, point, SWEEP["score_source"]) is not None}
    baselines = {f"{RESULTS}/runs/{point.baseline().relative_path()}" for point in shard
                 if get_protocol(point.protocol).needs_baseline} - outputs
    return [f"{RESULTS}/data/manifest.json", *sorted(tables), *sorted(baselines)]


for shard_index, shard in enumerate(SWEEP_SHARDS):

    rule:
        name:
            f"sweep_shard_{shard_index}"
        input:
            sweep_shard_inputs(shard),
        output:
            [f"{RESULTS}/runs/{point.relative_path()}" for point in shard],
        log:
            f"logs/{NAME}/sweep/shard{shard_index}.log",
        params:
            config_hash=SWEEP_CONFIG_HASH,
            threads=SWEEP["threads"],
        threads: SWEEP["threads"]
        resources:
            **sweep_resources(),
        shell:
            "{PY} -m prunebench sweep shard --config {CONFIG_PATH} --threads {params.threads} --points {output} > {log} 2>&1"


rule sweep_aggregate:
    input:
        SWEEP_RUNS,
    output:
        parquet=f"{RESULTS}/sweep.parquet",
        csv=f"{RESULTS}/sweep.csv",
    log:
        f"logs/{NAME}/sweep_aggregate.log",
    params:
        config_hash=SWEEP_CONFIG_HASH,
    shell:
        "{PY} -m prunebench sweep aggregate {input} --config {CONFIG_PATH} --out {output.parquet} --csv {output.csv} > {log} 2>&1"
