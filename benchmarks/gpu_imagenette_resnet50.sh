#!/usr/bin/env bash
# The `imagenet` config (Imagenette2 at 224 px, timm ResNet-50, the paper's model) on one GPU: decode
# and cache both splits, train the probe, then a shard of sweep points (the f = 1 baseline and random
# at f = 0.8 / 0.6, seed 0, the largest N), and write what it measured under $OUT. Prepared for an
# H100/H200 through the device tool (under 10 minutes in all); prints a one-line summary per step.
#
#   bash benchmarks/gpu_imagenette_resnet50.sh                        # the GPU run (CONFIG=imagenet)
#   CONFIG=smoke DEVICE=cpu EPOCHS=1 bash benchmarks/gpu_imagenette_resnet50.sh   # toy check on a CPU
#
# Steps (each bounded by `timeout`; each writes its output as soon as it finishes):
#   1. environment: torch, CUDA, GPU name, nvidia-smi -> $OUT/environment.json, $OUT/nvidia-smi.txt
#   2. `data prepare`: decode the JPEGs once at 224 px (timed) -> $OUT/manifest.json, $OUT/data.log
#   3. `train`: the probe (ResNet-50, probe.epochs, bf16, progressive 160 -> 224 px) with its
#      per-epoch history -> $OUT/probe.json (val top-1, train seconds)
#   4. `sweep shard`: 3 points in one process (data and device loaded once) -> $OUT/results/<config>/runs/
# Data: $PRUNEBENCH_DATA, else <repo>/shared/data when present, else the loader's default.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_imagenette_resnet50}
mkdir -p "$OUT"
CONFIG=${CONFIG:-imagenet}
DEVICE=${DEVICE:-cuda}
if [ -x .venv/bin/python ]; then PY=${PY:-.venv/bin/python}; else PY=${PY:-python3}; fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -z "${PRUNEBENCH_DATA:-}" ] && [ -d shared/data ]; then export PRUNEBENCH_DATA="$PWD/shared/data"; fi
status=0

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

timed() {  # timed <name> <budget s> <command...>: runs it, appends {step, seconds, rc} to $OUT/steps.jsonl
    local name=$1 budget=$2; shift 2
    local start=$(date +%s%N)
    timeout "$budget" "$@" > "$OUT/$name.log" 2>&1; local rc=$?
    local ms=$(( ($(date +%s%N) - start) / 1000000 ))
    local seconds="$((ms / 1000)).$(printf %03d $((ms % 1000)))"
    echo "{\"step\": \"$name\", \"seconds\": $seconds, \"rc\": $rc}" >> "$OUT/steps.jsonl"
    echo "$name: rc $rc after $seconds s"
    [ $rc -eq 0 ] || status=$rc
}

timed data "${DATA_BUDGET_S:-150}" "$PY" -m prunebench data prepare --config "$CONFIG" --out "$OUT/manifest.json"
timed probe "${PROBE_BUDGET_S:-300}" "$PY" -m prunebench train --config "$CONFIG" --device "$DEVICE" --history \
    ${EPOCHS:+--epochs $EPOCHS} --out "$OUT/probe.json"
POINTS=$("$PY" -m prunebench sweep plan --config "$CONFIG" | grep -E "/none/all/f1/seed0|/random/random/f0\.(8|6)/seed0" \
         | awk -F/N '{split($2, a, "/"); print a[1], $0}' | sort -n -k1 | tail -3 | cut -d' ' -f2)
timed shard "${SHARD_BUDGET_S:-150}" "$PY" -m prunebench sweep shard --config "$CONFIG" --device "$DEVICE" \
    --points $POINTS
for point in $POINTS; do  # the shard writes the plan's paths; keep them under $OUT
    [ -f "$point" ] && mkdir -p "$OUT/$(dirname "$point")" && cp "$point" "$OUT/$point"
done
"$PY" - "$OUT" <<'PYEOF' || true
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
if (out / "probe.json").is_file():
    probe = json.loads((out / "probe.json").read_text())
    print("probe:", {k: probe.get(k) for k in ("test_accuracy", "wall_time_s", "train_images_per_s", "epochs", "train_steps", "device")})
for path in sorted(out.rglob("seed*.json")):
    row = json.loads(path.read_text())
    print(path.relative_to(out), {k: row.get(k) for k in ("test_accuracy", "train_wall_time_s", "wall_time_s", "train_steps")})
PYEOF
echo "exit status $status (0: all steps finished; 124: a step ran past its budget)"
exit $status
