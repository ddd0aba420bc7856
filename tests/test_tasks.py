"""The task seam: registry, the contract every registered task keeps, metric ``needs``, and a
throw-away toy task (linear model on Gaussian blobs, registered only here) run end to end through
a registered metric, an output-derived score, selection, the sweep row's evaluation and a scaling fit."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch

from prunebench.errors import PrunebenchError
from prunebench.metrics.registry import check_metric_serves, get_metric, list_metrics
from prunebench.tasks import OUTPUTS, Evaluation, Task, get_task, list_tasks, register_task, unregister_task


# ----------------------------------------------------------------------------------------------
# The toy task
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Blobs:
    """Example set of the toy task: 2-d points of 3 Gaussian classes."""

    features: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    checksum: str
    num_classes: int = 3

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, positions):
        positions = np.asarray(positions, dtype=np.int64)
        return replace(self, features=self.features[positions], labels=self.labels[positions], ids=self.ids[positions])


@dataclass
class ToyResult:
    model: torch.nn.Module
    test_logits: np.ndarray | None
    train_steps: int


class ToyTask(Task):
    """Linear softmax regression on blobs; records loss, correct and probabilities only."""

    outputs = frozenset({"loss", "correct", "probabilities"})
    eval_metric = "accuracy"
    higher_is_better = True
    summary = "toy blobs"

    def synthetic_split(self, size, seed, split="train"):
        rng = np.random.default_rng(seed)
        labels = np.arange(size) % 3
        centres = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
        features = (centres[labels] + rng.normal(scale=1.2, size=(size, 2))).astype(np.float32)
        return Blobs(features, labels.astype(np.int64), np.arange(size, dtype=np.int64), f"blobs-{seed}-{size}")

    load_split = lambda self, data_cfg, split: self.synthetic_split(data_cfg["size"], data_cfg["seed"], split)  # noqa: E731

    def strata(self, examples):
        return examples.labels

    def smoke_recipe(self):
        return {"epochs": 1, "lr": 0.5}

    def build_model(self, train_cfg, examples, seed):
        torch.manual_seed(seed)
        return torch.nn.Linear(2, examples.num_classes)

    def train(self, model, examples, train_cfg, *, seed, device="cpu", eval_set=None, steps=None, callbacks=(),
              checkpoint_path=None):
        """20 full-batch steps per epoch; the callbacks see each epoch's per-example loss / logits / correct."""
        from types import SimpleNamespace

        optimizer = torch.optim.SGD(model.parameters(), lr=train_cfg["lr"])
        x, y = torch.from_numpy(examples.features), torch.from_numpy(examples.labels)
        for callback in callbacks:
            callback.on_train_start(model, examples)
        for epoch in range(int(train_cfg["epochs"])):
            for _ in range(20):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
            with torch.no_grad():
                logits = model(x)
            stats = SimpleNamespace(losses=torch.nn.functional.cross_entropy(logits, y, reduction="none").numpy(),
                                    logits=logits.numpy(), correct=(logits.argmax(1) == y).numpy())
            for callback in callbacks:
                callback.on_epoch_end(epoch + 1, stats, model)
        result = ToyResult(model, None if eval_set is None else self.predict(model, eval_set), 20 * int(train_cfg["epochs"]))
        for callback in callbacks:
            callback.on_train_end(result)
        return result

    def checkpoint_model(self, model_name, model_kwargs, examples):
        return torch.nn.Linear(2, examples.num_classes)

    def predict(self, model, examples, *, device="cpu", train_cfg=None):
        with torch.no_grad():
            return model(torch.from_numpy(examples.features)).numpy()

    def example_outputs(self, model, examples, names, *, device="cpu", train_cfg=None):
        logits = torch.from_numpy(self.predict(model, examples))
        y = torch.from_numpy(examples.labels)
        every = {"loss": torch.nn.functional.cross_entropy(logits, y, reduction="none").numpy(),
                 "correct": (logits.argmax(1) == y).numpy(), "probabilities": logits.softmax(1).numpy()}
        return {name: every[name] for name in names}

    def evaluate(self, predictions, examples):
        value = float((predictions.argmax(1) == examples.labels).mean())
        return Evaluation("accuracy", value, 1.0 - value, True)


