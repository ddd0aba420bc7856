"""Memoised probe runs: train a probe once, record its training dynamics, reuse it across metrics.

A probe run is fixed by its :class:`ProbeSpec` (probe config, epochs, model, seed, and the training
examples). Its key is a hash of that spec plus the dataset checksum and ids, and everything it
produces lives under ``results/<config>/probes/<key>/`` (gitignored):

- ``run.json``: the spec, ``epochs``, ``saved_epochs``, cumulative wall time per epoch;
- ``dynamics.npz``: per-epoch training-pass statistics aligned to the run's training examples,
  ``correct`` (E×n bool), ``margin`` (E×n float32, assigned logit − largest other logit) and
  ``loss`` (E×n float32), epochs 1..E, recorded by a callback of :func:`prunebench.training.train`;
- ``model-e<e>.pt``: model weights after ``e`` epochs for the epochs the configured metrics read;
  ``e = 0`` is the true start of training, saved by the trainer's ``on_train_start`` callback, i.e.
  *after* data-dependent initialisation such as airbench's patch-whitening filters (GraNd at
  initialisation must see the frozen filters the run trained with, not the pre-whitening ones);
- ``<what>-<split>-<datahash>-e<e>.npy``: cached eval-mode logits / embeddings of a split.

Concurrent processes (parallel Snakemake jobs) share runs through a file lock per key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prunebench.metrics.common import assigned_margin
from prunebench.provenance import config_hash
from prunebench.seeding import seed_everything

log = logging.getLogger(__name__)


def array_digest(array) -> str:
    """Short sha256 of an integer array (ids or positions)."""
    return hashlib.sha256(np.ascontiguousarray(np.asarray(array, dtype=np.int64)).tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class ProbeSpec:
    """What fixes a probe run. ``positions`` index ``ctx.train_set`` (``None``: all examples)."""

    seed: int
    epochs: int
    model: str
    model_kwargs: dict = field(default_factory=dict)
    positions: np.ndarray | None = None
    probe_overrides: dict = field(default_factory=dict)

    def probe_config(self, base: dict) -> dict:
        """The probe section used for this run: base config, overrides, epochs and model."""
        cfg = {**base, **self.probe_overrides, "epochs": int(self.epochs)}
        if "model" in base or self.model:
            cfg["model"] = self.model
        if self.model_kwargs or "model_kwargs" in base:
            cfg["model_kwargs"] = dict(self.model_kwargs)
        return cfg


class ProbeRun:
    """A trained (or loaded) probe run; arrays are loaded lazily and cached in memory."""

    def __init__(self, directory: Path, spec: ProbeSpec, info: dict, positions: np.ndarray):
        self.directory = directory
        self.spec = spec
        self.info = info
        self.positions = positions
        self._dynamics = None
        self.reused = False

    @property
    def epochs(self) -> int:
        return int(self.info["epochs"])

    def wall_time_to(self, epoch: int | None = None) -> float:
        """Seconds of training it took to reach ``epoch`` (default: the whole run)."""
        times = self.info.get("cumulative_time_s") or [self.info.get("wall_time_s", 0.0)]
        epoch = self.epochs if epoch is None else epoch
        return float(times[min(epoch, len(times)) - 1]) if epoch > 0 else 0.0

    @property
    def dynamics(self) -> dict:
        """``correct``, ``margin``, ``loss``: E×n arrays over this run's training examples."""
        if self._dynamics is None:
            with np.load(self.directory / "dynamics.npz") as archive:
                self._dynamics = {k: archive[k] for k in archive.files}
        return self._dynamics

    def checkpoint(self, epoch: int) -> Path:
        path = self.directory / f"model-e{epoch}.pt"
        if not path.exists():
            raise FileNotFoundError(f"probe run {self.directory.name} has no checkpoint at epoch {epoch}")
        return path


class _Recorder:
    """Training callback: collects per-epoch statistics and saves checkpoints at chosen epochs.

    Every task's trainer reports per-example ``losses``; a classifier's also reports ``logits`` and
    ``correct``, from which the assigned-class margin is read (tasks without them record the loss only).
    """

    def __init__(self, directory: Path, save_epochs: set[int], labels: np.ndarray | None):
        self.directory = directory
        self.save_epochs = save_epochs
        self.labels = labels
        self.correct, self.margin, self.loss, self.times = [], [], [], []
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, stats, model) -> None:
        import torch

        logits = getattr(stats, "logits", None)
        if logits is not None and self.labels is not None:
            self.correct.append(np.asarray(stats.correct, dtype=bool))
            self.margin.append(assigned_margin(np.asarray(logits, dtype=np.float32), self.labels).astype(np.float32))
        self.loss.append(np.asarray(stats.losses, dtype=np.float32))
        self.times.append(time.perf_counter() - self.start)
        done = len(self.loss)  # epochs completed, whatever the trainer's numbering
        if done in self.save_epochs:
            torch.save(_cpu_state(model), self.directory / f"model-e{done}.pt")

    def on_train_start(self, model, train_set) -> None:
        """Save epoch 0 here: after the task's initialisation (e.g. ``init_whitening``), before the first step."""
        import torch

        if 0 in self.save_epochs:
            torch.save(_cpu_state(model), self.directory / "model-e0.pt")

    def on_train_end(self, result) -> None:
        pass

    def dynamics(self) -> dict[str, np.ndarray]:
        """The recorded E×n arrays (``correct`` and ``margin`` only where the task reported logits)."""
        recorded = {"correct": self.correct, "margin": self.margin, "loss": self.loss}
        return {name: np.stack(values) for name, values in recorded.items() if values}


