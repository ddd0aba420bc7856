"""prunebench workflow: data -> probe -> metric scores -> sweep -> scaling fits -> figures/headline.

    snakemake --cores 2                                   # ci scale (default)
    snakemake --cores 2 --configfile workflow/config/smoke.yaml
    snakemake --profile workflow/profiles/slurm --configfile workflow/config/cifar10.yaml

Every rule calls one ``python -m prunebench ...`` command; the logic lives in src/prunebench/.
Every rule carries ``params.config_hash`` (prunebench.provenance.stage_hash: the settings its output
depends on), so a changed setting reruns exactly the jobs it affects; trained jobs run with their
configured thread count, and a config whose threads exceed --cores stops here with one line.
"""

import os
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("8.0")

# The ci scale is the default; `--configfile` replaces it (never merged with it).
if not workflow.overwrite_configfiles:
    configfile: "workflow/config/ci.yaml"

validate(config, "workflow/schemas/config.schema.yaml")
sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # the package, even without `pip install -e`
from prunebench.config import output_dirs
from prunebench.provenance import stage_hash

# The config file actually in force (the last --configfile wins over the default above).
CONFIG_PATH = os.path.relpath(workflow.overwrite_configfiles[-1]) if workflow.overwrite_configfiles else "workflow/config/ci.yaml"
# Every rule's shell runs "$PRUNEBENCH_PYTHON" -m prunebench ... --config "$PRUNEBENCH_CONFIG": environment
# variables, not rule parameters, so another interpreter path or config file name does not make finished
# jobs stale (what a job's output depends on is its params.config_hash: prunebench.provenance.stage_hash).
os.environ.setdefault("PRUNEBENCH_PYTHON", sys.executable)
os.environ.update(PRUNEBENCH_CONFIG=CONFIG_PATH)
NAME = config["name"]
RESULTS, FIGURES, THEORY = (output_dirs(config)[key] for key in ("results", "figures", "theory"))

include: "workflow/rules/common.smk"
check_at_parse_time(CONFIG_PATH)
# One rule file per stage, in pipeline order (a missing file is an error, never a silently dropped stage).
include: "workflow/rules/data.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/scaling.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/headline.smk"
if config.get("task") == "text-lm":  # the domain-composition figure; no perceptron theory
    include: "workflow/rules/text.smk"
if config.get("task") == "retrieval":  # the arms table and NDCG@10-vs-steps figure instead of the scaling fits
    include: "workflow/rules/retrieval.smk"

report: "workflow/report/workflow.rst"


rule all:
    input:
        all_targets(),
