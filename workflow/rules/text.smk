"""Text-lm scales only (the Snakefile includes this file when the config's task is text-lm):
the domain composition of the pool before and after each percentile window (share of documents
and of tokens; prunebench.figures.composition), and the parse-time check that the final LM has at
least 4x the reference LM's parameters."""

from prunebench.tasks.text_lm.task import check_reference_size

try:  # a reference LM at least as large as the final one: one line, at parse time
    check_reference_size(config)
except PrunebenchError as err:
    stop(str(err))

COMPOSITION_METRICS = [m for m in (config.get("sweep") or {}).get("metrics") or [] if m != "random"]
TEXT_TARGETS = [f"{FIGURES}/domain_composition.png", f"{RESULTS}/domain_composition.csv"] if COMPOSITION_METRICS else []
FIGURE_TARGETS += TEXT_TARGETS  # gathered by rule all (common.smk's all_targets)


rule figures_composition:
    input:
        expand(f"{RESULTS}/scores/{{metric}}.parquet", metric=COMPOSITION_METRICS),
    output:
        figure=report(f"{FIGURES}/domain_composition.png", caption="../report/domain_composition.rst",
                      category="Empirical figures", subcategory=NAME),
        csv=f"{RESULTS}/domain_composition.csv",
    log:
        f"logs/{NAME}/figures_composition.log",
    conda:
        "../../environment.yml"
    params:
        scores_dir=lambda wildcards, input: os.path.dirname(input[0]),
        config_hash=stage_hash(config, "figures") if TEXT_TARGETS else "",
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench figures composition --config \"$PRUNEBENCH_CONFIG\" --scores-dir {params.scores_dir}"
        " --out {output.figure} --csv {output.csv} > {log} 2>&1"
