"""Shared helpers for the rule files: the list of final targets of the active config, and the checks
that stop the workflow at parse time (so `snakemake -n` refuses what would fail later) with one line."""

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
    """Everything ``rule all`` builds: each stage's target list, where that stage is configured."""
    targets = [f"{RESULTS}/data/manifest.json"]
    for name in ("METRIC_TARGETS", "SWEEP_TARGETS", "SCALING_TARGETS", "FIGURE_TARGETS", "THEORY_TARGETS", "HEADLINE_TARGETS"):
        targets.extend(globals().get(name, []))
    return targets
