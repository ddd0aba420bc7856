"""Empirical figures of the sweep (prunebench.figures.empirical): Fig. 1-style keep hard vs easy,
Fig. 3-style error vs pruned size and Pareto frontier, Fig. 5-style metric benchmark, scaling fits."""

from prunebench.figures.names import compute_figure_names, figure_names

FIGURE_TARGETS = [f"{FIGURES}/{name}" for name in figure_names(config)] if SCALING_TARGETS else []
COMPUTE_FIGURES = compute_figure_names(config) if SCALING_TARGETS else []
FIGURE_TARGETS += [f"{FIGURES}/{name}" for name in COMPUTE_FIGURES]


# the full-set score tables of the sweep's metrics: their models and standard errors decide which
# estimators are too noisy to show in the benchmark figure (prunebench.metrics.reliability)
FIGURE_SCORES = [f"{RESULTS}/scores/{m}.parquet" for m in (config.get("sweep") or {}).get("metrics") or []
                 if m in ((config.get("metrics") or {}).get("names") or [])]


rule figures_empirical:
    input:
        sweep=f"{RESULTS}/sweep.parquet",
        scaling=f"{RESULTS}/scaling.json",
        scores=FIGURE_SCORES,
    output:
        [report(f"{FIGURES}/{name}", caption=f"../report/{name.removesuffix('.png')}.rst", category="Empirical figures",
                subcategory=NAME) for name in figure_names(config)],
    log:
        f"logs/{NAME}/figures_empirical.log",
    conda:
        "../../environment.yml"
    params:
        scores_dir=lambda wildcards, input: os.path.dirname(input.scores[0]) if input.scores else f"{RESULTS}/scores",
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
        config_hash=stage_hash(config, "figures") if FIGURE_TARGETS else "",
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench figures empirical --config \"$PRUNEBENCH_CONFIG\" --sweep {input.sweep} --scaling {input.scaling}"
        " --scores-dir {params.scores_dir} --outdir {params.outdir} > {log} 2>&1"


# accuracy vs total compute (scoring + training) at the largest N: static pruning, InfoBatch, RS2,
# the compressed schedule and full data on one axis (prunebench.figures.compute)
rule figures_compute:
    input:
        sweep=f"{RESULTS}/sweep.parquet",
    output:
        [report(f"{FIGURES}/{name}", caption=f"../report/{name.removesuffix('.png')}.rst", category="Empirical figures",
                subcategory=NAME) for name in COMPUTE_FIGURES],
    log:
        f"logs/{NAME}/figures_compute.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=stage_hash(config, "figures") if COMPUTE_FIGURES else "",
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench figures compute --config \"$PRUNEBENCH_CONFIG\" --sweep {input.sweep} --out {output} > {log} 2>&1"
