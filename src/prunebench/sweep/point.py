"""Run one sweep point and return its row.

1. Initial dataset: a class-balanced seeded subsample of N examples of the configured train set,
   ``balanced_subsample(labels, N, derive_seed(seed, "sweep-subset", replicate))``. The seed does
   not depend on N, so for one replicate the initial datasets are nested (N=1000 ⊂ N=2000 ⊂ ...).
2. Scores (``sweep.score_source``, see docs/protocol.md): ``initial_subset`` (default) reads the
   metric's table computed with probes trained on those N examples only
   (``results/<name>/scores/subset/N<N>/seed<s>/<metric>.parquet``); ``full`` reads the table of
   the whole configured train set restricted to those N examples. The row records the source and
   the table's probe cost (``score_probe_steps``, ``score_wall_time_s``). Metric ``random`` draws a fresh uniform score per (N, replicate) instead, so the
   random baseline varies over seeds like the trained models do. Baseline (f = 1): no selection.
3. Selection: ``prunebench.selection.select`` over the N-subset only: n_kept = kept_count(N, f)
   = floor(f·N + 1/2).
4. Training: a fresh model with the sweep recipe (``probe`` section overridden by ``sweep.train``);
   the training seed depends only on (N, replicate), shared by every metric and f (common random
   numbers make the comparisons between metrics less noisy).
   ``fixed_epochs``: the recipe's epochs on the n_kept examples (fewer steps when f < 1).
   ``fixed_compute``: exactly the optimizer steps of the f = 1 run at the same N and seed.
   Every protocol (:mod:`prunebench.sweep.protocols`) says what it trains on (the kept examples or
   all N), its recipe changes and its step budget; the baselines rs2, compressed_schedule and
   infobatch train on all N and read no score table.
   Model, training and evaluation are the config's task's (:func:`prunebench.tasks.task_of_config`:
   ``Task.load_split``, ``build_model``, ``train``, ``evaluate``).
5. The task's evaluation on the configured test set (``eval_metric``, ``eval_value``, ``eval_error``:
   what the scaling fits read); ``test_accuracy``/``test_error`` = 1 − accuracy are kept beside it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prunebench.config import results_dir
from prunebench.errors import PrunebenchError
from prunebench.provenance import atomic_write, code_version, config_hash, environment, json_checksum, score_hash
from prunebench.seeding import derive_seed
from prunebench.sweep.plan import (RANDOM_METRIC, SweepPoint, check_point_rule, format_fraction,
                                   score_table_path, sweep_settings)
from prunebench.sweep.protocols import get_protocol

log = logging.getLogger(__name__)
DIRECTION = "higher=harder"


def train_recipe(config: dict) -> dict:
    """The sweep's training recipe: the ``probe`` section with ``sweep.train`` keys overriding it."""
    return {**(config.get("probe") or {}), **(sweep_settings(config)["train"] or {})}


def point_config_hash(config: dict, threads: int | None = None) -> str:
    """Hash of every setting a point's result depends on (seed, data, training recipe, selection,
    test subset, and the torch thread count ``threads`` or ``sweep.threads``: floats depend on it);
    the workflow reruns the points when it changes (``prunebench.provenance.stage_hash``)."""
    settings = sweep_settings(config)
    return config_hash({"seed": config["seed"], "data": config.get("data"), "recipe": train_recipe(config),
                        "selection": selection_choice(config), "test_size": settings["test_size"],
                        "score_source": settings["score_source"], "threads": int(threads or settings["threads"])})


def selection_choice(config: dict) -> dict:
    """Selection settings of the sweep: ``sweep.class_balance``/``sweep.selection_rule`` override
    the ``selection`` section (class balance 0.5, the paper's ratio, and rule topk by default)."""
    from prunebench.selection.io import selection_settings

    chosen = selection_settings(config)
    sweep = sweep_settings(config)
    if sweep["class_balance"] is not None:
        chosen["class_balance"] = sweep["class_balance"]
    if sweep["selection_rule"] is not None:
        chosen["rule"] = sweep["selection_rule"]
    return chosen


