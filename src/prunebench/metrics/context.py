"""What a metric gets: the train set, the probe config, seeds, device and memoised probe runs.

Metrics never train probes themselves; they ask the context for

- :meth:`MetricContext.ensemble_runs` — the **shared probe ensemble**: member ``i`` is one full
  probe run (``metrics.ensemble.epochs`` epochs of the ``probe`` recipe, seed
  ``derive_seed(seed, "probe", i)``) on the whole train set. EL2N, GraNd, forgetting, AUM, margin,
  entropy, ensemble active learning and supervised prototypes all read the same members, so e.g.
  ``el2n`` with 4 members and ``forgetting`` with 2 members train 4 runs in total.
- :meth:`MetricContext.subset_runs` — runs on random subsets (memorization/influence, DDD).
- :meth:`MetricContext.logits` / :meth:`MetricContext.embeddings` — eval-mode outputs of a run's
  checkpoint on a split, cached next to the run.

Runs are cached on disk under ``results/<config>/probes/`` (or ``$PRUNEBENCH_PROBE_DIR``) and re-used by later metrics and
processes; every metric still records the full cost of the runs it reads (see :mod:`.storage`).

Score probes train with the ``probe`` recipe except for the label smoothing, which is
``metrics.label_smoothing`` (default 0: Paul et al. 2021 and Toneva et al. 2019 trained with plain
cross-entropy, and EL2N, margin, entropy and the probability estimators read the softmax). The
sweep's own training recipe is not affected.

A context built for one metric (:meth:`MetricContext.for_metric`) serves only the splits that
metric declares (``register_metric(..., reads=...)``); reading another raises a PrunebenchError.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prunebench.config import results_dir
from prunebench.errors import PrunebenchError
from prunebench.metrics.probes import ProbeRun, ProbeSpec, array_digest, get_or_train
from prunebench.provenance import atomic_write
from prunebench.seeding import derive_seed

log = logging.getLogger(__name__)

# Shared-ensemble settings (``metrics.ensemble``) when the config gives none.
ENSEMBLE_DEFAULTS = {"epochs": None, "batch_size": 512}
# Label smoothing of every score probe (``metrics.label_smoothing``): plain cross-entropy, as the metrics' papers.
SCORE_PROBE_LABEL_SMOOTHING = 0.0
# Metric parameters naming the probe epoch a metric reads (collected to know which checkpoints to keep).
EPOCH_KEYS = ("epoch",)


def score_label_smoothing(config: dict) -> float:
    """Label smoothing of the score probes: ``metrics.label_smoothing``, default 0 (plain cross-entropy)."""
    value = (config.get("metrics") or {}).get("label_smoothing")
    return float(SCORE_PROBE_LABEL_SMOOTHING if value is None else value)


def resolve_device(name: str | None) -> str:
    """``auto`` → ``cuda`` if available, else ``cpu``."""
    if name in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


@dataclass
class MetricContext:
    """Everything a metric needs; build it with :meth:`from_config`."""

    config: dict
    train_set: object
    device: str = "cpu"
    probe_root: Path | None = None
    _test_set: object = None
    _memo: dict = field(default_factory=dict)
    _arrays: dict = field(default_factory=dict)
    probe_seconds: float = 0.0  # time spent obtaining probe runs (training or waiting for them) so far
    readable_splits: tuple | None = None  # splits the current metric declared (None: all, for direct use)

    @classmethod
    def from_config(cls, config: dict, *, device: str | None = None, train_set=None, test_set=None,
                    probe_root: Path | None = None) -> "MetricContext":
        if train_set is None:  # the config's task's train split (the image task: data.load_dataset)
            from prunebench.tasks import task_of_config

            train_set = task_of_config(config).load_split(config["data"], "train")
        probe_root = probe_root or os.environ.get("PRUNEBENCH_PROBE_DIR") or results_dir(config) / "probes"
        return cls(config=config, train_set=train_set, device=resolve_device(device or config.get("device")),
                   probe_root=Path(probe_root), _test_set=test_set)

    # -- configuration ---------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def task(self):
        """The config's task (:func:`prunebench.tasks.task_of_config`): what the metric's outputs come from."""
        from prunebench.tasks import task_of_config

        return task_of_config(self.config)

    @property
    def label_smoothing(self) -> float:
        return score_label_smoothing(self.config)

    @property
    def probe_cfg(self) -> dict:
        """The ``probe`` recipe the score probes train with: the config's, with ``metrics.label_smoothing``."""
        return {**(self.config.get("probe") or {}), "label_smoothing": self.label_smoothing}

    @property
    def metrics_cfg(self) -> dict:
        return dict(self.config.get("metrics") or {})

    @property
    def ensemble_cfg(self) -> dict:
        return {**ENSEMBLE_DEFAULTS, **(self.metrics_cfg.get("ensemble") or {})}

    @property
    def probe_model(self) -> tuple[str, dict]:
        cfg = self.probe_cfg
        return cfg.get("model", "airbench"), dict(cfg.get("model_kwargs") or {})

    @property
    def ensemble_epochs(self) -> int:
        epochs = self.ensemble_cfg.get("epochs") or self.probe_cfg.get("epochs")
        if not epochs:
            raise PrunebenchError("no probe epochs configured; set probe.epochs or metrics.ensemble.epochs")
        return int(epochs)

    @property
    def batch_size(self) -> int:
        return int(self.ensemble_cfg.get("batch_size") or 512)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.train_set.labels, dtype=np.int64)

    @property
    def num_classes(self) -> int:
        return int(self.train_set.num_classes)

    def for_metric(self, reads) -> "MetricContext":
        """This context restricted to the splits ``reads`` (shares the probe memo and array cache)."""
        return dataclasses.replace(self, readable_splits=tuple(reads))

    def check_readable(self, split: str) -> None:
        if self.readable_splits is not None and split not in self.readable_splits:
            raise PrunebenchError(f"this metric reads the '{split}' split but declares only {list(self.readable_splits)}; "
                                  f"declare it with register_metric(..., reads=...) (the workflow refuses '{split}' "
                                  f"if the sweep evaluates on it)")

    @property
    def test_set(self):
        self.check_readable("test")
        if self._test_set is None:
            from prunebench.tasks import task_of_config

            self._test_set = task_of_config(self.config).load_split(self.config["data"], "test")
        return self._test_set

    def derive(self, *keys) -> int:
        return derive_seed(self.seed, *keys)

    def rng(self, *keys) -> np.random.Generator:
        return np.random.default_rng(self.derive(*keys))

    def resolve_epoch(self, epoch: int | None, total: int | None = None) -> int:
        """A metric's ``epoch`` parameter: ``None`` (or larger than the run) means the final epoch."""
        total = self.ensemble_epochs if total is None else total
        if epoch is None:
            return total
        if not 0 <= int(epoch) <= total:
            raise PrunebenchError(f"metric epoch {epoch} is outside the probe run's 0..{total} epochs; "
                                  f"lower it or raise metrics.ensemble.epochs")
        return int(epoch)

    def _ensemble_save_epochs(self) -> set[int]:
        """Checkpoint epochs any configured metric reads from the shared ensemble."""
        epochs = {self.ensemble_epochs}
        blocks = [block for name, block in self.metrics_cfg.items() if name not in ("subsample", "ddd", "variants")]
        blocks += [v.get("params") for v in (self.metrics_cfg.get("variants") or {}).values()]
        for block in blocks:
            if isinstance(block, dict) and block.get("epoch") is not None:
                epochs.add(int(block["epoch"]))
        return epochs

    # -- probe runs ------------------------------------------------------------------------
    def ensemble_runs(self, size: int, *, save_epochs=()) -> list[ProbeRun]:
        """The first ``size`` members of the shared probe ensemble (trained on demand)."""
        if size < 1:
            raise PrunebenchError(f"ensemble size must be >= 1, got {size}")
        model, kwargs = self.probe_model
        wanted = self._ensemble_save_epochs() | set(save_epochs)
        runs = []
        for index in range(size):
            spec = ProbeSpec(seed=self.derive("probe", index), epochs=self.ensemble_epochs, model=model,
                             model_kwargs=kwargs)
            runs.append(self._run(spec, wanted))
        return runs

    def subset_runs(self, role: str, masks: np.ndarray, *, epochs: int, model: str | None = None,
                    model_kwargs: dict | None = None, seed_offset: int = 0, only=None) -> list[ProbeRun]:
        """One run per row of ``masks`` (bool m×N over ``train_set``), each on its own subset;
        ``only``: just the rows with these indices (a chunk job's share; seeds stay those of the rows)."""
        default_model, default_kwargs = self.probe_model
        runs = []
        masks = np.asarray(masks, dtype=bool)
        for index in (range(len(masks)) if only is None else only):
            mask = masks[index]
            spec = ProbeSpec(seed=self.derive(role, seed_offset + index), epochs=int(epochs),
                             model=model or default_model,
                             model_kwargs=default_kwargs if model_kwargs is None else dict(model_kwargs),
                             positions=np.flatnonzero(mask))
            runs.append(self._run(spec, {int(epochs)}))
        return runs

    def _run(self, spec: ProbeSpec, save_epochs: set[int]) -> ProbeRun:
        start = time.perf_counter()
        run = get_or_train(spec, probe_cfg=self.probe_cfg, dataset=self.train_set, root=self.probe_root,
                           device=self.device, save_epochs=save_epochs, memo=self._memo, task=self.task)
        self.probe_seconds += time.perf_counter() - start
        return run

    # -- eval-mode outputs -----------------------------------------------------------------
    def dataset(self, split: str):
        self.check_readable(split)
        return self.train_set if split == "train" else self.test_set

    def load_model(self, run: ProbeRun, epoch: int):
        """The run's model with the weights saved after ``epoch`` epochs, in eval mode."""
        import torch

        task = self.task
        if hasattr(task, "probe_model"):  # a task whose bare model needs the whole recipe (text-lm: its tokenizer)
            model = task.probe_model(run.spec.probe_config(self.probe_cfg), self.train_set)
        else:
            model = task.checkpoint_model(run.spec.model, run.spec.model_kwargs, self.train_set)
        state = torch.load(run.checkpoint(epoch), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return model.to(self.device).eval()

    def logits(self, run: ProbeRun, split: str, epoch: int) -> np.ndarray:
        """Eval-mode logits (no augmentation) of ``run`` after ``epoch`` epochs on ``split`` (N×C)."""
        return self._cached(run, "logits", split, epoch)

    def losses(self, run: ProbeRun, split: str, epoch: int) -> np.ndarray:
        """Eval-mode per-example loss of ``run`` after ``epoch`` epochs on ``split`` (N), the task's own loss."""
        return self._cached(run, "loss", split, epoch)

    def embeddings(self, run: ProbeRun, split: str, epoch: int) -> np.ndarray:
        """Penultimate-layer embeddings of ``run`` after ``epoch`` epochs on ``split`` (N×D)."""
        return self._cached(run, "embed", split, epoch)

    def outcome(self, run: ProbeRun, split: str, epoch: int, estimator: str) -> np.ndarray:
        """Per-example outcome of ``run`` after ``epoch`` epochs on ``split`` (float64, N): ``correctness``
        (0/1) or ``probability`` (softmax p_y) of :func:`~prunebench.metrics.memorization.outcome_of`.

        Cached next to the run as an N-vector, so a subset model costs N numbers on disk, not its
        N×C logits (1,000 ImageNet-1k models: 10 GB instead of 5 TB). Read from the run's logits
        when those are cached already (the same float32 logits give the same outcome)."""
        from prunebench.metrics.memorization import outcome_of

        data = self.dataset(split)
        name = f"outcome-{estimator}-{split}-{array_digest(data.ids)[:8]}-e{epoch}.npy"
        key = (str(run.directory), name)
        if key not in self._arrays:
            path = run.directory / name
            if path.exists():
                self._arrays[key] = np.load(path)
            else:
                logits_path = run.directory / f"logits-{split}-{array_digest(data.ids)[:8]}-e{epoch}.npy"
                logits = np.load(logits_path) if logits_path.exists() else self._outputs(run, "logits", data, epoch)
                array = outcome_of(logits, np.asarray(data.labels, dtype=np.int64), estimator)
                atomic_write(path, lambda tmp: _save_array(tmp, array))
                self._arrays[key] = array
        return self._arrays[key]

    def _outputs(self, run: ProbeRun, what: str, data, epoch: int) -> np.ndarray:
        """Eval-mode outputs of the run's checkpoint on ``data`` (float32; not cached)."""
        model = self.load_model(run, epoch)
        return np.asarray(self.task.probe_outputs(model, data, what, device=self.device, batch_size=self.batch_size),
                          dtype=np.float32)

    def _cached(self, run: ProbeRun, what: str, split: str, epoch: int) -> np.ndarray:
        data = self.dataset(split)
        name = f"{what}-{split}-{array_digest(data.ids)[:8]}-e{epoch}.npy"
        key = (str(run.directory), name)
        if key in self._arrays:
            return self._arrays[key]
        path = run.directory / name
        if path.exists():
            array = np.load(path)
        else:
            array = self._outputs(run, what, data, epoch)
            atomic_write(path, lambda tmp: _save_array(tmp, array))
        self._arrays[key] = array
        return array


def _save_array(path, array: np.ndarray) -> None:
    """``np.save`` through a handle (a path not ending in .npy would get the suffix appended)."""
    with open(path, "wb") as handle:
        np.save(handle, array)


def run_costs(runs: list[ProbeRun], n_train: int, epoch: int | None = None) -> dict:
    """Cost fields of :class:`~prunebench.metrics.registry.MetricResult` for scores read from ``runs``.

    ``cost_probe_epochs`` counts the training needed to reach ``epoch`` (default: each run's last
    epoch) in full-train-set epoch equivalents (a run on 70% of the data costs 0.7 per epoch);
    ``probe_wall_time_s`` the seconds that training took when it was done (also when re-used now).
    """
    cost = sum(min(epoch if epoch is not None else r.epochs, r.epochs) * len(r.positions) / n_train for r in runs)
    wall = sum(r.wall_time_to(epoch) for r in runs)
    return {"cost_probe_epochs": float(cost), "probe_wall_time_s": float(wall),
            "seeds": [int(r.spec.seed) for r in runs], "reused_runs": int(sum(r.reused for r in runs))}
