"""The Task seam: what a task owns, so that the training loop, the metrics and the sweep never
touch a modality's data or model.

Modelled on lm-evaluation-harness's ``Task`` (``lm_eval/api/task.py``: a task owns its splits,
turns examples into model inputs and scores outputs with its own metric; ``higher_is_better`` is
data) and airbench94's loader/infer split (the image task owns normalisation, augmentation, TTA).

A task provides:

- ``load_split(data_cfg, split)``: its **example set** (anything with ``ids`` (canonical int ids of
  the full split), ``checksum``, ``__len__`` and ``subset(positions)``); ``strata(examples)`` gives
  the groups balanced selection balances (class labels, query ids, domains) or ``None``.
- ``build_model(train_cfg, examples, seed)``, ``train(model, examples, train_cfg, ...)``: the model
  with its tricks (whitening init, input-bias freeze, ...) and training with its batches and
  augmentation (the optimizer, schedule, checkpoints and dynamic pruning are the loop's).
- ``outputs``: the per-example outputs it can record, a subset of :data:`OUTPUTS`; metrics declare
  what they need (``register_metric(..., needs=...)``) and :func:`check_metric_serves` refuses a
  metric a task cannot serve.
- ``example_outputs(model, examples, ...)``: those outputs, aligned to ``examples``;
  ``example_losses`` the per-example loss; ``embed`` the embedding.
- ``evaluate(predictions, examples)``: :class:`Evaluation` (metric name, value, direction and the
  error the scaling fits use, e.g. 1 - accuracy).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from prunebench.errors import PrunebenchError

OUTPUTS = ("loss", "correct", "probabilities", "margin", "embedding", "logits")


@dataclass(frozen=True)
class Evaluation:
    """A task's score of a trained model on its evaluation split.

    ``error`` is what the scaling laws fit (it falls with more data): ``1 - value`` for a
    higher-is-better metric in [0, 1] such as accuracy, ``value`` itself for a loss.
    """

    metric: str
    value: float
    error: float
    higher_is_better: bool

    def row(self) -> dict:
        """The sweep-row columns (``eval_metric``, ``eval_value``, ``eval_error``, ``eval_higher_is_better``)."""
        return {"eval_metric": self.metric, "eval_value": float(self.value), "eval_error": float(self.error),
                "eval_higher_is_better": bool(self.higher_is_better)}


class Task(ABC):
    """Base class of a task; subclasses are registered with ``@register_task(name)``."""

    name: str = ""
    outputs: frozenset = frozenset()
    eval_metric: str = ""
    higher_is_better: bool = True
    summary: str = ""

    @abstractmethod
    def load_split(self, data_cfg: dict, split: str):
        """The split ``split`` as this task's example set (canonical ids, checksum, optional strata)."""

    def strata(self, examples) -> np.ndarray | None:
        return None

    @abstractmethod
    def build_model(self, train_cfg, examples, seed: int):
        """A freshly initialised model for ``examples`` under the recipe ``train_cfg`` and ``seed``."""

    @abstractmethod
    def train(self, model, examples, train_cfg, *, seed: int, device="cpu", eval_set=None, steps=None,
              callbacks=(), checkpoint_path=None):
        """Train ``model`` on ``examples`` (``steps`` optimizer steps when given); returns the task's result."""

    @abstractmethod
    def predict(self, model, examples, *, device="cpu", train_cfg=None) -> np.ndarray:
        """The raw predictions ``evaluate`` scores (e.g. logits), aligned to ``examples``."""

    @abstractmethod
    def example_outputs(self, model, examples, names, *, device="cpu", train_cfg=None) -> dict[str, np.ndarray]:
        """The per-example outputs ``names`` (loss, correct, probabilities, embedding, ...), aligned to ``examples``."""

    def example_losses(self, model, examples, *, device="cpu", train_cfg=None) -> np.ndarray:
        return self.example_outputs(model, examples, ("loss",), device=device, train_cfg=train_cfg)["loss"]

    def embed(self, model, examples, *, device="cpu", train_cfg=None) -> np.ndarray:
        return self.example_outputs(model, examples, ("embedding",), device=device, train_cfg=train_cfg)["embedding"]

    def evaluate(self, predictions: np.ndarray, examples) -> Evaluation:
        raise self._missing("evaluate", "its evaluation metric")

    def recipe(self, train_cfg: dict | None) -> dict:
        """The complete recipe ``train`` runs with ``train_cfg`` (defaults filled in), as a dict: what
        a sweep row records (``batch_size``, ``epochs``, ``model``, ``model_kwargs``). Default: a copy."""
        return dict(train_cfg or {})

    # -- what the metric stage's probes need (prunebench.metrics.probes / .context) ----------
    def checkpoint_model(self, model_name: str, model_kwargs: dict, examples):
        """A bare model of the probe's architecture, for loading a saved checkpoint into."""
        raise self._missing("checkpoint_model", "loading probe checkpoints")

    def probe_outputs(self, model, examples, what: str, *, device="cpu", batch_size: int = 512) -> np.ndarray:
        """Eval-mode outputs of a probe checkpoint, no augmentation: ``what`` = ``"logits"`` (N×C),
        ``"embed"`` (N×D) or ``"loss"`` (N)."""
        if what == "loss":
            return self.example_losses(model, examples, device=device)
        names = {"logits": "logits", "embed": "embedding"}
        if what not in names:
            raise ValueError(f"probe output '{what}' is not one of logits, embed, loss")
        return self.example_outputs(model, examples, (names[what],), device=device)[names[what]]

    def synthetic_split(self, size: int, seed: int, split: str = "train"):
        """A tiny random example set of this task (for the contract tests; no data on disk)."""
        raise self._missing("synthetic_split", "a synthetic split for the contract tests")

    def smoke_recipe(self) -> dict:
        """The cheapest training recipe of this task (1 epoch, tiny model), for the contract tests."""
        raise self._missing("smoke_recipe", "a smoke recipe for the contract tests")

    def _missing(self, hook: str, what: str) -> PrunebenchError:
        """The one-line error of an optional hook this task does not implement."""
        return PrunebenchError(f"task '{self.name}' does not implement {hook} ({what}); add it to the task's class")

    def describe(self) -> dict:
        """Name, outputs, evaluation metric and direction (``tasks list``)."""
        return {"task": self.name, "outputs": [o for o in OUTPUTS if o in self.outputs], "eval_metric": self.eval_metric,
                "higher_is_better": self.higher_is_better, "summary": self.summary}


def unknown_outputs(names) -> list[str]:
    """Names of ``names`` outside :data:`OUTPUTS`."""
    return sorted(set(names) - set(OUTPUTS))
