"""Data stage: decode the config's datasets once into the cache and record what was used."""


rule prepare_data:
    output:
        f"{RESULTS}/data/manifest.json",
    log:
        f"{RESULTS}/logs/prepare_data.log",
    params:
        config_hash=stage_hash(config, "data"),
    resources:
        mem_mb=8000,
    shell:
        "{PY} -m prunebench data prepare --config {CONFIG_PATH} --out {output} > {log} 2>&1"