def _cpu_state(model) -> dict:
    return {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_key(spec: ProbeSpec, probe_cfg: dict, dataset) -> str:
    """Hash of everything that determines the run's weights."""
    positions = np.arange(len(dataset)) if spec.positions is None else spec.positions
    return config_hash({
        "probe": spec.probe_config(probe_cfg), "seed": spec.seed, "dataset": dataset.checksum,
        "ids": array_digest(dataset.ids), "positions": array_digest(positions),
    })


def get_or_train(spec: ProbeSpec, *, probe_cfg: dict, dataset, root: Path, device: str,
                 save_epochs: set[int], memo: dict | None = None, task=None) -> ProbeRun:
    """The run for ``spec``, trained now unless a complete one with ``save_epochs`` is on disk.

    ``task`` (a :class:`~prunebench.tasks.Task`; default the image-classification task) builds and
    trains the model: probes never touch a modality's data or model themselves."""
    key = run_key(spec, probe_cfg, dataset)
    save_epochs = {e for e in save_epochs if 0 <= e <= spec.epochs} | {spec.epochs}
    if memo is not None and key in memo and save_epochs <= set(memo[key].info["saved_epochs"]):
        return memo[key]
    directory = root / key
    positions = np.arange(len(dataset)) if spec.positions is None else np.asarray(spec.positions)
    with _locked(root / f"{key}.lock"):
        info = _read_info(directory)
        reused = info is not None and save_epochs <= set(info["saved_epochs"])
        if not reused:
            wanted = save_epochs | set(info["saved_epochs"] if info else ())
            info = _train(spec, probe_cfg, dataset.subset(positions), directory, device, wanted, task)
    run = ProbeRun(directory, spec, info, positions)
    run.reused = reused
    if memo is not None:
        memo[key] = run
    return run


def _read_info(directory: Path) -> dict | None:
    try:
        info = json.loads((directory / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return info if info.get("complete") else None


def _train(spec: ProbeSpec, probe_cfg: dict, train_set, directory: Path, device: str, save_epochs: set[int],
           task=None) -> dict:
    """Train one probe run through ``task`` with the recorder callback; write ``run.json`` last (completion marker)."""
    import torch

    from prunebench.tasks import get_task

    task = task or get_task()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "run.json").unlink(missing_ok=True)
    cfg_dict = spec.probe_config(probe_cfg)
    seed_everything(spec.seed)
    model = task.build_model(cfg_dict, train_set, spec.seed)  # weights from derive_seed(seed, "init")
    strata = task.strata(train_set)
    recorder = _Recorder(directory, save_epochs, None if strata is None else np.asarray(strata))
    log.info("training probe %s: %s, %d epochs, %d examples, seed %d", directory.name, spec.model, spec.epochs,
             len(train_set), spec.seed)
    result = task.train(model, train_set, cfg_dict, seed=spec.seed, device=device, callbacks=(recorder,))
    np.savez(directory / "dynamics.npz", **recorder.dynamics())
    trained = len(recorder.loss)
    if trained not in save_epochs or not (directory / f"model-e{trained}.pt").exists():
        torch.save(_cpu_state(result.model if hasattr(result, "model") else model), directory / f"model-e{trained}.pt")
    info = {
        "complete": True, "spec": {"seed": spec.seed, "epochs": spec.epochs, "model": spec.model,
                                    "model_kwargs": spec.model_kwargs, "n_train": len(train_set)},
        "probe_config": cfg_dict, "epochs": trained,
        "saved_epochs": sorted(e for e in save_epochs | {trained} if (directory / f"model-e{e}.pt").exists()),
        "cumulative_time_s": recorder.times, "wall_time_s": float(getattr(result, "wall_time_s", recorder.times[-1])),
        "device": device, "pid": os.getpid(),
    }
    (directory / "run.json").write_text(json.dumps(info, indent=1, default=str))
    return info
