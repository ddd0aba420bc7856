"""Headline numbers of this scale: results/<name>/headline.json, merged into results/headline.json
(the committed file `python -m prunebench check-headline` compares regenerated numbers with).

A retrieval scale has no scaling stage (one initial size N; its arms are compared at equal optimizer
steps): its headline is built with --refit (the sweep table's fits refitted in a scratch folder, the
same computation as check-headline's derived check) from the sweep table of every step budget."""

from prunebench.sweep.plan import budget_folder, extra_budgets

REFIT_HEADLINE = config.get("task") == "retrieval"
if REFIT_HEADLINE:
    HEADLINE_TARGETS = [f"{RESULTS}/headline.json"] if SWEEP_TARGETS else []
else:
    HEADLINE_TARGETS = [f"{RESULTS}/headline.json"] if SCALING_TARGETS and config.get("headline") is not None else []


def headline_inputs(wildcards):
    """The sweep table and the scaling summary; a retrieval scale: every step budget's sweep table."""
    if REFIT_HEADLINE:
        return {"sweep": f"{RESULTS}/sweep.parquet",
                "budgets": [f"{RESULTS}/{budget_folder(b)}/sweep.parquet" for b in extra_budgets(config)]}
    return {"sweep": f"{RESULTS}/sweep.parquet", "scaling": f"{RESULTS}/scaling.json"}


rule headline_build:
    input:
        unpack(headline_inputs),
    output:
        f"{RESULTS}/headline.json",
    log:
        f"logs/{NAME}/headline.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=stage_hash(config, "headline") if HEADLINE_TARGETS else "",
        fits="--refit" if REFIT_HEADLINE else f"--scaling {RESULTS}/scaling.json",
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench headline build --config \"$PRUNEBENCH_CONFIG\" --sweep {input.sweep} {params.fits}"
        " --out {output} --merge-into results/headline.json > {log} 2>&1"