def point_selection(config: dict, point: SweepPoint) -> dict:
    """The selection settings ``point`` selects with: :func:`selection_choice`, changed by its
    protocol (``unbalanced``: class balance 0)."""
    return get_protocol(point.protocol).selection(selection_choice(config), point)


def point_seeds(config: dict, point: SweepPoint) -> dict:
    """Every seed of a point, derived from the config's master seed."""
    base = config["seed"]
    return {
        "subset_seed": derive_seed(base, "sweep-subset", point.seed),
        "selection_seed": derive_seed(base, "sweep-select", point.initial_size, point.metric, point.keep,
                                      format_fraction(point.fraction_kept), point.seed),
        "train_seed": derive_seed(base, "sweep-train", point.initial_size, point.seed),
        "random_score_seed": derive_seed(base, "sweep-random-scores", point.initial_size, point.seed),
        "test_subset_seed": test_subset_seed(config),
    }


def test_subset_seed(config: dict) -> int:
    """Seed of the evaluation subset: one per config, shared by every point."""
    return derive_seed(config["seed"], "sweep-test-subset")


def evaluation_set(config: dict, seeds: dict):
    """The task's test split (``Task.load_split``), or its class-balanced subsample of
    ``sweep.test_size`` (same for every point)."""
    from prunebench.data import balanced_subsample
    from prunebench.tasks import task_of_config

    task = task_of_config(config)
    test_set = task.load_split(config["data"], "test")
    size = sweep_settings(config)["test_size"]
    if size is None or size >= len(test_set):
        return test_set
    return test_set.subset(balanced_subsample(task_strata(task, test_set), int(size), seeds["test_subset_seed"]))


def task_strata(task, examples) -> np.ndarray:
    """What the sweep's subsamples and selection balance: ``Task.strata`` (image: the class labels;
    text: the domains); one stratum for a task without strata."""
    strata = task.strata(examples)
    return np.zeros(len(examples), dtype=np.int64) if strata is None else np.asarray(strata)


def initial_positions(train_labels: np.ndarray, point: SweepPoint, seeds: dict) -> np.ndarray:
    """Positions (in the configured train set) of the N-example initial dataset, balanced over
    ``train_labels`` (the task's strata, :func:`task_strata`)."""
    from prunebench.data import balanced_subsample

    if point.initial_size > len(train_labels):
        raise PrunebenchError(f"sweep size N={point.initial_size} exceeds the train set ({len(train_labels)} examples); "
                              "lower sweep.sizes or raise data.train_size")
    return balanced_subsample(train_labels, point.initial_size, seeds["subset_seed"])


def subset_scores(point: SweepPoint, train_ids: np.ndarray, positions: np.ndarray, seeds: dict,
                  score_path: str | os.PathLike | None, expected_hash: str | None = None,
                  score_source: str = "full") -> tuple[np.ndarray, dict]:
    """Scores of the N-subset (aligned to ``positions``) and the score table's provenance; a table
    whose ``config_hash`` is not ``expected_hash`` (the config in force) is refused. A ``full``
    table holds the whole train set (its rows at ``positions`` are read); an ``initial_subset``
    table must hold exactly the N examples."""
    if point.metric == RANDOM_METRIC:
        rng = np.random.default_rng(seeds["random_score_seed"])
        return rng.random(len(positions)), {"variant": "uniform, fresh per (N, seed)"}
    from prunebench.metrics.storage import read_scores

    table = read_scores(score_path, expected_ids=train_ids[positions], expected_hash=expected_hash,
                        allow_subset=score_source == "full")
    return table.scores, table.provenance


