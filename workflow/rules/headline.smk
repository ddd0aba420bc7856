"""Headline numbers of this scale: results/<name>/headline.json, merged into results/headline.json
(the committed file `python -m prunebench check-headline` compares regenerated numbers with).

A retrieval scale has no scaling stage (one initial size N; its arms are compared at equal optimizer
steps): its headline is built with --refit (the sweep table's fits refitted in a scratch folder, the
same computation as check-headline's derived check) from the sweep table of every step budget."""

if refit_headline():  # common.smk
    HEADLINE_TARGETS = [f"{RESULTS}/headline.json"] if SWEEP_TARGETS else []
else:
    HEADLINE_TARGETS = [f"{RESULTS}/headline.json"] if SCALING_TARGETS and config.get("headline") is not None else []


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
        fits="--refit" if refit_headline() else f"--scaling {RESULTS}/scaling.json",
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench headline build --config \"$PRUNEBENCH_CONFIG\" --sweep {input.sweep} {params.fits}"
        " --out {output} --merge-into results/headline.json > {log} 2>&1"
