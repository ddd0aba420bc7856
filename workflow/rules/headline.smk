"""Headline numbers of this scale: results/<name>/headline.json, merged into results/headline.json
(the committed file `python -m prunebench check-headline` compares regenerated numbers with)."""

HEADLINE_TARGETS = [f"{RESULTS}/headline.json"] if SCALING_TARGETS and config.get("headline") is not None else []


rule headline:
    input:
        sweep=f"{RESULTS}/sweep.parquet",
        scaling=f"{RESULTS}/scaling.json",
    output:
        f"{RESULTS}/headline.json",
    log:
        f"logs/{NAME}/headline.log",
    params:
        config_hash=stage_hash(config, "headline") if HEADLINE_TARGETS else "",
    shell:
        "{PY} -m prunebench headline build --config {CONFIG_PATH} --sweep {input.sweep} --scaling {input.scaling}"
        " --out {output} --merge-into results/headline.json > {log} 2>&1"
