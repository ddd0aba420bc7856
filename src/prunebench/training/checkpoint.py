"""Checkpoints: what a resumable run must match (its fingerprint), atomic save, verified load."""

from __future__ import annotations

from pathlib import Path

import torch

from prunebench.errors import PrunebenchError
from prunebench.provenance import atomic_write, config_hash
from prunebench.training.config import TrainConfig


def run_fingerprint(cfg: TrainConfig, train_set, seed: int, total_steps: int) -> str:
    """What a checkpoint must match to be resumed: config, seed, data ids, step budget (``train_set``:
    any example set with ``checksum`` and ``ids``; the hash is the same as before the task seam)."""
    return config_hash([cfg.to_dict(), seed, train_set.checksum, train_set.ids.tolist(), total_steps])


def save_checkpoint(path: Path, model, optimizer, scheduler, state: dict) -> None:
    """Atomically write model, optimizer, scheduler, RNG state and progress to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(state, model=model.state_dict(), optimizer=optimizer.state_dict(),
                   scheduler=scheduler.state_dict(), torch_rng=torch.get_rng_state())
    if torch.cuda.is_available():
        payload["cuda_rng"] = torch.cuda.get_rng_state_all()
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path, model, optimizer, scheduler, fingerprint: str, device) -> dict:
    """Restore a checkpoint written by :func:`save_checkpoint`; returns its progress state."""
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # a truncated file raises various errors
        raise PrunebenchError(f"checkpoint {path} is unreadable ({err.__class__.__name__}); delete it to start over") from err
    if payload.get("fingerprint") != fingerprint:
        raise PrunebenchError(f"checkpoint {path} belongs to a different run (config, seed, data or steps differ); "
                              "delete it or choose another checkpoint path")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["torch_rng"].cpu())
    if "cuda_rng" in payload and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in payload["cuda_rng"]])
    state = {k: payload[k] for k in ("fingerprint", "epoch", "step", "wall_time_s", "history")}
    state["clock"] = float(payload.get("clock", state["step"]))  # dynamic pruning's schedule clock
    scores = payload.get("scores")  # dynamic pruning's per-example losses live on the CPU
    return dict(state, lookahead=payload.get("lookahead", {}), scores=None if scores is None else scores.cpu())
