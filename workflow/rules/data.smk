"""Data stage: decode the config's datasets once into the cache and record what was used."""


rule data_prepare:
    output:
        f"{RESULTS}/data/manifest.json",
    log:
        f"{RESULTS}/logs/prepare_data.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=stage_hash(config, "data"),
    resources:
        mem_mb=8000,
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench data prepare --config \"$PRUNEBENCH_CONFIG\" --out {output} > {log} 2>&1"