@pytest.fixture
def toy_task():
    register_task("toy-blobs")(ToyTask)
    yield get_task("toy-blobs")
    unregister_task("toy-blobs")


# ----------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------

def test_registry_lists_image_classification_and_refuses_unknown_names():
    assert "image-classification" in list_tasks()
    with pytest.raises(PrunebenchError, match="unknown task 'nope'; registered tasks: .*image-classification"):
        get_task("nope")


def test_toy_task_registers_and_unregisters(toy_task):
    assert toy_task.name == "toy-blobs" and "toy-blobs" in list_tasks()
    unregister_task("toy-blobs")
    assert "toy-blobs" not in list_tasks()


def test_tasks_list_cli(capsys):
    from prunebench.cli import main

    assert main(["tasks", "list"]) == 0
    line = [row for row in capsys.readouterr().out.splitlines() if row.startswith("image-classification:")]
    assert line and "eval accuracy (higher is better)" in line[0] and "embedding" in line[0]


# ----------------------------------------------------------------------------------------------
# The contract of every registered task (tiny data, 1 epoch)
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list_tasks())
def test_task_contract(name):
    torch.set_num_threads(1)
    task = get_task(name)
    assert task.outputs and set(task.outputs) <= set(OUTPUTS)
    train_set, test_set = task.synthetic_split(64, seed=0), task.synthetic_split(32, seed=1, split="test")
    recipe = task.smoke_recipe()
    model = task.build_model(recipe, train_set, seed=0)
    task.train(model, train_set, recipe, seed=0, eval_set=test_set)
    outputs = task.example_outputs(model, train_set, sorted(task.outputs), train_cfg=recipe)
    for output in task.outputs:
        values = outputs[output]
        assert len(values) == len(train_set.ids), output
        assert np.all(np.isfinite(np.asarray(values, dtype=np.float64))), output
    evaluation = task.evaluate(task.predict(model, test_set, train_cfg=recipe), test_set)
    assert evaluation.metric == task.eval_metric and evaluation.higher_is_better == task.higher_is_better
    assert np.isfinite(evaluation.value) and np.isfinite(evaluation.error)
    if task.higher_is_better:  # a score in [0, 1] (accuracy, NDCG): the scaling laws fit 1 - value
        assert 0.0 <= evaluation.value <= 1.0 and evaluation.error == pytest.approx(1.0 - evaluation.value)
    strata = task.strata(train_set)
    assert strata is None or len(strata) == len(train_set)


def test_image_task_reproduces_the_loop():
    """The task's predictions are the loop's own test logits (same TTA, layout): nothing recomputed differently."""
    task = get_task("image-classification")
    train_set, test_set = task.synthetic_split(64, seed=0), task.synthetic_split(32, seed=1, split="test")
    recipe = task.smoke_recipe()
    result = task.train(task.build_model(recipe, train_set, seed=0), train_set, recipe, seed=0, eval_set=test_set)
    np.testing.assert_array_equal(task.predict(result.model, test_set, train_cfg=recipe), result.test_logits)


@pytest.mark.parametrize("task_name", list_tasks())
@pytest.mark.parametrize("metric", list_metrics())
def test_every_metric_is_served_or_refused_in_one_line(task_name, metric):
    task, needs = get_task(task_name), get_metric(metric).needs
    assert set(needs) <= set(OUTPUTS)
    if set(needs) <= set(task.outputs):
        check_metric_serves(task, metric)
    else:
        with pytest.raises(PrunebenchError, match=f"metric '{metric}' needs per-example") as err:
            check_metric_serves(task, metric)
        assert "\n" not in str(err.value)


def test_metrics_declare_what_they_read():
    assert get_metric("el2n").needs == ("probabilities",)
    assert get_metric("forgetting").needs == ("correct",)
    assert get_metric("ssl-prototypes").needs == ("embedding",)
    assert get_metric("random").needs == ()


def test_check_metric_names_refuses_a_metric_the_task_cannot_serve(toy_task):
    from prunebench.metrics.compute import check_metric_names

    config = {"task": "toy-blobs", "metrics": {"names": ["random", "el2n", "ssl-prototypes"]}}
    with pytest.raises(PrunebenchError, match="metric 'ssl-prototypes' needs per-example embedding, which task 'toy-blobs'"):
        check_metric_names(config)
    assert check_metric_names({**config, "metrics": {"names": ["random", "el2n"]}}) == ["random", "el2n"]


