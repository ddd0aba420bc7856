"""The device a run trains on: resolution (``auto``), threads and deterministic kernels, bf16 autocast."""

from __future__ import annotations

import contextlib

import torch

from prunebench.errors import PrunebenchError
from prunebench.training.config import TrainConfig


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` → CUDA when available, else the CPU."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PrunebenchError("device 'cuda' requested but no GPU is visible; set device: cpu (or auto)")
    return device


@contextlib.contextmanager
def training_context(cfg: TrainConfig, device: torch.device):
    """Fix threads (and, on CUDA, deterministic kernels) for the run, restoring the previous settings.

    On the CPU a fixed thread count already makes every kernel this loop uses deterministic (the
    tests check bit-identical reruns); ``torch.use_deterministic_algorithms`` is left off there
    because enabling it imports torch._inductor, about 4 s per process, paid by every sweep job.
    """
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.use_deterministic_algorithms(cfg.deterministic, warn_only=True)
        torch.backends.cudnn.benchmark = not cfg.deterministic
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if device.type == "cuda":
            torch.use_deterministic_algorithms(deterministic)


def autocast(cfg: TrainConfig, device: torch.device):
    enabled = cfg.bf16 and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
