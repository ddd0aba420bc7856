# Two commands do all set-up on a fresh machine:
#   make run    creates .venv if missing, then runs the default (ci-scale) workflow
#   make test   creates .venv if missing, then runs the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.prunebench-installed
CORES ?= 2
CONFIG ?= ci

.PHONY: run test smoke check-headline report bench venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test,slurm]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m snakemake --cores $(CORES) --configfile workflow/config/$(CONFIG).yaml

test: $(STAMP)
	$(PY) -m pytest -q

smoke: $(STAMP)
	$(PY) -m snakemake --cores $(CORES) --configfile workflow/config/smoke.yaml

check-headline: $(STAMP)
	$(PY) -m prunebench check-headline --config ci

report: $(STAMP)
	$(PY) -m snakemake --cores $(CORES) --configfile workflow/config/$(CONFIG).yaml --report results/$(CONFIG)/report.html

bench: $(STAMP)
	$(PY) benchmarks/bench_probe.py
