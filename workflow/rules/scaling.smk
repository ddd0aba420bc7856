"""Scaling-law fits of the sweep: power law (± floor), exponential, AIC/BIC, bootstrap CIs, Pareto
frontier over f, keep-easy/keep-hard crossover (prunebench.scaling)."""

SCALING_TARGETS = [f"{RESULTS}/scaling.json"] if SWEEP_TARGETS else []


rule scaling_fit:
    input:
        f"{RESULTS}/sweep.parquet",
    output:
        f"{RESULTS}/scaling.json",
    log:
        f"logs/{NAME}/scaling_fit.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=stage_hash(config, "scaling") if SCALING_TARGETS else "",
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench scaling fit --sweep {input} --config \"$PRUNEBENCH_CONFIG\" --out {output} > {log} 2>&1"
