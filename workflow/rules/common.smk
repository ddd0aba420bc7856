"""Shared helpers of the stage files (the workflow catalog's layout: functions here, the rules in the stage
files): the list of final targets of the active config, the checks that stop the workflow at parse
time (so `snakemake -n` refuses what would fail later) with one line, and the input and resource
functions of the stages' rules."""

from prunebench.config import check_workflow_config
from prunebench.errors import PrunebenchError


def stop(message):
    """End the workflow at parse time with one ``error:`` line (exit status 2), like the CLI."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def configured_threads():
    """The torch thread count each trained stage is configured with (part of its results' identity)."""
    return {"probe.threads": (config.get("probe") or {}).get("threads") or 1,
            "sweep.threads": (config.get("sweep") or {}).get("threads") or 1}


def check_threads():
    """Snakemake caps a job's threads at --cores (and --max-threads): refuse a config that needs more,
    rather than let ``{threads}`` shrink silently (the results depend on the thread count). The jobs
    pass the configured count themselves, never ``{threads}``; Snakemake reads a missing --cores
    (``snakemake -n``, ``--lint``) as 1, so at 1 core this is a note: jobs run one at a time, each
    with its configured threads."""
    limits = [n for n in (workflow.resource_settings.cores, workflow.resource_settings.max_threads) if n]
    if not limits:
        return
    limit = min(limits)
    too_many = {key: n for key, n in configured_threads().items() if n > limit}
    if too_many and limit == 1:
        print(f"note: {too_many} exceed 1 core: each job still runs with its configured threads, one at a time",
              file=sys.stderr)
    elif too_many:
        wanted = max(too_many.values())
        settings = ", ".join(f"{key}={n}" for key, n in too_many.items())
        stop(f"{settings} but Snakemake may use only {limit} core(s) (--cores/--max-threads), which would cap the "
             f"jobs' threads and change their results; run with --cores {wanted} (make ... CORES={wanted}) or lower "
             "the thread count in the config")


def check_at_parse_time(config_path):
    """The config checks beyond the schema (prunebench.config.check_workflow_config) and the thread check."""
    try:
        check_workflow_config(config, source=f"config {config_path}")
    except PrunebenchError as err:
        stop(str(err))
    check_threads()


def all_targets():
    """Everything the all target builds; each stage's target list, where that stage is configured."""
    targets = [f"{RESULTS}/data/manifest.json"]
    for name in ("METRIC_TARGETS", "SWEEP_TARGETS", "SCALING_TARGETS", "FIGURE_TARGETS", "THEORY_TARGETS", "HEADLINE_TARGETS"):
        targets.extend(globals().get(name, []))
    return targets


# -- metrics stage (metrics.smk) ---------------------------------------------------------------

def metric_resources():
    """Scheduler resources of one score job, from metrics.resources (None values left out)."""
    wanted = {"mem_mb": 8000, "runtime": 120, "gpu": 0, **(METRICS.get("resources") or {})}
    return {key: value for key, value in wanted.items() if value is not None}


def model_chunk_markers(wildcards):
    """The chunk markers of the model set score ``metric`` reads (none unless metrics.models_per_job)."""
    key = chunk_of_score(config, wildcards.metric)
    if key is None:
        return []
    return [f"{RESULTS}/probes/chunks/{key}/chunk{k}.json" for k in range(MODEL_SETS[key]["chunks"])]


# -- sweep stage (sweep.smk) -------------------------------------------------------------------

def sweep_resources():
    """Scheduler resources of one sweep job, from sweep.resources (None values left out)."""
    wanted = {"mem_mb": 4000, "runtime": 30, "gpu": 0, **(SWEEP.get("resources") or {})}
    return {key: value for key, value in wanted.items() if value is not None}


def shard_resources():
    """Resources of a ``sweep_shard_<i>`` job: :func:`sweep_resources` plus what the profile's
    ``set-resources`` gives ``sweep_point`` (on SLURM: the GPU partition). Shard rules are named per
    shard, so a profile cannot list them; a shard is placed like the point jobs it replaces."""
    overrides = getattr(workflow.resource_settings, "overwrite_resources", None) or {}
    point = overrides.get("sweep_point") or {}
    return {**sweep_resources(), **{name: getattr(value, "raw", value) for name, value in dict(point).items()}}


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


def sweep_shard_inputs(shard):
    """The data manifest, the score tables of the shard's points, and the f = 1 runs its
    fixed_compute points need from other shards."""
    outputs = {f"{RESULTS}/runs/{point.relative_path()}" for point in shard}
    tables = {str(score_table_path(RESULTS, point, SWEEP["score_source"])) for point in shard
              if score_table_path(RESULTS, point, SWEEP["score_source"]) is not None}
    baselines = {f"{RESULTS}/runs/{point.baseline().relative_path()}" for point in shard
                 if get_protocol(point.protocol).needs_baseline} - outputs
    return [f"{RESULTS}/data/manifest.json", *sorted(tables), *sorted(baselines)]


# -- headline stage (headline.smk) -------------------------------------------------------------

def refit_headline():
    """A retrieval scale has no scaling stage (one N): its headline refits the sweep table itself."""
    return config.get("task") == "retrieval"


def headline_inputs(wildcards):
    """The sweep table and the scaling summary; a retrieval scale: every step budget's sweep table."""
    from prunebench.sweep.plan import budget_folder, extra_budgets

    if refit_headline():
        return {"sweep": f"{RESULTS}/sweep.parquet",
                "budgets": [f"{RESULTS}/{budget_folder(b)}/sweep.parquet" for b in extra_budgets(config)]}
    return {"sweep": f"{RESULTS}/sweep.parquet", "scaling": f"{RESULTS}/scaling.json"}
