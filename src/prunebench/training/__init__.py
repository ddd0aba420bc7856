"""The probe training engine: one airbench-style loop, per-example stats, checkpoint/resume.

Typical use::

    cfg = TrainConfig.from_dict(config["probe"])
    model = build_model(cfg, train_set.num_classes, seed)
    result = train(model, train_set, cfg, seed=seed, test_set=test_set, callbacks=[RecordStats()])
"""

from prunebench.training.callbacks import Callback, EpochStats, RecordStats
from prunebench.training.config import Augmentation, ProgressiveResize, TrainConfig
from prunebench.training.loop import (
    TrainResult, accuracy, build_model, embed_dataset, lr_factor, predict, resolve_device, train,
)

__all__ = [
    "Augmentation", "Callback", "EpochStats", "ProgressiveResize", "RecordStats", "TrainConfig", "TrainResult", "accuracy", "build_model",
    "embed_dataset", "lr_factor", "predict", "resolve_device", "train",
]