def kept_positions(point: SweepPoint, scores, labels, seeds: dict, config: dict, ids=None) -> np.ndarray:
    """Positions within the N-subset kept by the selection rule (all of them at f = 1)."""
    if point.is_baseline:
        return np.arange(len(labels))
    from prunebench.selection import select

    chosen = point_selection(config, point)
    keep = point.keep
    if point.keep == RANDOM_METRIC:  # random scores: any end (any window) is a uniform draw
        from prunebench.selection import get_rule

        keeps = get_rule(chosen["rule"]).keeps
        keep = "hard" if "hard" in keeps else keeps[-1]
    return select(scores, labels, point.fraction_kept, keep=keep, seed=seeds["selection_seed"],
                  class_balance=chosen["class_balance"], rule=chosen["rule"],
                  ccs_hard_cutoff=chosen["ccs"]["hard_cutoff"], ccs_strata=chosen["ccs"]["strata"], ids=ids)


def resolve_device(config: dict, device: str | None = None) -> str:
    """``--device`` > config ``device``; ``auto`` is cuda when available."""
    from prunebench.training import resolve_device as resolve

    return str(resolve(device or config.get("device", "auto")))


def fixed_compute_steps(point: SweepPoint, baseline_row: dict | None) -> int | None:
    """Optimizer steps for a static-protocol point: None (recipe epochs) or the f = 1 run's steps."""
    return get_protocol(point.protocol).steps({}, point, baseline_row) if point.protocol == "fixed_compute" else None


def protocol_budget(config: dict, point: SweepPoint, baseline_row: dict | None) -> tuple[dict, int | None, dict]:
    """(the config the point trains with, its explicit optimizer steps or None, the recipe changes).

    The protocol's recipe changes go into a copy's ``sweep.train``; a protocol without changes
    trains with ``config`` itself (the fixed_epochs/fixed_compute points are unchanged)."""
    protocol, recipe = get_protocol(point.protocol), train_recipe(config)
    steps = protocol.steps(recipe, point, baseline_row)
    changed = protocol.recipe(recipe, point)
    if changed == recipe:
        return config, steps, {}
    overrides = {key: value for key, value in changed.items() if recipe.get(key) != value}
    sweep = {**(config.get("sweep") or {}), "train": {**(sweep_settings(config)["train"] or {}), **overrides}}
    return {**config, "sweep": sweep}, steps, overrides


@dataclass
class PrunedSet:
    """The examples a point trains on: the N-subset, the kept part of it, and the score provenance."""

    initial: object  # ImageDataset of the N initial examples
    kept: np.ndarray  # positions within ``initial`` that are kept
    score_provenance: dict

    @property
    def pruned(self):
        return self.initial.subset(self.kept)


def prune_for_point(config: dict, point: SweepPoint, train_set, seeds: dict, score_path=None) -> PrunedSet:
    """Subsample N examples, read their scores (restricted to the subset), select round(f·N) of them."""
    from prunebench.data import check_class_counts
    from prunebench.tasks import task_of_config

    task = task_of_config(config)
    strata = task_strata(task, train_set)
    if hasattr(train_set, "classes"):  # a class-balanced selection needs every class's balanced share
        check_class_counts(strata, train_set.classes, point.initial_size,
                           float(point_selection(config, point)["class_balance"]), what="sweep size N =")
    positions = initial_positions(strata, point, seeds)
    check_point_rule(config, point)
    if get_protocol(point.protocol).trains_on == "initial":  # a baseline protocol: all N, no scores
        initial = train_set.subset(positions)
        return PrunedSet(initial, np.arange(len(positions)), {})
    score_path = score_path or score_table_path(results_dir(config), point, sweep_settings(config)["score_source"])
    scores, provenance = (None, {}) if point.is_baseline else \
        subset_scores(point, train_set.ids, positions, seeds, score_path, score_hash(config, point.metric),
                      sweep_settings(config)["score_source"])
    initial = train_set.subset(positions)
    return PrunedSet(initial, kept_positions(point, scores, strata[positions], seeds, config, initial.ids), provenance)


