"""Retrieval scales (task retrieval, OPERA; docs/retrieval.md): the arms table (NDCG@10, Recall@20 with
standard errors, query coverage, wall time, steps to match no pruning) and the NDCG@10-vs-steps figure
of every arm, from the sweep table. Included by the Snakefile for retrieval scales only.

The image paper's scaling fits and figures are not targets here (the perceptron theory stays,
smoke-sized in the config, as at every scale): a retrieval scale has one initial size N (no power law in N
to fit) and its arms are compared at equal optimizer steps. Its headline (results/<name>/headline.json:
each arm against no pruning paired by seed, coverage, steps to match, budget effects) is headline.smk's
headline_build with --refit."""

SCALING_TARGETS = []
FIGURE_TARGETS = []
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



# --- sweep.step_budgets: every arm again at each other optimizer-step budget B (prunebench.sweep.plan,
# prunebench.tasks.retrieval.budgets): run files {RESULTS}/steps<B>/runs/..., one sweep table and arms
# table per budget, and retrieval_budgets.csv/json side by side. No rule at all without the key. The
# rules run `python -m prunebench retrieval budgets-point|budgets-aggregate|budgets-compare`.
from prunebench.sweep.plan import budget_config, budget_folder, budget_points, extra_budgets
from prunebench.tasks.retrieval.budgets import budget_point_inputs

BUDGETS = extra_budgets(config) if SWEEP_TARGETS else []
BUDGET_POINTS = budget_points(config) if BUDGETS else []
BUDGET_TARGETS = ([t for b in BUDGETS for t in (f"{RESULTS}/{budget_folder(b)}/sweep.parquet",
                                                f"{RESULTS}/{budget_folder(b)}/retrieval_arms.csv",
                                                f"{FIGURES}/{budget_folder(b)}/retrieval_quality_vs_steps.png")]
                  + [f"{RESULTS}/retrieval_budgets.csv", f"{RESULTS}/retrieval_budgets.json"]) if BUDGETS else []
SWEEP_TARGETS = [*SWEEP_TARGETS, *BUDGET_TARGETS]

if BUDGETS:

    rule retrieval_budgets_point:
        input:
            unpack(budget_point_inputs(RESULTS, SWEEP["score_source"])),
        output:
            f"{RESULTS}/steps{{steps}}/runs/{{protocol}}/N{{n}}/{{metric}}/{{keep}}/f{{f}}/seed{{seed}}.json",
        log:
            f"logs/{NAME}/sweep/steps{{steps}}/{{protocol}}/N{{n}}/{{metric}}/{{keep}}/f{{f}}/seed{{seed}}.log",
        wildcard_constraints:
            steps="|".join(str(b) for b in BUDGETS),
            **wildcard_constraints(),  # from the protocol registry (prunebench.sweep.protocols)
        conda:
            "../../environment.yml"
        params:
            options=sweep_point_options,
            config_hash=lambda wildcards: stage_hash(budget_config(config, int(wildcards.steps)), "sweep_point"),
            threads=SWEEP["threads"],
        threads: SWEEP["threads"]
        resources:
            **sweep_resources(),
        shell:
            "\"$PRUNEBENCH_PYTHON\" -m prunebench retrieval budgets-point --config \"$PRUNEBENCH_CONFIG\""
            " --steps {wildcards.steps} --protocol {wildcards.protocol} --size {wildcards.n} --metric {wildcards.metric}"
            " --keep {wildcards.keep} --fraction-kept {wildcards.f} --seed {wildcards.seed} --threads {params.threads}"
            " {params.options} --out {output} > {log} 2>&1"

    rule retrieval_budgets_aggregate:
        input:
            lambda wildcards: [f"{RESULTS}/{bp.relative_path()}" for bp in BUDGET_POINTS if bp.steps == int(wildcards.steps)],
        output:
            parquet=f"{RESULTS}/steps{{steps}}/sweep.parquet",
            csv=f"{RESULTS}/steps{{steps}}/sweep.csv",
        log:
            f"logs/{NAME}/steps{{steps}}/sweep_aggregate.log",
        wildcard_constraints:
            steps="|".join(str(b) for b in BUDGETS),
        conda:
            "../../environment.yml"
        params:
            config_hash=lambda wildcards: stage_hash(budget_config(config, int(wildcards.steps)), "sweep_point"),
        shell:
            "\"$PRUNEBENCH_PYTHON\" -m prunebench retrieval budgets-aggregate --config \"$PRUNEBENCH_CONFIG\""
            " --steps {wildcards.steps} --out {output.parquet} --csv {output.csv} {input} > {log} 2>&1"

    rule retrieval_budgets_compare:
        input:
            [f"{RESULTS}/sweep.parquet"] + [f"{RESULTS}/{budget_folder(b)}/sweep.parquet" for b in BUDGETS],
        output:
            csv=f"{RESULTS}/retrieval_budgets.csv",
            json=f"{RESULTS}/retrieval_budgets.json",
            arms=[f"{RESULTS}/{budget_folder(b)}/retrieval_arms.{ext}" for b in BUDGETS for ext in ("csv", "json")],
            figures=[f"{FIGURES}/{budget_folder(b)}/retrieval_quality_vs_steps.png" for b in BUDGETS],
        log:
            f"logs/{NAME}/retrieval_budgets.log",
        conda:
            "../../environment.yml"
        params:
            config_hash=SWEEP_CONFIG_HASH,
            figures=lambda wildcards, output: os.path.dirname(os.path.dirname(output.figures[0])),  # = FIGURES
        shell:
            "\"$PRUNEBENCH_PYTHON\" -m prunebench retrieval budgets-compare --config \"$PRUNEBENCH_CONFIG\""
            " --csv {output.csv} --json {output.json} --figures {params.figures} > {log} 2>&1"
