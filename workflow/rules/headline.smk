"""Headline numbers of this scale: results/<name>/headline.json, merged into results/headline.json
(the committed file `python -m prunebench check-headline` compares regenerated numbers with)."""

HEADLINE_TARGETS = [f"{RESULTS}/headline.json"] if SCALING_TARGETS and config.get("headline") is not None else []


rule headline_build:
    input:
        sweep=f"{RESULTS}/sweep.parquet",
        scaling=f"{RESULTS}/scaling.json",
    output:
        f"{RESULTS}/headline.json",
    log:
        f"logs/{NAME}/headline.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=stage_hash(config, "headline") if HEADLINE_TARGETS else "",
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench headline build --config \"$PRUNEBENCH_CONFIG\" --sweep {input.sweep} --scaling {input.scaling}"
        " --out {output} --merge-into results/headline.json > {log} 2>&1"
