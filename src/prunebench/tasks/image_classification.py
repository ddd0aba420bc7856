"""The image-classification task: CIFAR-10 / ImageNet ImageFolder splits (``prunebench.data``),
airbench / ResNet / timm classifiers (``prunebench.models``), flip / translate / crop augmentation,
progressive resize, TTA, whitening init, channels_last and label smoothing (``probe.*`` options),
cross-entropy per example, top-1 accuracy (error = 1 - accuracy, what the scaling laws fit).

It wraps the existing code paths unchanged, so every shipped scale trains bit-identically.
"""

from __future__ import annotations

import numpy as np

from prunebench.tasks.base import OUTPUTS, Evaluation, Task
from prunebench.tasks.registry import register_task


def _train_config(train_cfg):
    from prunebench.training import TrainConfig

    if train_cfg is None:
        return TrainConfig()
    return train_cfg if isinstance(train_cfg, TrainConfig) else TrainConfig.from_dict(train_cfg)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, float64 (stable: max subtracted)."""
    shifted = np.asarray(logits, dtype=np.float64) - np.max(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def logit_outputs(logits: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example outputs read from logits: loss = -log p_y (cross-entropy), correct = argmax == y,
    probabilities = softmax, margin = p_y - max_{k != y} p_k (the top-2 margin)."""
    probs = softmax(logits)
    rows = np.arange(len(labels))
    true = probs[rows, labels]
    others = probs.copy()
    others[rows, labels] = -np.inf
    return {"logits": np.asarray(logits, dtype=np.float32), "probabilities": probs,
            "loss": -np.log(np.clip(true, 1e-300, None)), "correct": np.argmax(logits, axis=1) == labels,
            "margin": true - others.max(axis=1)}


@register_task("image-classification")
class ImageClassification(Task):
    """Image classification: cross-entropy training, top-1 accuracy (Sorscher et al. 2022's setting)."""

    outputs = frozenset(OUTPUTS)
    eval_metric = "accuracy"
    higher_is_better = True
    summary = "CIFAR-10 / ImageNet ImageFolder classification, top-1 accuracy"

    def load_split(self, data_cfg: dict, split: str):
        from prunebench.data import load_dataset

        return load_dataset(data_cfg, split)

    def strata(self, examples) -> np.ndarray:
        return np.asarray(examples.labels)

    def build_model(self, train_cfg, examples, seed: int):
        from prunebench.training import build_model

        return build_model(_train_config(train_cfg), examples.num_classes, seed)

    def train(self, model, examples, train_cfg, *, seed: int, device="cpu", eval_set=None, steps=None,
              callbacks=(), checkpoint_path=None):
        from prunebench.training import train

        return train(model, examples, _train_config(train_cfg), seed=seed, device=device, test_set=eval_set,
                     steps=steps, callbacks=callbacks, checkpoint_path=checkpoint_path)

    def recipe(self, train_cfg) -> dict:
        """``TrainConfig.from_dict(train_cfg).to_dict()``: every field of the recipe, defaults filled in."""
        return _train_config(train_cfg).to_dict()

    def predict(self, model, examples, *, device="cpu", train_cfg=None) -> np.ndarray:
        """Logits with the recipe's TTA, bf16 and memory layout (what ``train`` evaluates with)."""
        from prunebench.training import predict

        cfg = _train_config(train_cfg)
        return predict(model, examples, device=device, batch_size=cfg.eval_batch_size, tta=cfg.tta, bf16=cfg.bf16,
                       channels_last=cfg.channels_last)

    def example_outputs(self, model, examples, names, *, device="cpu", train_cfg=None) -> dict[str, np.ndarray]:
        names = tuple(names)
        outputs = {}
        if set(names) - {"embedding"}:
            outputs.update(logit_outputs(self.predict(model, examples, device=device, train_cfg=train_cfg),
                                         np.asarray(examples.labels)))
        if "embedding" in names:
            from prunebench.training import embed_dataset

            cfg = _train_config(train_cfg)
            outputs["embedding"] = embed_dataset(model, examples, device=device, batch_size=cfg.eval_batch_size,
                                                 bf16=cfg.bf16, channels_last=cfg.channels_last)
        return {name: outputs[name] for name in names}

    def evaluate(self, predictions: np.ndarray, examples) -> Evaluation:
        """Top-1 accuracy of ``predictions`` (logits); error = 1 - accuracy."""
        from prunebench.training import accuracy

        value = accuracy(predictions, examples.labels)
        return Evaluation("accuracy", value, 1.0 - value, True)

    def checkpoint_model(self, model_name: str, model_kwargs: dict, examples):
        from prunebench.models import create_model

        return create_model(model_name, examples.num_classes, **model_kwargs)

    def probe_outputs(self, model, examples, what: str, *, device="cpu", batch_size: int = 512) -> np.ndarray:
        """Plain eval-mode logits / penultimate embeddings (no TTA: what the image metrics' papers read)."""
        from prunebench.training import embed_dataset, predict

        if what == "loss":
            logits = predict(model, examples, device=device, batch_size=batch_size)
            return logit_outputs(logits, np.asarray(examples.labels))["loss"]
        if what not in ("logits", "embed"):
            raise ValueError(f"probe output '{what}' is not one of logits, embed, loss")
        fn = predict if what == "logits" else embed_dataset
        return fn(model, examples, device=device, batch_size=batch_size)

    def synthetic_split(self, size: int, seed: int, split: str = "train"):
        """``size`` random 16×16 CIFAR-normalised images of 4 classes (ids 0..size-1)."""
        from prunebench.data.dataset import ImageDataset

        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(size, 16, 16, 3), dtype=np.uint8)
        labels = np.arange(size, dtype=np.int64) % 4
        return ImageDataset("cifar10", split, images, labels, np.arange(size, dtype=np.int64),
                            [f"class{k}" for k in range(4)], f"synthetic-{seed}-{size}")

    def smoke_recipe(self) -> dict:
        return {"model": "airbench", "model_kwargs": {"width": "tiny"}, "epochs": 1, "batch_size": 32,
                "threads": 1, "progress": False, "tta": 0}
