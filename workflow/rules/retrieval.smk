"""Retrieval scales (task retrieval, OPERA; docs/retrieval.md): the arms table (NDCG@10, Recall@20 with
standard errors, query coverage, wall time, steps to match no pruning) and the NDCG@10-vs-steps figure
of every arm, from the sweep table. Included by the Snakefile for retrieval scales only.

The image paper's scaling fits, figures and headline are not targets here (the perceptron theory stays,
smoke-sized in the config, as at every scale):
a retrieval scale has one initial size N (no power law in N to fit) and its arms are compared at equal
optimizer steps; this rule's arms table is its headline (results/<name>/retrieval_arms.json)."""

SCALING_TARGETS = []
FIGURE_TARGETS = []
HEADLINE_TARGETS = []
RETRIEVAL_TARGETS = [f"{RESULTS}/retrieval_arms.csv", f"{RESULTS}/retrieval_arms.json",
                     f"{FIGURES}/retrieval_quality_vs_steps.png"] if SWEEP_TARGETS else []
SWEEP_TARGETS = [*SWEEP_TARGETS, *RETRIEVAL_TARGETS]  # all_targets() gathers the stage lists it knows


rule retrieval_arms:
    input:
        f"{RESULTS}/sweep.parquet",
    output:
        csv=f"{RESULTS}/retrieval_arms.csv",
        json=f"{RESULTS}/retrieval_arms.json",
        figure=f"{FIGURES}/retrieval_quality_vs_steps.png",
    log:
        f"logs/{NAME}/retrieval_arms.log",
    conda:
        "../../environment.yml"
    params:
        config_hash=SWEEP_CONFIG_HASH,
        name=NAME,
    shell:
        "\"$PRUNEBENCH_PYTHON\" -m prunebench retrieval arms --sweep {input} --name {params.name} --csv {output.csv}"
        " --json {output.json} --figure {output.figure} > {log} 2>&1"