def test_register_metric_refuses_an_unknown_output():
    from prunebench.metrics.registry import register_metric

    with pytest.raises(ValueError, match="needs unknown output"):
        register_metric("bad-needs", needs=("gradients",))(lambda ctx, params: None)


# ----------------------------------------------------------------------------------------------
# The toy task end to end
# ----------------------------------------------------------------------------------------------

def el2n_from_task(task, train_set, seeds) -> np.ndarray:
    """EL2N (Paul et al. 2021): mean over models of ||softmax(f(x)) - onehot(y)||_2, read through the task."""
    norms = []
    for seed in seeds:
        model = task.build_model(task.smoke_recipe(), train_set, seed)
        task.train(model, train_set, task.smoke_recipe(), seed=seed)
        probs = task.example_outputs(model, train_set, ("probabilities",))["probabilities"]
        norms.append(np.linalg.norm(probs - np.eye(train_set.num_classes)[train_set.labels], axis=1))
    return np.mean(norms, axis=0)


def test_toy_task_end_to_end(toy_task):
    from prunebench.metrics.context import MetricContext
    from prunebench.scaling.laws import fit_all
    from prunebench.selection import kept_count, select
    from prunebench.sweep.point import evaluation_fields

    config = {"name": "toy", "seed": 0, "task": "toy-blobs", "data": {"size": 400, "seed": 0}}
    train_set = toy_task.load_split(config["data"], "train")
    test_set = toy_task.synthetic_split(300, seed=9, split="test")
    check_metric_serves(toy_task, "el2n")
    random_result = get_metric("random").fn(MetricContext(config=config, train_set=train_set), {"stream": 0})
    scores = {"random": random_result.scores, "el2n": el2n_from_task(toy_task, train_set, seeds=(0, 1))}
    rows = []
    for metric, score in scores.items():
        assert score.shape == train_set.ids.shape and np.all(np.isfinite(score))
        for size in (30, 60, 120, 240, 400):
            initial = train_set.subset(np.arange(size))
            kept = select(score[:size], toy_task.strata(initial), 0.8, keep="easy", seed=0)
            assert len(kept) == kept_count(size, 0.8)
            pruned = initial.subset(kept)
            result = toy_task.train(toy_task.build_model({}, pruned, 0), pruned, toy_task.smoke_recipe(), seed=0,
                                    eval_set=test_set)
            rows.append({"metric": metric, "n_kept": len(pruned), **evaluation_fields(config, result, test_set)})
    assert {row["eval_metric"] for row in rows} == {"accuracy"} and all(row["eval_higher_is_better"] for row in rows)
    assert all(row["eval_error"] == pytest.approx(1 - row["eval_value"]) for row in rows)
    random_rows = [row for row in rows if row["metric"] == "random"]
    fits = fit_all([row["n_kept"] for row in random_rows], [max(row["eval_error"], 1e-3) for row in random_rows],
                   n_test=len(test_set))
    power_law = fits["power_law"]
    assert power_law.ok and power_law.n == 5 and np.isfinite(power_law.params["nu"])


def test_metric_probes_train_through_the_task(toy_task, tmp_path):
    """The metric stage's probes are the task's models: the task-independent ``loss`` metric, and
    ``forgetting`` (which reads the per-epoch correctness the task's trainer reports), on the toy task."""
    from prunebench.metrics.compute import check_metric_names
    from prunebench.metrics.context import MetricContext

    config = {"name": "toy", "seed": 0, "task": "toy-blobs", "data": {"size": 120, "seed": 0},
              "probe": {"lr": 0.5, "epochs": 3}, "metrics": {"names": ["loss", "forgetting"]}}
    check_metric_names(config)
    train_set = toy_task.load_split(config["data"], "train")
    ctx = MetricContext(config=config, train_set=train_set, probe_root=tmp_path)
    result = get_metric("loss").fn(ctx.for_metric(("train",)), {"ensemble_size": 2, "epoch": 1})
    assert result.scores.shape == (120,) and np.all(np.isfinite(result.scores)) and result.n_models == 2
    assert result.cost_probe_epochs == pytest.approx(2.0)  # two probes, read at epoch 1
    members = [ctx.losses(run, "train", 1) for run in ctx.ensemble_runs(2)]
    np.testing.assert_allclose(result.scores, np.mean(members, axis=0))
    # the probes' recorded dynamics come from the task's callbacks: 3 epochs of loss and correctness
    dynamics = ctx.ensemble_runs(1)[0].dynamics
    assert dynamics["loss"].shape == (3, 120) and dynamics["correct"].dtype == bool
    forgetting = get_metric("forgetting").fn(ctx.for_metric(("train",)), get_metric("forgetting").params())
    assert forgetting.scores.shape == (120,) and np.all(np.isfinite(forgetting.scores))