@dataclass
class PointInputs:
    """What every point of a config shares: the configured train set, the evaluation set and the
    torch device (``prunebench.sweep.shard`` loads them once for a whole shard of points)."""

    train_set: object  # ImageDataset
    test_set: object  # ImageDataset
    device: str


def point_inputs(config: dict, device: str | None = None) -> PointInputs:
    """Load the task's train split, the evaluation set (:func:`evaluation_set`) and resolve the device."""
    from prunebench.tasks import task_of_config

    test_set = evaluation_set(config, {"test_subset_seed": test_subset_seed(config)})
    train_set = task_of_config(config).load_split(config["data"], "train")
    return PointInputs(train_set, test_set, resolve_device(config, device))


def run_point(config: dict, point: SweepPoint, *, score_path=None, baseline_row: dict | None = None,
              device: str | None = None, threads: int | None = None, inputs: PointInputs | None = None) -> dict:
    """Train and evaluate one sweep point; return its row (one line of the tidy sweep table).
    ``inputs``: the shared data and device already loaded (a shard); None loads them here."""
    import torch

    started = time.perf_counter()
    threads = int(threads or sweep_settings(config)["threads"])
    torch.set_num_threads(threads)
    seeds = point_seeds(config, point)
    train_config, steps, overrides = protocol_budget(config, point, baseline_row)
    inputs = inputs or point_inputs(config, device)
    selection = prune_for_point(config, point, inputs.train_set, seeds, score_path)
    pruned, test_set, device = selection.pruned, inputs.test_set, inputs.device
    result, recipe = _train(train_config, pruned, test_set, seed=seeds["train_seed"], device=device, steps=steps,
                            threads=threads)
    row = _row(config, point, seeds, pruned, test_set, result, recipe, selection.score_provenance, device, threads,
               time.perf_counter() - started)
    row["kept_ids_hash"] = config_hash(sorted(int(i) for i in pruned.ids))
    row.update(extra_evaluation_fields(config, result, test_set, recipe, device))
    row.update(protocol_fields(point, len(pruned), overrides))
    row.update(cost_fields(row))
    return row


def protocol_fields(point: SweepPoint, n_train: int, overrides: dict) -> dict:
    """What the protocol did: examples per epoch, and its recipe changes (JSON, ``{}`` for none)."""
    return {"examples_per_epoch": int(get_protocol(point.protocol).examples_per_epoch(point, n_train)),
            "protocol_recipe": json.dumps(overrides, sort_keys=True)}


def cost_fields(row: dict) -> dict:
    """Training plus scoring cost of the point (docs/protocol.md, "Cost columns"):
    ``steps_with_scoring`` = ``total_steps`` = train_steps + score_probe_steps, and
    ``total_wall_time_s`` = train_wall_time_s + score_wall_time_s."""
    steps = int(row["train_steps"]) + int(row["score_probe_steps"])
    return {"steps_with_scoring": steps, "total_steps": steps,
            "total_wall_time_s": float(row["train_wall_time_s"]) + float(row["score_wall_time_s"])}


def _train(config: dict, pruned, test_set, *, seed: int, device: str, steps: int | None, threads: int):
    """A fresh model of the config's task (``Task.build_model``) trained on the pruned set by the task
    (``Task.train``, evaluated on ``test_set``) with the sweep recipe and ``threads``; returns (the
    task's train result, the complete recipe ``Task.recipe``)."""
    from prunebench.tasks import task_of_config

    task, recipe = task_of_config(config), {**train_recipe(config), "threads": threads}
    model = task.build_model(recipe, pruned, seed)
    result = task.train(model, pruned, recipe, seed=seed, device=device, eval_set=test_set, steps=steps)
    return result, task.recipe(recipe)


