"""Metrics stage: one score table per metric (higher = harder) and their rank-correlation figure.

A score job trains the probe runs it needs or re-uses those already under results/<name>/probes/
(shared by every metric of the config; a file lock per run lets parallel jobs share them).
Every rule is one `python -m prunebench metrics ...` call.
"""

from prunebench.metrics.chunks import chunk_of_score, chunked_sets
from prunebench.metrics.compute import check_metric_names

METRICS = config.get("metrics") or {}
try:  # unknown names, a metric reading the sweep's test split or one the task cannot serve: one line, at parse time
    check_metric_names(config)
except PrunebenchError as err:
    stop(str(err))
METRIC_NAMES = list(METRICS.get("names") or [])
MODEL_SETS = chunked_sets(config)  # metrics.models_per_job: the subset models' chunk jobs, per model set
METRIC_TARGETS = [f"{RESULTS}/scores/{metric}.parquet" for metric in METRIC_NAMES]
if len(METRIC_NAMES) >= 2:
    METRIC_TARGETS += [f"{FIGURES}/metric_correlations.png", f"{RESULTS}/metric_correlations.csv"]


rule metrics_models:
    input:
        f"{RESULTS}/data/manifest.json",
    output:
        f"{RESULTS}/probes/chunks/{{model_set}}/chunk{{chunk}}.json",
    log:
        f"logs/{NAME}/metrics/models-{{model_set}}-{{chunk}}.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=lambda wildcards: stage_hash(config, "score", MODEL_SETS[wildcards.model_set]["name"]),
    wildcard_constraints:
        model_set=r"[a-z0-9-]+",
        chunk=r"\d+",
    threads: (config.get("probe") or {}).get("threads") or 1
    resources:
        **metric_resources(),
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench metrics models --config \"$PRUNEBENCH_CONFIG\" --model-set {wildcards.model_set} "
        "--chunk {wildcards.chunk} --out {output} > {log} 2>&1"


rule metrics_compute:
    input:
        f"{RESULTS}/data/manifest.json",
        model_chunk_markers,
    output:
        f"{RESULTS}/scores/{{metric}}.parquet",
    log:
        f"logs/{NAME}/metrics/{{metric}}.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=lambda wildcards: stage_hash(config, "score", wildcards.metric),
    wildcard_constraints:
        metric=r"[a-z0-9-]+",
    threads: (config.get("probe") or {}).get("threads") or 1
    resources:
        **metric_resources(),
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench metrics compute --config \"$PRUNEBENCH_CONFIG\" --metric {wildcards.metric} --out {output} > {log} 2>&1"


rule metrics_correlations:
    input:
        expand(f"{RESULTS}/scores/{{metric}}.parquet", metric=METRIC_NAMES),
    output:
        figure=report(f"{FIGURES}/metric_correlations.png", caption="../report/metric_correlations.rst",
                      category="Metrics", subcategory=NAME),
        csv=f"{RESULTS}/metric_correlations.csv",
    log:
        f"logs/{NAME}/metrics/correlations.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=stage_hash(config, "correlations") if METRIC_NAMES else "",
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench metrics correlations --config \"$PRUNEBENCH_CONFIG\" --scores {input} "
        "--out-fig {output.figure} --out-csv {output.csv} > {log} 2>&1"

