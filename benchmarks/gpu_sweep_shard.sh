#!/usr/bin/env bash
# Times a shard of cifar10-scale sweep points (airbench94 recipe: the cifar10 config's sweep.train)
# and the EL2N score ensemble behind them on one GPU, and writes the numbers under $OUT. Prepared for
# an H100/H200 through the device tool (under 10 minutes in all); prints a one-line summary.
#
#   bash benchmarks/gpu_sweep_shard.sh                     # the GPU run (CONFIG=cifar10, DEVICE=cuda)
#   CONFIG=smoke SIZES=200 SMALL=200 DEVICE=cpu bash benchmarks/gpu_sweep_shard.sh   # toy check on a CPU
#
# Steps (each bounded by `timeout`, each appending its rows as soon as it finishes):
#   1. environment: torch, CUDA, GPU name, nvidia-smi -> $OUT/environment.json, $OUT/nvidia-smi.txt
#   2. score ensemble + shard: bench_sweep_shard.py with --scores-from '' computes the EL2N tables of
#      every N in SIZES with `sweep scores` (timed: score_seconds), then runs the 6 points per N in one
#      `sweep shard` process, twice (repeats) -> $OUT/sweep_shard.jsonl
#   3. per-point against shard at the small N (SMALL): the same 6 points as 6 `sweep point` processes
#      and as one shard (start-up overhead per point, rows compared) -> $OUT/sweep_shard.jsonl
#   4. the cifar10 plan's point count -> $OUT/plan.txt (to extrapolate the whole scale's time)
# Data: $PRUNEBENCH_DATA, else <repo>/shared/data when present, else the loader's default
# (<repo>/../shared/data); it must hold cifar10-jpeg.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_sweep_shard}
mkdir -p "$OUT"
CONFIG=${CONFIG:-cifar10}
DEVICE=${DEVICE:-cuda}
SIZES=${SIZES:-"3125 50000"}
SMALL=${SMALL:-3125}
if [ -x .venv/bin/python ]; then PY=${PY:-.venv/bin/python}; else PY=${PY:-python3}; fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -z "${PRUNEBENCH_DATA:-}" ] && [ -d shared/data ]; then export PRUNEBENCH_DATA="$PWD/shared/data"; fi
TAG="${TAG:-gpu_sweep_shard.sh on $(hostname)}"
status=0

"$PY" - "$DEVICE" > "$OUT/environment.json" <<'EOF' || { echo "environment check failed (torch / device)"; exit 2; }
import json, platform, sys
import torch
device = sys.argv[1]
if device.startswith("cuda") and not torch.cuda.is_available():
    sys.exit("no CUDA device visible to torch")
info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "device": device, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
import prunebench.sweep.shard  # the package imports with this interpreter's packages
print(json.dumps(info))
EOF
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true

timeout "${SHARD_BUDGET_S:-330}" "$PY" benchmarks/bench_sweep_shard.py --config "$CONFIG" --name gpubench-shard \
    --sizes $SIZES --scores-from '' --device "$DEVICE" --repeats 2 --point-repeats 0 --keep-scratch \
    --tag "$TAG: score ensemble + shard" --out "$OUT/sweep_shard.jsonl" > "$OUT/shard.log" 2>&1 || status=$?

timeout "${POINT_BUDGET_S:-180}" "$PY" benchmarks/bench_sweep_shard.py --config "$CONFIG" --name gpubench-point \
    --sizes $SMALL --scores-from gpubench-shard --device "$DEVICE" --repeats 1 \
    --tag "$TAG: per-point vs shard" --out "$OUT/sweep_shard.jsonl" > "$OUT/point.log" 2>&1 || status=$?
rm -rf results/gpubench-shard

"$PY" -m prunebench sweep plan --config "$CONFIG" | wc -l > "$OUT/plan.txt" 2>&1 || true
"$PY" - "$OUT/sweep_shard.jsonl" <<'EOF' || true
import json, sys
for line in open(sys.argv[1]):
    row = json.loads(line)
    ways = {way: {k: row[way][k] for k in ("per_point_s", "train_s", "startup_overhead_pct")} for way in ("point", "shard") if way in row}
    print(row["sizes"], "scores:", row["score_seconds"], ways, "identical:", row.get("rows_identical"))
EOF
echo "exit status $status (0: all steps finished; 124: a step ran past its budget)"
exit $status