def test_config_task_key_validates_and_stays_out_of_the_settings_hashes():
    """`task` is a top-level config key (config schema); naming the default task changes no hash,
    and an unknown task is refused in one line listing the registered ones."""
    import copy

    from prunebench.config import load_config, validate_config
    from prunebench.errors import PrunebenchError
    from prunebench.provenance import stage_hash
    from prunebench.tasks import task_of_config

    config = load_config("ci")
    named = copy.deepcopy(config)
    named["task"] = "image-classification"
    validate_config(named)
    assert stage_hash(named, "sweep_point") == stage_hash(config, "sweep_point")
    assert stage_hash(named, "score", "el2n") == stage_hash(config, "score", "el2n")
    named["task"] = "no-such-task"
    with pytest.raises(PrunebenchError, match="registered tasks: .*image-classification"):
        task_of_config(named)


def test_sweep_point_trains_through_the_task(toy_task, monkeypatch):
    """A sweep point's data, model, training and evaluation are the config's task's: the toy task
    runs a baseline point and a random f = 0.5 point end to end (``sweep.point.run_point``)."""
    from prunebench.sweep.plan import SweepPoint
    from prunebench.sweep.point import run_point

    calls = []
    toy_train = ToyTask.train

    def recording_train(self, model, examples, train_cfg, **kwargs):
        calls.append({"model": type(model), "n": len(examples), "recipe": dict(train_cfg),
                      "n_eval": len(kwargs["eval_set"])})
        return toy_train(self, model, examples, train_cfg, **kwargs)

    monkeypatch.setattr(ToyTask, "train", recording_train)
    config = {"name": "toy", "seed": 0, "task": "toy-blobs", "data": {"size": 300, "seed": 0},
              "probe": {"lr": 0.5, "epochs": 2}, "sweep": {"threads": 1}}
    points = [SweepPoint("fixed_epochs", 120, "none", "all", 1.0, 0),
              SweepPoint("fixed_epochs", 120, "random", "random", 0.5, 0)]
    rows = [run_point(config, point, device="cpu") for point in points]
    assert [call["n"] for call in calls] == [120, 60] and {call["n_eval"] for call in calls} == {300}
    assert all(call["model"] is torch.nn.Linear and call["recipe"] == {"lr": 0.5, "epochs": 2, "threads": 1}
               for call in calls)
    assert [row["n_kept"] for row in rows] == [120, 60] and [row["train_steps"] for row in rows] == [40, 40]
    for row in rows:
        assert row["eval_metric"] == "accuracy" and row["eval_error"] == 1.0 - row["eval_value"]
        assert row["test_accuracy"] == row["eval_value"]  # the toy's result has no test_accuracy: the task's value
    # the row's evaluation is the task's score of a model trained again the same way
    train_set, test_set = (toy_task.load_split(config["data"], split) for split in ("train", "test"))
    from prunebench.sweep.point import point_seeds, prune_for_point

    seeds = point_seeds(config, points[1])
    pruned = prune_for_point(config, points[1], train_set, seeds).pruned
    model = toy_task.build_model({}, pruned, seeds["train_seed"])
    toy_train(toy_task, model, pruned, {"lr": 0.5, "epochs": 2}, seed=seeds["train_seed"])
    assert rows[1]["eval_value"] == toy_task.evaluate(toy_task.predict(model, test_set), test_set).value