def score_cost(config: dict, point: SweepPoint, provenance: dict) -> dict:
    """Which scores the point selected with and what their probes cost.

    ``score_source``: ``initial_subset`` or ``full`` (``sweep.score_source``), ``none`` for the
    baseline and the random metric (no score table). ``score_probe_steps`` = ``cost_probe_epochs``
    x ceil(n_scored / ``probe.batch_size``): the probe training behind the table in optimizer
    steps of the probe recipe (``cost_probe_epochs`` counts passes over the n_scored examples the
    table scores); ``score_wall_time_s`` is the table's stand-alone seconds (probe training plus the
    metric's own work). A ``full`` table is one cost shared by every point of the sweep; an
    ``initial_subset`` table by the points of one (N, seed). Both 0 without a table.
    """
    if point.is_baseline or point.metric == RANDOM_METRIC or get_protocol(point.protocol).trains_on != "kept":
        return {"score_source": "none", "score_probe_epochs": 0.0, "score_probe_steps": 0, "score_wall_time_s": 0.0}
    from prunebench.tasks import task_of_config

    batch_size = int(task_of_config(config).recipe(config.get("probe") or {}).get("batch_size") or 1)
    epochs = float(provenance.get("cost_probe_epochs") or 0.0)
    n_scored = int(provenance.get("n_examples") or 0)
    return {"score_source": sweep_settings(config)["score_source"], "score_probe_epochs": epochs,
            "score_probe_steps": int(round(epochs * math.ceil(n_scored / batch_size))),
            "score_wall_time_s": float(provenance.get("wall_time_s") or 0.0)}


def evaluation_fields(config: dict, result, test_set) -> dict:
    """The task's own evaluation of the point's test predictions (``eval_metric``, ``eval_value``,
    ``eval_error`` = what scaling fits, ``eval_higher_is_better``); see :class:`prunebench.tasks.Evaluation`."""
    from prunebench.tasks import task_of_config

    return task_of_config(config).evaluate(result.test_logits, test_set).row()


def extra_evaluation_fields(config: dict, result, test_set, recipe: dict, device: str) -> dict:
    """The task's evaluations beyond ``eval_*`` (``Task.extra_evaluation``, where the task has one; the
    text-lm task: held-out NLL on clean prose and the movie-review sentiment probe), as extra columns."""
    from prunebench.tasks import task_of_config

    task = task_of_config(config)
    if not hasattr(task, "extra_evaluation"):
        return {}
    return task.extra_evaluation(result.model, test_set, result.test_logits, recipe, config["data"], device=device,
                                 seed=int(config["seed"]), result=result)


def accuracy_fields(result, evaluation: dict) -> dict:
    """``test_accuracy`` (the trainer's; else the task's value when its metric is accuracy; else NaN)
    and ``test_error`` = 1 - test_accuracy: the classification columns, kept beside ``eval_*``."""
    accuracy = getattr(result, "test_accuracy", None)
    if accuracy is None:
        accuracy = evaluation["eval_value"] if evaluation["eval_metric"] == "accuracy" else float("nan")
    return {"test_accuracy": float(accuracy), "test_error": 1.0 - float(accuracy)}


def class_accuracy_fields(test_logits, test_set) -> dict:
    """Per-class accuracy summary of a classification point: ``worst_class_accuracy`` (the lowest
    top-1 accuracy over the test set's classes), ``worst_class`` (its name; the first by class
    index on ties), ``best_class_accuracy`` and ``per_class_accuracy`` (JSON list in class order;
    null for a class absent from the test set). Empty for a task without class labels or logits."""
    labels = getattr(test_set, "labels", None)
    logits = None if test_logits is None else np.asarray(test_logits)
    classes = list(getattr(test_set, "classes", []) or [])
    if labels is None or not classes or logits is None or logits.ndim != 2 or len(logits) != len(labels):
        return {}
    labels = np.asarray(labels, dtype=np.int64)
    correct = logits.argmax(axis=1) == labels
    counts = np.bincount(labels, minlength=len(classes))
    hits = np.bincount(labels, weights=correct.astype(np.float64), minlength=len(classes))
    present = counts > 0
    accuracy = np.where(present, hits / np.maximum(counts, 1), np.nan)
    worst = int(np.nanargmin(accuracy))
    return {"worst_class_accuracy": float(accuracy[worst]), "worst_class": str(classes[worst]),
            "best_class_accuracy": float(np.nanmax(accuracy)),
            "per_class_accuracy": json.dumps([None if not p else round(float(a), 6) for a, p in zip(accuracy, present)])}


