"""Empirical figures of the sweep (prunebench.figures.empirical): Fig. 1-style keep hard vs easy,
Fig. 3-style error vs pruned size and Pareto frontier, Fig. 5-style metric benchmark, scaling fits."""

from prunebench.figures.names import figure_names

FIGURE_TARGETS = [f"{FIGURES}/{name}" for name in figure_names(config)] if SCALING_TARGETS else []


rule figures_empirical:
    input:
        sweep=f"{RESULTS}/sweep.parquet",
        scaling=f"{RESULTS}/scaling.json",
    output:
        [report(f"{FIGURES}/{name}", caption=f"../report/{name.removesuffix('.png')}.rst", category="Empirical figures",
                subcategory=NAME) for name in figure_names(config)],
    log:
        f"logs/{NAME}/figures_empirical.log",
    params:
        config_hash=stage_hash(config, "figures") if FIGURE_TARGETS else "",
    shell:
        "{PY} -m prunebench figures empirical --config {CONFIG_PATH} --sweep {input.sweep} --scaling {input.scaling}"
        " --outdir {FIGURES} > {log} 2>&1"
