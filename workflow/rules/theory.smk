"""Perceptron pruning theory (prunebench.theory): replica-theory curves, max-margin simulations,
Pareto/f_opt analysis and the three theory figures. Grid density comes from the config's
``theory:`` section; the ci scale writes the canonical results/theory/ and figures/theory_*.png,
other scales results/<name>/theory/ and figures/<name>/ (THEORY, FIGURES: prunebench.config.output_dirs)."""

THEORY_TABLES = {name: f"{THEORY}/{name}.csv" for name in ("curves", "crossover", "simulations", "frontier", "fits")}
THEORY_FIGURES = [f"{FIGURES}/theory_{name}.png" for name in ("crossover", "frontier", "imperfect")]
THEORY_TARGETS = [*THEORY_TABLES.values(), *THEORY_FIGURES]
THEORY_THREADS = int((config.get("theory") or {}).get("workers", 2))
THEORY_HASH = stage_hash(config, "theory")


rule theory_all:
    input:
        THEORY_TARGETS,


rule theory_curves:
    output:
        THEORY_TABLES["curves"],
    threads: THEORY_THREADS
    log:
        f"logs/{NAME}/theory_curves.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=THEORY_HASH,
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench theory curves --config \"$PRUNEBENCH_CONFIG\" --workers {threads} --out {output} > {log} 2>&1"


rule theory_crossover:
    output:
        THEORY_TABLES["crossover"],
    threads: THEORY_THREADS
    log:
        f"logs/{NAME}/theory_crossover.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=THEORY_HASH,
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench theory crossover --config \"$PRUNEBENCH_CONFIG\" --workers {threads} --out {output} > {log} 2>&1"


rule theory_simulate:
    output:
        THEORY_TABLES["simulations"],
    threads: THEORY_THREADS
    log:
        f"logs/{NAME}/theory_simulations.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=THEORY_HASH,
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench theory simulate --config \"$PRUNEBENCH_CONFIG\" --workers {threads} --out {output} > {log} 2>&1"


rule theory_analyse:
    input:
        curves=THEORY_TABLES["curves"],
    output:
        frontier=THEORY_TABLES["frontier"],
        fits=THEORY_TABLES["fits"],
    log:
        f"logs/{NAME}/theory_analyse.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=THEORY_HASH,
    threads: THEORY_THREADS
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench theory analyse --config \"$PRUNEBENCH_CONFIG\" --workers {threads} --curves {input.curves}"
        " --frontier-out {output.frontier} --fits-out {output.fits} > {log} 2>&1"


rule theory_figures:
    input:
        curves=THEORY_TABLES["curves"],
        crossover=THEORY_TABLES["crossover"],
        sims=THEORY_TABLES["simulations"],
        frontier=THEORY_TABLES["frontier"],
        fits=THEORY_TABLES["fits"],
    output:
        [report(path, caption=f"../report/{Path(path).stem}.rst", category="Theory figures", subcategory=NAME)
         for path in THEORY_FIGURES],
    log:
        f"logs/{NAME}/theory_figures.log",
    conda:
        "../../environment.yml"
    params:
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
        config_hash=THEORY_HASH,
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench theory figures --config \"$PRUNEBENCH_CONFIG\" --curves {input.curves} --crossover {input.crossover}"
        " --sims {input.sims} --frontier {input.frontier} --fits {input.fits} --outdir {params.outdir} > {log} 2>&1"
