"""Throughput and time-to-accuracy of the fast probe and of ResNet-18, side by side, on full CIFAR-10.

    .venv/bin/python benchmarks/bench_probe.py                   # probe (cpu/gpu preset by device) + resnet18
    .venv/bin/python benchmarks/bench_probe.py --models probe --probe-epochs 6 --curve
    .venv/bin/python benchmarks/bench_probe.py --preset gpu      # airbench94 recipe (run it on a GPU)

Each model trains on all 50,000 training images; the probe is tested on all 10,000 test images with
its preset's TTA (level 2: mirror + 1-px translations, as airbench94).
The probe runs its epoch budget; ResNet-18 (slow on a CPU) gets a time budget: its throughput is
measured on a few steps, then it trains for the number of steps that fit the budget (the schedule
is fitted to those steps, so the reported accuracy is an honest "accuracy after T seconds").
``wall_time_s`` counts training only (the time-to-accuracy clock); ``end_to_end_s`` adds the whitening
init and the final TTA evaluation (airbench's clock); ``cpu_time_s`` is the process CPU time (robust to other
load on a shared machine). One JSON line per model is appended to results/benchmarks/probe.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from prunebench.data import load_dataset
from prunebench.provenance import REPO_ROOT, code_version
from prunebench.training import Callback, TrainConfig, build_model, resolve_device, train

PROBE_PRESETS = {
    # 2 CPU cores: airbench's conv net at widths 32-64-192 (517k params), 6.5 epochs with progressive
    # resizing 16 → 32 px over 30%-75% of the steps (a quarter of the steps at full size), Muon on the
    # conv filters (airbench94_muon; lr 0.1 at batch 250), SGD for the head and biases, the whitening
    # bias frozen after 3 epochs (backprop then skips the first conv's input gradient), TTA level 2.
    # Tuning runs: results/benchmarks/probe_tuning.jsonl.
    "cpu": dict(model="airbench", model_kwargs=dict(width=[32, 64, 192], stem_stride=1), epochs=6.5, batch_size=250,
                lr=0.37, momentum=0.85, weight_decay=0.0013, bias_lr_scale=64, label_smoothing=0.2,
                muon=dict(lr=0.1), whiten_bias_epochs=3, tta=2, eval_batch_size=250,
                progressive_resize=dict(min_res=16, start=0.3, end=0.75)),
    # GPU: airbench94 (Jordan 2024) — base width (2.0M params), batch 1024, 9.9 epochs, bf16, TTA level 2,
    # its triangular schedule (0.2 → 1 at 23% → 0.07), alternating flip and lookahead EMA. Its decoupled
    # lr 11.5 and wd 0.0153 per 1024 examples are lr 11.5 / (1 + 1/(1 - 0.85)) = 1.5 on the batch-mean
    # loss and wd 0.0153 / (1 + 1/(1 - 0.85)) / 1.5 = 0.00133 in torch's convention.
    "gpu": dict(model="airbench", model_kwargs=dict(width="base"), epochs=9.9, batch_size=1024, lr=1.5,
                momentum=0.85, weight_decay=0.00133, bias_lr_scale=64, label_smoothing=0.2, whiten_bias_epochs=3,
                tta=2, bf16=True, warmup=0.23, warmup_start=0.2, lr_end=0.07,
                augmentation=dict(flip="alternate"), lookahead=dict(every=5, start_epochs=3)),
    # GPU: airbench94_muon (Jordan 2024; 94.0% in ~2.6 s on an A100) — Muon (lr 0.24, momentum 0.6) on
    # the filters, batch 2000, 8 epochs, linear decay to 0, alternating flip, no lookahead, head output
    # / 256. Its summed-loss SGD lrs (head 0.67, biases 0.053, decoupled wd 2e-6 per example) are, on the
    # batch-mean loss, head lr 0.67·2000 = 1340, bias_lr_scale 0.053/0.67 and wd 0.004/1340. Not yet
    # run on a GPU here (no device was lent); on the CPU it only checks that the recipe runs.
    "gpu-muon": dict(model="airbench", model_kwargs=dict(width="base", scaling=1 / 256), epochs=8, batch_size=2000,
                     lr=1340.0, momentum=0.85, weight_decay=0.004 / 1340, bias_lr_scale=0.053 / 0.67,
                     label_smoothing=0.2, schedule="linear", muon=dict(lr=0.24, momentum=0.6), whiten_bias_epochs=3,
                     tta=2, bf16=True, augmentation=dict(flip="alternate")),
}
RESNET_RECIPE = dict(model="resnet18_cifar", batch_size=128, lr=0.1, momentum=0.9, weight_decay=5e-4,
                     label_smoothing=0.1, whiten_init=False, warmup=0.15, warmup_start=0.1)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="probe,resnet18", help="comma list of: probe, resnet18")
    parser.add_argument("--preset", choices=["auto", *PROBE_PRESETS], default="auto",
                        help="probe recipe (auto: gpu on CUDA, else cpu)")
    parser.add_argument("--probe-width", default=None, help="airbench width preset or w1,w2,w3")
    parser.add_argument("--probe-epochs", type=float, default=None)
    parser.add_argument("--probe-lr", type=float, default=None)
    parser.add_argument("--probe-batch-size", type=int, default=None)
    parser.add_argument("--probe-extra", default="{}", help="JSON dict of further probe TrainConfig fields")
    parser.add_argument("--resnet-budget-s", type=float, default=300.0, help="ResNet-18 training time budget")
    parser.add_argument("--resnet-epochs", type=float, default=None, help="train ResNet-18 for epochs instead")
    parser.add_argument("--target", type=float, default=0.85, help="accuracy for time-to-accuracy")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--curve", action="store_true", help="evaluate after every epoch (time-to-accuracy curve)")
    parser.add_argument("--train-size", type=int, default=None, help="subsample the training set (default all)")
    parser.add_argument("--test-size", type=int, default=None, help="subsample the test set (default all)")
    parser.add_argument("--resnet-test-size", type=int, default=2000,
                        help="ResNet-18 is evaluated (no TTA) on this class-balanced part of the test set: "
                             "a CPU needs minutes per 10k images (0 = all)")
    parser.add_argument("--data-root", default=None, help="data root (default $PRUNEBENCH_DATA or ../shared/data)")
    parser.add_argument("--out", default=str(REPO_ROOT / "results" / "benchmarks" / "probe.jsonl"))
    parser.add_argument("--tag", default="", help="free-text label stored with the rows")
    parser.add_argument("--save-probe", default=None, help="save the trained probe's state_dict to this .pt file")
    return parser.parse_args(argv)


def probe_config(args, device) -> TrainConfig:
    preset = args.preset if args.preset != "auto" else ("gpu" if device.type == "cuda" else "cpu")
    recipe = dict(PROBE_PRESETS[preset], **json.loads(args.probe_extra))
    if args.probe_width:
        width = args.probe_width
        recipe["model_kwargs"] = dict(recipe["model_kwargs"], width=[int(w) for w in width.split(",")] if "," in width else width)
    for key, value in (("epochs", args.probe_epochs), ("lr", args.probe_lr), ("batch_size", args.probe_batch_size)):
        if value is not None:
            recipe[key] = value
    return TrainConfig.from_dict(dict(recipe, threads=args.threads, eval_every=1 if args.curve else 0))


class Clock(Callback):
    """Process CPU time spent inside training epochs (excludes evaluation)."""

    def __init__(self):
        self.cpu_time_s = 0.0
        self._start = None

    def on_train_start(self, model, train_set):
        self._start = time.process_time()

    def on_epoch_end(self, epoch, stats, model):
        now = time.process_time()
        self.cpu_time_s += now - self._start
        self._start = now


def measure_throughput(cfg: TrainConfig, train_set, device, seed: int, steps: int = 4) -> float:
    """Training images/s over a few steps (after one warm-up step)."""
    subset = train_set.subset(range(cfg.batch_size * (steps + 1)))
    model = build_model(cfg, train_set.num_classes, seed)
    warm = train(model, subset.subset(range(cfg.batch_size)), cfg, seed=seed, device=device, steps=1)
    result = train(warm.model, subset, cfg, seed=seed, device=device, steps=steps)
    return steps * cfg.batch_size / result.wall_time_s


def run_model(label: str, cfg: TrainConfig, train_set, test_set, device, args, steps=None) -> dict:
    model = build_model(cfg, train_set.num_classes, args.seed)
    clock = Clock()
    start = time.perf_counter()
    result = train(model, train_set, cfg, seed=args.seed, device=device, test_set=test_set, steps=steps,
                   callbacks=[clock])
    end_to_end_s = time.perf_counter() - start  # + whitening init, the final (TTA) evaluation, set-up
    images = result.train_steps * cfg.batch_size
    if args.save_probe and label == "airbench-probe":
        torch.save(result.model.state_dict(), args.save_probe)
    curve = [(h["wall_time_s"], h.get("test_accuracy")) for h in result.history if "test_accuracy" in h]
    curve.append((result.wall_time_s, result.test_accuracy))
    reached = [t for t, acc in curve if acc is not None and acc >= args.target]
    return dict(
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"), tag=args.tag, model=label,
        recipe=cfg.to_dict(), params=sum(p.numel() for p in result.model.parameters()),
        train_size=len(train_set), test_size=len(test_set), epochs=round(result.epochs, 3),
        train_steps=result.train_steps, wall_time_s=round(result.wall_time_s, 2), end_to_end_s=round(end_to_end_s, 2),
        cpu_time_s=round(clock.cpu_time_s, 2), images_per_s=round(images / result.wall_time_s, 1),
        test_accuracy=result.test_accuracy, target=args.target,
        time_to_target_s=round(min(reached), 2) if reached else None,
        curve=[(round(t, 1), acc) for t, acc in curve],
        device=str(device), device_name=device_name(device), threads=cfg.threads, torch=torch.__version__,
        host=platform.node(), cpu=platform.processor() or platform.machine(), cpu_count=os.cpu_count(),
        load_avg_1m=os.getloadavg()[0], code_version=code_version(),
    )


def device_name(device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{os.cpu_count()}"


def print_table(rows: list[dict]) -> None:
    header = f"{'model':<16}{'params':>10}{'epochs':>8}{'img/s':>9}{'train s':>9}{'total s':>9}{'cpu s':>9}{'test acc':>10}{'t->target':>11}"
    print(header)
    print("-" * len(header))
    for row in rows:
        ttt = f"{row['time_to_target_s']:.1f}" if row["time_to_target_s"] is not None else "-"
        print(f"{row['model']:<16}{row['params']:>10,}{row['epochs']:>8.2f}{row['images_per_s']:>9.0f}"
              f"{row['wall_time_s']:>9.1f}{row['end_to_end_s']:>9.1f}{row['cpu_time_s']:>9.1f}{row['test_accuracy']:>10.4f}{ttt:>11}")


def main(argv=None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    data_cfg = dict(dataset="cifar10", path="cifar10-jpeg", root=args.data_root, train_size=args.train_size,
                    test_size=args.test_size)
    train_set, test_set = load_dataset(data_cfg, "train"), load_dataset(data_cfg, "test")
    rows = []
    for name in args.models.split(","):
        if name == "probe":
            rows.append(run_model("airbench-probe", probe_config(args, device), train_set, test_set, device, args))
        elif name == "resnet18":
            cfg = TrainConfig.from_dict(dict(RESNET_RECIPE, threads=args.threads, epochs=args.resnet_epochs or 1,
                                             eval_every=1 if args.curve else 0, tta=False))
            resnet_test = test_set
            if args.resnet_test_size and args.resnet_test_size < len(test_set):
                resnet_test = load_dataset(dict(data_cfg, test_size=args.resnet_test_size), "test")
            steps = None
            if args.resnet_epochs is None:
                throughput = measure_throughput(cfg, train_set, device, args.seed)
                steps = max(1, math.floor(args.resnet_budget_s * throughput / cfg.batch_size))
                print(f"resnet18_cifar: {throughput:.1f} img/s -> {steps} steps for {args.resnet_budget_s:.0f} s", flush=True)
            rows.append(run_model("resnet18_cifar", cfg, train_set, resnet_test, device, args, steps=steps))
        else:
            raise SystemExit(f"unknown model '{name}' (use probe, resnet18)")
        print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("recipe", "curve")}), flush=True)
    print_table(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    print(f"appended {len(rows)} rows to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
