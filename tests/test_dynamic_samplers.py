"""RS2 samplers behind the loop's per-epoch selection hook, and the DynamicPruning config's fingerprint."""

import dataclasses

import numpy as np
import pytest
import torch

from prunebench.errors import PrunebenchError
from prunebench.training import RecordStats, TrainConfig, build_model, train
from prunebench.training.config import DynamicPruning
from prunebench.training.dynamic import clocked, epoch_steps, planned_by_epoch_steps, pruning_epoch, select_examples
from prunebench.training.loop import planned_steps
from prunebench.training.samplers import list_samplers, rs2_without_replacement_subsets
from test_training import TINY, synthetic_dataset


def subsets(rule: str, num: int, ratio: float, epochs: int, seed: int = 0) -> list[set]:
    cfg = DynamicPruning(rule=rule, ratio=ratio)
    order = torch.randperm(num, generator=torch.Generator().manual_seed(5))
    return [set(select_examples(cfg, torch.zeros(num), order, seed=seed, epoch=e)[0].tolist()) for e in range(epochs)]


@pytest.mark.parametrize("rule", ["rs2", "rs2-with-replacement"])
def test_rs2_epochs_have_the_static_size_unit_weights_and_keep_the_loop_order(rule):
    cfg = DynamicPruning(rule=rule, ratio=0.7)  # S = kept_count(101, 0.3) = 30
    order = torch.randperm(101, generator=torch.Generator().manual_seed(1))
    kept, weights = select_examples(cfg, torch.zeros(101), order, seed=3, epoch=2)
    assert len(kept) == len(set(kept.tolist())) == 30
    assert kept.tolist() == [i for i in order.tolist() if i in set(kept.tolist())]  # the loop's shuffle, restricted
    assert torch.equal(weights, torch.ones(101))  # RS2 does not rescale
    assert all(pruning_epoch(cfg, e, 4) for e in range(4))  # every epoch, the first too (no annealing)


def test_rs2_without_replacement_sees_every_example_before_any_repeats():
    num, size = 100, 30  # rounds of 100: epochs 0-2 take 90, epoch 3 takes the last 10 and 20 of round 2
    epochs = subsets("rs2", num, 0.7, 7)
    assert all(len(s) == size for s in epochs)
    first_round = [x for s in epochs[:3] for x in s]
    assert len(set(first_round)) == 90  # no repeats before the round is used up
    leftover = set(range(num)) - set(first_round)
    assert leftover <= epochs[3]  # the round's last 10 open epoch 3
    second_round = (epochs[3] - leftover) | epochs[4] | epochs[5] | epochs[6]
    assert sum(len(s) for s in epochs[3:7]) - len(leftover) == 110 and len(second_round) == num  # round 2 covers all
    raw = rs2_without_replacement_subsets(num, size, 0, 7)
    assert [set(s.tolist()) for s in raw] == epochs


def test_rs2_subsets_are_fixed_by_the_seed():
    for rule in ("rs2", "rs2-with-replacement"):
        assert subsets(rule, 80, 0.5, 3, seed=1) == subsets(rule, 80, 0.5, 3, seed=1)
        assert subsets(rule, 80, 0.5, 3, seed=1) != subsets(rule, 80, 0.5, 3, seed=2)


def test_rs2_with_replacement_draws_independent_subsets():
    epochs = subsets("rs2-with-replacement", 100, 0.5, 6)
    assert all(len(s) == 50 for s in epochs)
    overlaps = [len(a & b) for a, b in zip(epochs, epochs[1:])]
    assert 0 < min(overlaps) and max(overlaps) < 50  # overlapping, not disjoint (w/o replacement: disjoint)
    assert subsets("rs2", 100, 0.5, 2)[0].isdisjoint(subsets("rs2", 100, 0.5, 2)[1])


def test_rs2_plans_the_steps_of_the_static_run_on_the_subset_size():
    """epochs x ceil(S / batch): the planned steps of a run on kept_count(N, f) examples, exact."""
    for epochs, f in ((2.5, 0.3), (4, 0.8), (3, 0.5)):
        rs2 = TrainConfig.from_dict({"epochs": epochs, "batch_size": 64,
                                     "dynamic_pruning": {"rule": "rs2", "ratio": round(1 - f, 12)}})
        static = TrainConfig.from_dict({"epochs": epochs, "batch_size": 64})
        assert planned_by_epoch_steps(rs2) and not clocked(rs2, None)
        assert planned_steps(rs2, 1000) == planned_steps(static, int(np.floor(f * 1000 + 0.5)))
        assert sum(epoch_steps(rs2, 1000)) == pytest.approx(epochs * np.ceil(f * 1000 / 64))


def test_rs2_trains_on_a_fresh_subset_each_epoch():
    train_set = synthetic_dataset()  # 200 examples, batch 64: S = 100, 2 steps per epoch
    cfg = TrainConfig.from_dict({**TINY, "dynamic_pruning": {"rule": "rs2", "ratio": 0.5}})
    recorder = RecordStats()
    result = train(build_model(cfg, train_set.num_classes, 0), train_set, cfg, seed=0, callbacks=[recorder])
    seen = recorder.stacked("seen")
    assert seen.sum(1).tolist() == [100, 100, 100] and result.train_steps == 3 * 2
    assert not (seen[0] & seen[1]).any()  # w/o replacement: epoch 1 continues the permutation
    assert result.epochs == pytest.approx(3)


def test_default_dynamic_pruning_fingerprint_is_unchanged():
    """TrainConfig.to_dict (hashed by run_fingerprint) leaves the rule out at its default."""
    default = TrainConfig.from_dict({"dynamic_pruning": {"ratio": 0.5, "pool_rule": "quantile"}}).to_dict()
    assert default["dynamic_pruning"] == {"ratio": 0.5, "pool_rule": "quantile", "pool": 0.6, "anneal": 0.875}
    assert list(TrainConfig().to_dict()) == [f.name for f in dataclasses.fields(TrainConfig)]
    rs2 = TrainConfig.from_dict({"dynamic_pruning": {"rule": "rs2", "ratio": 0.5}})
    assert rs2.to_dict()["dynamic_pruning"]["rule"] == "rs2"
    assert TrainConfig.from_dict(rs2.to_dict()) == rs2 and TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


def test_unknown_sampler_rule_is_one_line():
    assert {"infobatch", "rs2", "rs2-with-replacement"} <= set(list_samplers())
    with pytest.raises(PrunebenchError, match="dynamic_pruning"):
        TrainConfig.from_dict({"dynamic_pruning": {"rule": "rs3", "ratio": 0.5}})


def test_probe_schema_sampler_enum_is_the_sampler_registry():
    """dynamic_pruning.rule in the probe schema lists exactly the registered samplers (the registry is the source)."""
    import yaml

    from prunebench.training.samplers import list_samplers

    schema = yaml.safe_load(open("workflow/schemas/probe.schema.yaml"))
    enum = schema["properties"]["dynamic_pruning"]["properties"]["rule"]["enum"]
    assert sorted(enum) == sorted(list_samplers())
