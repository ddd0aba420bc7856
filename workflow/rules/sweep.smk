"""Sweep rules: the score tables of each replicate's initial subset (sweep.score_source initial_subset),
one job per point (resumable: only missing run files are rerun), then one aggregate.

Run file: results/<name>/runs/<protocol>/N<N>/<metric>/<keep>/f<f>/seed<seed>.json (see
prunebench.sweep.plan). Conventions: higher score = harder; keep=hard keeps the highest scores;
f = fraction kept (prune_ratio = 1 - f). The f = 1 baseline (metric none, keep all) is run once per
(N, seed) and shared by every metric; fixed_compute points wait for it and copy its step count.
"""

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


rule sweep_scores:
    """sweep.score_source initial_subset: the metric's table of one replicate's N initial examples,
    its probes trained on them alone (prunebench.sweep.scores); read by the sweep points of (N, seed)."""
    input:
        f"{RESULTS}/data/manifest.json",
    output:
        f"{RESULTS}/scores/subset/N{{n}}/seed{{seed}}/{{metric}}.parquet",
    log:
        f"logs/{NAME}/metrics/subset/N{{n}}/seed{{seed}}/{{metric}}.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=lambda wildcards: stage_hash(config, "score", wildcards.metric),
    wildcard_constraints:
        n=r"\d+",
        seed=r"\d+",
        metric=r"[a-z0-9-]+",
    threads: (config.get("probe") or {}).get("threads") or 1
    resources:
        **metric_resources(),
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench sweep scores --config \"$PRUNEBENCH_CONFIG\" --metric {wildcards.metric} --size {wildcards.n}"
        " --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule sweep_point:
    input:
        unpack(sweep_point_inputs),
    output:
        f"{RESULTS}/runs/{{protocol}}/N{{n}}/{{metric}}/{{keep}}/f{{f}}/seed{{seed}}.json",
    log:
        f"logs/{NAME}/sweep/{{protocol}}/N{{n}}/{{metric}}/{{keep}}/f{{f}}/seed{{seed}}.log",
    wildcard_constraints:
        **wildcard_constraints(),  # from the protocol registry (prunebench.sweep.protocols)
    conda:
        "../../environment.yml"
    params:
        options=sweep_point_options,
        config_hash=SWEEP_CONFIG_HASH,
        threads=SWEEP["threads"],  # the configured count, never Snakemake's capped {threads}
    threads: SWEEP["threads"]
    resources:
        **sweep_resources(),
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench sweep point --config \"$PRUNEBENCH_CONFIG\" --protocol {wildcards.protocol}"
        " --size {wildcards.n} --metric {wildcards.metric} --keep {wildcards.keep}"
        " --fraction-kept {wildcards.f} --seed {wildcards.seed} --threads {params.threads} {params.options}"
        " --out {output} > {log} 2>&1"


# sweep.shard_size k > 0: one job per k consecutive points of the plan (`sweep shard`, data and device
# loaded once per job). These rules name their outputs without wildcards, so Snakemake prefers them
# to sweep_point; with the default 0 none is defined and the jobs above are the only ones.
SWEEP_SHARDS = chunk_plan(SWEEP_POINTS, SWEEP["shard_size"]) if SWEEP_POINTS and SWEEP["shard_size"] else []


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
        conda:
            "../../environment.yml"
        params:
            config_hash=SWEEP_CONFIG_HASH,
            threads=SWEEP["threads"],
        threads: SWEEP["threads"]
        resources:
            **shard_resources(),  # sweep_point's resources, profile overrides included
        shell:
            "\"$PRUNEBENCH_PYTHON\" -m prunebench sweep shard --config \"$PRUNEBENCH_CONFIG\" --threads {params.threads} --points {output} > {log} 2>&1"


rule sweep_aggregate:
    input:
        SWEEP_RUNS,
    output:
        parquet=f"{RESULTS}/sweep.parquet",
        csv=f"{RESULTS}/sweep.csv",
    log:
        f"logs/{NAME}/sweep_aggregate.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=SWEEP_CONFIG_HASH,
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench sweep aggregate {input} --config \"$PRUNEBENCH_CONFIG\" --out {output.parquet} --csv {output.csv} > {log} 2>&1"
