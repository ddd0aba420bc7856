"""``python -m prunebench train --config CFG --out FILE.json``: train the configured probe through its task
(:mod:`prunebench.tasks`), report the task's evaluation (and, for classification, test accuracy)."""

from __future__ import annotations

import argparse
import json
import logging
import platform
from pathlib import Path

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train the config's probe on its data and write a JSON summary",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="ci", help="scale name or YAML path (default ci)")
    parser.add_argument("--out", help="summary JSON (default results/<name>/probe/train.json)")
    parser.add_argument("--seed", type=int, help="training seed (default: the config's seed)")
    parser.add_argument("--epochs", type=float, help="override probe.epochs")
    parser.add_argument("--steps", type=int, help="exactly this many optimizer steps (overrides epochs)")
    parser.add_argument("--device", help="cpu, cuda or auto (default: the config's device)")
    parser.add_argument("--checkpoint", help="checkpoint file: saved every epoch, resumed if present")
    parser.add_argument("--history", action="store_true", help="include the per-epoch history in the JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from prunebench.config import load_config, results_dir
    from prunebench.provenance import code_version, config_hash
    from prunebench.tasks import task_of_config
    from prunebench.training import TrainConfig, resolve_device

    config = load_config(args.config)
    cfg = TrainConfig.from_dict(config["probe"])
    if args.epochs:
        cfg = cfg.replace(epochs=args.epochs)
    seed = config["seed"] if args.seed is None else args.seed
    device = resolve_device(args.device or config.get("device", "auto"))
    task = task_of_config(config)
    train_set, test_set = task.load_split(config["data"], "train"), task.load_split(config["data"], "test")
    model = task.build_model(cfg, train_set, seed)
    result = task.train(model, train_set, cfg, seed=seed, device=device, eval_set=test_set, steps=args.steps,
                        checkpoint_path=args.checkpoint)
    evaluation = task.evaluate(result.test_logits, test_set)
    summary = dict(
        name=config["name"], task=task.name, **evaluation.row(), model=cfg.model, model_kwargs=cfg.model_kwargs, seed=seed,
        train_size=len(train_set), test_size=len(test_set), test_accuracy=result.test_accuracy,
        train_steps=result.train_steps, epochs=result.epochs, wall_time_s=result.wall_time_s,
        train_images_per_s=result.train_steps * cfg.batch_size / max(result.wall_time_s, 1e-9),
        device=str(device), threads=cfg.threads or torch.get_num_threads(), torch=torch.__version__,
        host=platform.node(), probe=cfg.to_dict(), config_hash=config_hash(config), code_version=code_version(),
    )
    if args.history:
        summary["history"] = result.history
    out = Path(args.out) if args.out else results_dir(config) / "probe" / "train.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    log.info("%s on %d images: test accuracy %.4f after %d steps (%.1f s training) -> %s", cfg.model, len(train_set),
             result.test_accuracy, result.train_steps, result.wall_time_s, out)
    return 0
