#!/usr/bin/env bash
# The retrieval-cpu scale's arms (OPERA: no pruning, SP at 0.5 / 0.25, DP, InfoBatch, RS2, the SP
# variants and the pretrained encoder; both step budgets of sweep.step_budgets; 3 seeds) on one GPU,
# as its own scale `retrieval-gpu` (results/retrieval-gpu/, figures/retrieval-gpu/): the CPU scale's
# YAML with only `name` and `device` changed, so GPU rows never mix with the CPU scale's run files.
# Prepared for an H100/H200 through the device tool (under 10 minutes in all).
#
#   bash benchmarks/gpu_retrieval_cpu.sh            # the GPU run
#   DRY=1 DEVICE=cpu bash benchmarks/gpu_retrieval_cpu.sh   # plan only (snakemake -n), any machine
#
# Writes under $OUT: environment.json, nvidia-smi.txt, retrieval-gpu.yaml, workflow.log, steps.jsonl,
# and a copy of results/retrieval-gpu and figures/retrieval-gpu (whatever finished: every run file is
# written when its point ends, and `make resume CONFIG=<the yaml>` continues an interrupted run).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_retrieval}
mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda}
CORES=${CORES:-4}                  # parallel jobs on the one GPU (each point is small)
if [ -x .venv/bin/python ]; then PY=${PY:-.venv/bin/python}; else PY=${PY:-python3}; fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -z "${PRUNEBENCH_DATA:-}" ] && [ -d shared/data ]; then export PRUNEBENCH_DATA="$PWD/shared/data"; fi

"$PY" - "$DEVICE" > "$OUT/environment.json" <<'PYEOF' || { echo "environment check failed (torch / device)"; exit 2; }
import json, os, platform, sys
import torch
device = sys.argv[1]
if device.startswith("cuda") and not torch.cuda.is_available():
    sys.exit("no CUDA device visible to torch")
print(json.dumps({"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
                  "device": device, "cpus": os.cpu_count(),
                  "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}))
PYEOF
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true

CONFIG="$OUT/retrieval-gpu.yaml"
"$PY" - "$DEVICE" "$CONFIG" <<'PYEOF' || exit 2
import sys
import yaml
device, out = sys.argv[1], sys.argv[2]
config = yaml.safe_load(open("workflow/config/retrieval-cpu.yaml"))
config["name"], config["device"] = "retrieval-gpu", device
open(out, "w").write(yaml.safe_dump(config, sort_keys=False))
PYEOF

start=$(date +%s)
if [ -n "${DRY:-}" ]; then
    "$PY" -m prunebench workflow --config "$CONFIG" --cores "$CORES" -- -n > "$OUT/workflow.log" 2>&1; rc=$?
else
    timeout "${BUDGET_S:-540}" "$PY" -m prunebench workflow --config "$CONFIG" --cores "$CORES" -- --keep-going \
        > "$OUT/workflow.log" 2>&1; rc=$?
fi
echo "{\"step\": \"workflow\", \"seconds\": $(( $(date +%s) - start )), \"rc\": $rc}" >> "$OUT/steps.jsonl"
for folder in results/retrieval-gpu figures/retrieval-gpu; do
    [ -d "$folder" ] && mkdir -p "$OUT/$(dirname "$folder")" && cp -r "$folder" "$OUT/$folder"
done
echo "workflow: rc $rc after $(( $(date +%s) - start )) s; $(find results/retrieval-gpu -name '*.json' -path '*runs*' 2>/dev/null | wc -l) run files"
exit $rc