def _row(config, point, seeds, pruned, test_set, result, recipe, score_provenance, device, threads, wall_s) -> dict:
    """The tidy-table row of a finished point."""
    n_kept = len(pruned)
    batch_size = int(recipe.get("batch_size", 0)) or None
    evaluation = evaluation_fields(config, result, test_set)
    selection = point_selection(config, point)
    return {
        "scale": config["name"],
        "protocol": point.protocol,
        "initial_size": point.initial_size,
        "fraction_kept": point.fraction_kept,
        "prune_ratio": round(1.0 - point.fraction_kept, 10),
        "n_kept": n_kept,
        "metric": point.metric,
        "keep": point.keep,
        "direction": DIRECTION,
        "seed": point.seed,
        **seeds,
        **accuracy_fields(result, evaluation),
        **evaluation,
        **class_accuracy_fields(result.test_logits, test_set),
        "n_test": len(test_set),
        "train_steps": int(result.train_steps),
        "epochs": float(getattr(result, "epochs", float("nan"))),
        "recipe_epochs": float(recipe.get("epochs", float("nan"))),
        "batch_size": batch_size or -1,
        "model": str(recipe.get("model", "")),
        "model_kwargs": json.dumps(recipe.get("model_kwargs") or {}, sort_keys=True),
        "class_balance": float(selection["class_balance"]),  # the point's setting, in every row (unused at f = 1)
        "selection_rule": selection["rule"],
        **score_cost(config, point, score_provenance),
        "score_variant": str(score_provenance.get("variant", "")),
        "score_config_hash": str(score_provenance.get("config_hash", "")),
        "train_wall_time_s": float(getattr(result, "wall_time_s", float("nan"))),
        "wall_time_s": float(wall_s),
        "device": device,
        "threads": threads,
        "host": platform.node(),
        **environment(threads),
        "config_hash": point_config_hash(config, threads),
        "code_version": code_version(),
    }


ROW_KEYS = ("scale", "protocol", "initial_size", "fraction_kept", "metric", "keep", "seed", "test_accuracy",
            "test_error", "train_steps", "config_hash", "checksum")


def write_row(row: dict, path: str | os.PathLike) -> Path:
    """Write a row as JSON with its ``checksum`` (SHA-256 of the rest), atomically: a killed job or a
    full disk leaves no half-written file and no temporary file."""
    row = json.loads(json.dumps(row, default=_json_default))
    row["checksum"] = json_checksum(row)
    text = json.dumps(row, indent=1, sort_keys=False) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def read_row(path: str | os.PathLike) -> dict:
    """A run file's row, refused (one line naming the file and the fix) when it is missing, not JSON,
    lacks a coordinate/result/``checksum``, or its content does not match its checksum."""
    path = Path(path)
    fix = "delete it and rerun the point (`snakemake ...` reruns only missing points)"
    if not path.is_file():
        raise PrunebenchError(f"sweep run file {path} not found; run that point first (`python -m prunebench sweep point`)")
    try:
        row = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise PrunebenchError(f"sweep run file {path} is not valid JSON ({getattr(err, 'msg', err)}); {fix}") from None
    missing = [key for key in ROW_KEYS if key not in row] if isinstance(row, dict) else list(ROW_KEYS)
    if missing:
        raise PrunebenchError(f"sweep run file {path} lacks {', '.join(missing)}; {fix}")
    if row["checksum"] != json_checksum(row):
        raise PrunebenchError(f"sweep run file {path} does not match its checksum (corrupted or edited); {fix}")
    return row


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)
