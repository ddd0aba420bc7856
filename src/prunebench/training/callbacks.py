"""Per-example training statistics and the callbacks that receive them every epoch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EpochStats:
    """What the training pass of one epoch saw, per example, aligned to ``train_set`` order.

    ``logits`` (float32 N×C) come from the augmented training forward pass (train mode, before
    that batch's update); ``losses`` are the plain cross-entropy of those logits (no label
    smoothing); ``correct`` is argmax == label. ``seen`` is False for examples the epoch did not
    reach (only possible in the last epoch under ``steps=``); their logits/losses are NaN.
    """

    epoch: int
    ids: np.ndarray
    labels: np.ndarray
    logits: np.ndarray
    losses: np.ndarray
    correct: np.ndarray
    seen: np.ndarray

    @classmethod
    def empty(cls, epoch: int, ids: np.ndarray, labels: np.ndarray, num_classes: int) -> "EpochStats":
        n = len(ids)
        return cls(epoch=epoch, ids=ids, labels=labels,
                   logits=np.full((n, num_classes), np.nan, dtype=np.float32),
                   losses=np.full(n, np.nan, dtype=np.float32),
                   correct=np.zeros(n, dtype=bool), seen=np.zeros(n, dtype=bool))

    def record(self, positions: np.ndarray, logits: np.ndarray, losses: np.ndarray) -> None:
        self.logits[positions] = logits
        self.losses[positions] = losses
        self.correct[positions] = logits.argmax(1) == self.labels[positions]
        self.seen[positions] = True

    @property
    def accuracy(self) -> float:
        return float(self.correct[self.seen].mean()) if self.seen.any() else float("nan")


class Callback:
    """Base class: override what you need. ``train`` calls these in order."""

    def on_train_start(self, model, train_set) -> None:
        pass

    def on_epoch_end(self, epoch: int, stats: EpochStats, model) -> None:
        pass

    def on_train_end(self, result) -> None:
        pass


class RecordStats(Callback):
    """Keeps every epoch's :class:`EpochStats` (``fields`` selects which arrays, to save memory).

    ``stacked("correct")`` gives an epochs×N array: what forgetting or AUM metrics consume.
    """

    def __init__(self, fields=("logits", "losses", "correct", "seen")):
        self.fields = tuple(fields)
        self.epochs: list[int] = []
        self.ids: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.history: dict[str, list[np.ndarray]] = {name: [] for name in self.fields}

    def on_epoch_end(self, epoch, stats, model):
        self.epochs.append(epoch)
        self.ids, self.labels = stats.ids, stats.labels
        for name in self.fields:
            self.history[name].append(getattr(stats, name).copy())

    def stacked(self, name: str) -> np.ndarray:
        """epochs × N (× C for logits) array of one recorded field."""
        return np.stack(self.history[name])
