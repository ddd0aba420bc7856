"""Training engine: determinism, resume, per-example stats alignment, steps, schedule, config."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from prunebench.data import ImageDataset, content_checksum, normalize
from prunebench.errors import PrunebenchError
from prunebench.provenance import REPO_ROOT
from prunebench.training import (
    Callback, ProgressiveResize, RecordStats, TrainConfig, build_model, embed_dataset, lr_factor, predict, train,
)

TINY = dict(model="airbench", model_kwargs=dict(width=[8, 16, 16]), epochs=3, batch_size=64, lr=0.2, threads=1,
            whiten_samples=100, progress=False)


def synthetic_dataset(n=200, size=16, classes=4, seed=0, split="train") -> ImageDataset:
    """Images whose mean colour depends on the class (learnable), with shuffled canonical ids."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 100, (n, size, size, 3)) + (labels * 40)[:, None, None, None]
    images = images.astype(np.uint8)
    ids = np.sort(rng.choice(10 * n, n, replace=False))
    names = [f"c{i}" for i in range(classes)]
    return ImageDataset("cifar10", split, images, labels.astype(np.int64), ids, names,
                        content_checksum(images, labels, names))


@pytest.fixture(scope="module")
def data():
    return synthetic_dataset(), synthetic_dataset(100, seed=1, split="test")


def run(train_set, cfg=TINY, seed=0, **kwargs):
    cfg = TrainConfig.from_dict(cfg) if isinstance(cfg, dict) else cfg
    model = build_model(cfg, train_set.num_classes, seed)
    return train(model, train_set, cfg, seed=seed, **kwargs)


class SizeSpy(torch.nn.Module):
    """Wraps a model and records (training?, input side) of every forward pass."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.sides = []

    def forward(self, x):
        self.sides.append((self.training, x.shape[-1]))
        return self.net(x)


def state_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_gives_identical_weights_and_logits(data):
    train_set, test_set = data
    first, second = run(train_set, test_set=test_set), run(train_set, test_set=test_set)
    assert state_equal(first.model, second.model)
    np.testing.assert_array_equal(first.test_logits, second.test_logits)
    assert first.history[-1]["train_loss"] == second.history[-1]["train_loss"]
    third = run(train_set, seed=1, test_set=test_set)
    assert not state_equal(first.model, third.model)
    assert not np.array_equal(first.test_logits, third.test_logits)


class Interrupt(Exception):
    pass


class StopAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, stats, model):
        if epoch == self.epoch:
            raise Interrupt


def test_resume_matches_uninterrupted_run(data, tmp_path):
    train_set, _ = data
    reference = run(train_set)
    checkpoint = tmp_path / "probe.pt"
    with pytest.raises(Interrupt):
        run(train_set, checkpoint_path=checkpoint, callbacks=[StopAfter(epoch=1)])
    assert checkpoint.exists()  # epoch 0 was saved; epoch 1 is redone
    recorder = RecordStats()
    resumed = run(train_set, checkpoint_path=checkpoint, callbacks=[recorder])
    assert recorder.epochs == [1, 2]
    assert state_equal(reference.model, resumed.model)
    assert resumed.train_steps == reference.train_steps
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in reference.history]


def test_checkpoint_of_another_run_is_refused(data, tmp_path):
    train_set, _ = data
    checkpoint = tmp_path / "probe.pt"
    run(train_set, cfg={**TINY, "epochs": 1}, checkpoint_path=checkpoint)
    with pytest.raises(PrunebenchError, match="different run"):
        run(train_set, cfg={**TINY, "epochs": 1}, seed=5, checkpoint_path=checkpoint)


def test_epoch_stats_are_aligned_to_dataset_order(data):
    """With lr=0 the weights never change, so the recorded logits must equal a plain forward pass."""
    train_set, _ = data
    cfg = TrainConfig.from_dict({**TINY, "epochs": 2}).replace(
        lr=0.0, augmentation=dataclasses.replace(TrainConfig().augmentation, flip=False, translate=0))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4))
    recorder = RecordStats()
    train(model, train_set, cfg, seed=0, callbacks=[recorder])
    expected = predict(model, train_set, batch_size=37)
    for logits in recorder.history["logits"]:
        np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(recorder.ids, train_set.ids)
    np.testing.assert_array_equal(recorder.labels, train_set.labels)


def test_epoch_stats_shapes_and_consistency(data):
    train_set, _ = data
    recorder = RecordStats()
    result = run(train_set, callbacks=[recorder])
    assert recorder.epochs == [0, 1, 2] and len(result.history) == 3
    logits = recorder.stacked("logits")
    assert logits.shape == (3, len(train_set), train_set.num_classes) and logits.dtype == np.float32
    assert recorder.stacked("seen").all()
    losses = F.cross_entropy(torch.from_numpy(logits[-1]), torch.from_numpy(train_set.labels), reduction="none")
    np.testing.assert_allclose(recorder.stacked("losses")[-1], losses.numpy(), rtol=1e-5)
    np.testing.assert_array_equal(recorder.stacked("correct")[-1], logits[-1].argmax(1) == train_set.labels)
    assert recorder.stacked("correct")[-1].mean() > 0.5  # the class colour is learnable


def test_steps_override_is_exact(data):
    train_set, _ = data  # 200 examples, batch 64: 4 steps per epoch
    recorder = RecordStats()
    result = run(train_set, steps=7, callbacks=[recorder])
    assert result.train_steps == 7 and result.history[-1]["step"] == 7
    assert [int(seen.sum()) for seen in recorder.history["seen"]] == [200, 3 * 64]
    partial = recorder.history["losses"][-1]
    assert np.isnan(partial[~recorder.history["seen"][-1]]).all()
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # schedule spans exactly 7 steps


def test_onecycle_and_linear_schedules():
    cfg = TrainConfig(schedule="onecycle", warmup=0.2, warmup_start=0.2)
    factors = [lr_factor(step, 100, cfg) for step in range(101)]
    assert factors[0] == pytest.approx(0.2) and factors[20] == pytest.approx(1.0) and factors[100] == 0
    assert int(np.argmax(factors)) == 20
    linear = TrainConfig(schedule="linear")
    assert lr_factor(0, 10, linear) == 1 and lr_factor(5, 10, linear) == 0.5


def test_schedules_end_at_lr_end():
    airbench = TrainConfig(schedule="onecycle", warmup=0.23, warmup_start=0.2, lr_end=0.07)
    assert lr_factor(0, 100, airbench) == pytest.approx(0.2)
    assert lr_factor(23, 100, airbench) == pytest.approx(1.0)
    assert lr_factor(100, 100, airbench) == pytest.approx(0.07)
    assert lr_factor(5, 10, TrainConfig(schedule="linear", lr_end=0.5)) == pytest.approx(0.75)


def test_alternating_flip_mirrors_each_example_once_per_two_epochs():
    from prunebench.training.loop import epoch_augmentation

    cfg = TrainConfig.from_dict({"augmentation": {"flip": "alternate"}})
    flips = [epoch_augmentation(1000, cfg, seed=3, epoch=e)[1] for e in range(3)]
    assert torch.equal(flips[0], ~flips[1]) and torch.equal(flips[0], flips[2])
    assert 400 < int(flips[0].sum()) < 600
    assert torch.equal(flips[0], epoch_augmentation(1000, cfg, seed=3, epoch=0)[1])
    assert not torch.equal(flips[0], epoch_augmentation(1000, cfg, seed=4, epoch=0)[1])
    random_cfg = TrainConfig()  # per-epoch coins: order and shifts are the same draws in both modes
    order, random_flips, shifts, _ = epoch_augmentation(1000, random_cfg, seed=3, epoch=1)
    alt_order, _, alt_shifts, _ = epoch_augmentation(1000, cfg, seed=3, epoch=1)
    assert torch.equal(order, alt_order) and torch.equal(shifts, alt_shifts)
    assert not torch.equal(random_flips, ~flips[0])


def test_lookahead_update_is_an_ema_copied_back():
    from prunebench.training.config import Lookahead
    from prunebench.training.lookahead import lookahead_decay, lookahead_update

    model = torch.nn.Linear(2, 1)
    averages = {}
    lookahead_update(model, averages, 0.5)  # first call snapshots
    start = model.weight.detach().clone()
    assert torch.equal(averages["weight"], start)
    with torch.no_grad():
        model.weight.add_(2.0)
    lookahead_update(model, averages, 0.75)
    torch.testing.assert_close(model.weight, start + 0.5)  # 0.75·θ̄ + 0.25·(θ̄ + 2)
    assert torch.equal(averages["weight"], model.weight)
    cfg = Lookahead(every=5, decay_base=0.95, decay_pow=3)
    assert lookahead_decay(cfg, 50, 100) == pytest.approx(0.95 ** 5 * 0.125)


def test_lookahead_changes_training_and_resumes_exactly(data, tmp_path):
    train_set, _ = data
    cfg = {**TINY, "lookahead": {"every": 2, "start_epochs": 1}}
    reference = run(train_set, cfg=cfg)
    assert not state_equal(reference.model, run(train_set).model)
    checkpoint = tmp_path / "probe.pt"
    with pytest.raises(Interrupt):
        run(train_set, cfg=cfg, checkpoint_path=checkpoint, callbacks=[StopAfter(epoch=2)])
    resumed = run(train_set, cfg=cfg, checkpoint_path=checkpoint)  # the averages come back from epoch 1
    assert state_equal(reference.model, resumed.model)


@pytest.mark.parametrize("shape", [(8, 72), (72, 8), (16, 16)])
def test_newton_schulz_orthogonalizes_tall_and_wide_matrices(shape):
    from prunebench.training.muon import orthogonalize

    update = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    singular_values = torch.linalg.svdvals(orthogonalize(update, steps=5))
    assert orthogonalize(update).shape == update.shape
    assert singular_values.min() > 0.6 and singular_values.max() < 1.25  # Jordan's quintic: ≈ U S' Vᵀ, S' ≈ 1
    u, _, v = torch.linalg.svd(update, full_matrices=False)
    assert torch.sum(orthogonalize(update) * (u @ v)) > 0.8 * min(shape)  # aligned with U Vᵀ


def test_muon_sgd_without_muon_groups_is_torch_sgd():
    from prunebench.training.muon import MuonSGD

    torch.manual_seed(0)
    reference = torch.nn.Linear(6, 3)
    model = torch.nn.Linear(6, 3)
    model.load_state_dict(reference.state_dict())
    settings = dict(lr=0.1, momentum=0.85, nesterov=True, weight_decay=1e-3)
    optimizers = torch.optim.SGD(reference.parameters(), **settings), MuonSGD(model.parameters(), **settings)
    inputs = torch.randn(5, 10, 6)
    for batch in inputs:
        for net, optimizer in zip((reference, model), optimizers):
            optimizer.zero_grad()
            net(batch).square().sum().backward()
            optimizer.step()
    assert state_equal(reference, model)


def test_muon_step_renormalizes_the_filter_then_takes_an_orthogonal_step():
    from prunebench.training.muon import MuonSGD, orthogonalize

    conv = torch.nn.Conv2d(4, 6, 3, bias=False)
    start = conv.weight.detach().clone()
    optimizer = MuonSGD([dict(params=[conv.weight], muon=True)], lr=0.05, momentum=0.6, nesterov=True)
    conv.weight.grad = torch.randn_like(start)
    optimizer.step()
    step = conv.weight.grad * 1.6  # Nesterov on a fresh buffer: g + 0.6 g
    expected = start * 6 ** 0.5 / start.norm() - 0.05 * orthogonalize(step.reshape(6, -1)).view(start.shape)
    torch.testing.assert_close(conv.weight.detach(), expected)


def test_muon_config_trains_filters_with_muon_and_resumes_exactly(data, tmp_path):
    from prunebench.training.loop import build_optimizer

    train_set, _ = data
    cfg = {**TINY, "muon": {"lr": 0.05}}
    config = TrainConfig.from_dict(cfg)
    groups = build_optimizer(build_model(config, 4, seed=0), config, 10)[0].param_groups
    assert [group["muon"] for group in groups] == [False, False, True]
    assert all(p.ndim == 4 for p in groups[2]["params"]) and all(p.ndim == 2 for p in groups[0]["params"])
    reference = run(train_set, cfg=cfg)
    assert not state_equal(reference.model, run(train_set).model)
    checkpoint = tmp_path / "probe.pt"
    with pytest.raises(Interrupt):
        run(train_set, cfg=cfg, checkpoint_path=checkpoint, callbacks=[StopAfter(epoch=2)])
    assert state_equal(reference.model, run(train_set, cfg=cfg, checkpoint_path=checkpoint).model)
    with pytest.raises(PrunebenchError, match="probe.muon needs"):
        TrainConfig.from_dict({"muon": {"lr": -1}})


def test_predict_and_embed_shapes(data):
    train_set, test_set = data
    model = run(train_set, cfg={**TINY, "epochs": 1}).model
    assert predict(model, test_set, batch_size=33, tta=True).shape == (100, 4)
    assert embed_dataset(model, test_set, batch_size=33).shape == (100, 16)
    assert model.training  # predict restores the mode


def test_tta_levels_average_the_documented_views(data):
    train_set, test_set = data
    model = run(train_set, cfg={**TINY, "epochs": 1}).model.eval()
    plain, mirror, shifted = (predict(model, test_set, tta=level) for level in (0, 1, 2))
    x = normalize(torch.from_numpy(test_set.images), test_set.channel_stats)
    with torch.no_grad():
        both = lambda v: 0.5 * (model(v) + model(v.flip(-1)))  # noqa: E731
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        mirrored = both(x)
        expected = 0.5 * mirrored + 0.25 * (both(padded[..., :16, :16]) + both(padded[..., 2:, 2:]))
    np.testing.assert_allclose(mirror, mirrored.numpy(), atol=1e-5)
    np.testing.assert_allclose(shifted, expected.numpy(), atol=1e-5)
    assert not np.allclose(plain, mirror) and not np.allclose(mirror, shifted)
    with pytest.raises(PrunebenchError, match="tta"):
        TrainConfig.from_dict({"tta": 3})


def test_progressive_resize_ramps_to_full_resolution(data):
    ramp = ProgressiveResize(min_res=16, start=0.25, end=0.75, multiple=4)
    sides = [ramp.resolution(step, 100, 32) for step in range(101)]
    assert sides[0] == sides[25] == 16 and sides[75] == sides[100] == 32
    assert sides == sorted(sides) and all(side % 4 == 0 for side in sides)
    assert ProgressiveResize().resolution(0, 100, 32) == 32  # off by default
    train_set, _ = data  # 16×16 images, 4 steps an epoch
    cfg = TrainConfig.from_dict({**TINY, "progressive_resize": {"min_res": 12, "end": 0.5}})
    spy = SizeSpy(build_model(cfg, train_set.num_classes, seed=0))
    train(spy, train_set, cfg, seed=0)
    seen = [side for training, side in spy.sides if training]
    assert seen[0] == 12 and seen[-1] == 16 and seen == sorted(seen)
    with pytest.raises(PrunebenchError, match="progressive_resize"):
        TrainConfig.from_dict({"progressive_resize": {"min_res": 8, "start": 0.9, "end": 0.5}})


@pytest.mark.parametrize("pad_mode", ["reflect", "zeros"])
def test_translation_matches_per_image_slicing_and_commutes_with_normalising(pad_mode):
    from prunebench.training.augment import translate_batch
    from prunebench.training.loop import prepare_batch

    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    shifts = torch.tensor([[-2, -2], [2, 2], [0, 1], [1, -2], [0, 0], [-1, 2]])
    moved = translate_batch(images.float(), shifts, 2, pad_mode)
    padded = F.pad(images.float(), (2,) * 4, mode="reflect" if pad_mode == "reflect" else "constant")
    for i, (dy, dx) in enumerate(shifts.tolist()):
        assert torch.equal(moved[i], padded[i, :, 2 + dy:10 + dy, 2 + dx:10 + dx])
    cfg = TrainConfig.from_dict({"augmentation": {"pad_mode": pad_mode}, "channels_last": False})
    flips = torch.tensor([True, False, True, False, False, True])
    batch = prepare_batch(images, torch.arange(6), flips, shifts, cfg, None)
    expected = translate_batch(torch.where(flips.view(-1, 1, 1, 1), normalize(images).flip(-1), normalize(images)),
                               shifts, 2, pad_mode)  # normalise first, then move: the same numbers
    assert torch.equal(batch, expected)


def test_random_crops_cut_unpadded_windows(data):
    from prunebench.training.augment import crop_batch
    from prunebench.training.loop import epoch_augmentation

    images = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).view(2, 1, 5, 5)
    crops = crop_batch(images, torch.tensor([[0, 0], [2, 1]]), 3, 3)
    assert torch.equal(crops[0], images[0, :, 0:3, 0:3]) and torch.equal(crops[1], images[1, :, 2:5, 1:4])
    cfg = TrainConfig.from_dict({"augmentation": {"translate": 0, "crop": 28}})
    offsets = epoch_augmentation(5000, cfg, seed=0, epoch=0, side=32)[3]
    assert offsets.min() == 0 and offsets.max() == 4  # every window lies inside the 32-px image
    with pytest.raises(PrunebenchError, match="crop .* exceeds"):
        epoch_augmentation(10, TrainConfig.from_dict({"augmentation": {"crop": 40}}), seed=0, epoch=0, side=32)
    train_set, test_set = data  # 16×16 images: trains on 12×12 crops, tests on full images
    cfg = TrainConfig.from_dict({**TINY, "augmentation": {"translate": 0, "crop": 12}, "tta": 0})
    spy = SizeSpy(build_model(cfg, train_set.num_classes, seed=0))
    result = train(spy, train_set, cfg, seed=0, test_set=test_set)
    sides = spy.sides
    assert {side for training, side in sides if training} == {12} and {side for training, side in sides if not training} == {16}
    assert result.test_accuracy is not None


def test_dynamic_pruning_skips_part_of_the_low_loss_pool():
    from prunebench.training.config import DynamicPruning
    from prunebench.training.dynamic import epoch_steps, pruning_epoch, select_examples

    cfg = DynamicPruning(ratio=0.5, pool_rule="quantile", pool=0.6, anneal=0.75)
    assert [pruning_epoch(cfg, e, 8) for e in range(8)] == [False] + [True] * 5 + [False] * 2
    scores = torch.arange(100, dtype=torch.float32).flip(0)  # example i has loss 99 - i: 60..99 are easy
    order = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    kept, weights = select_examples(cfg, scores, order, seed=0, epoch=1)
    dropped = set(range(100)) - set(kept.tolist())
    assert len(kept) == 70 and dropped <= set(range(40, 100))  # 30 of the 60 lowest-loss examples skipped
    assert kept.tolist() == [i for i in order.tolist() if i not in dropped]  # shuffled order preserved
    assert set(torch.nonzero(weights == 2.0).flatten().tolist()) == set(range(40, 100)) - dropped
    assert (weights[:40] == 1).all()
    again, _ = select_examples(cfg, scores, order, seed=0, epoch=1)
    assert torch.equal(kept, again) and not torch.equal(kept, select_examples(cfg, scores, order, seed=0, epoch=2)[0])
    train_cfg = TrainConfig.from_dict({"epochs": 4, "batch_size": 10,
                                       "dynamic_pruning": {"ratio": 0.5, "pool_rule": "quantile", "pool": 0.6}})
    assert epoch_steps(train_cfg, 100) == [10, 7, 7, 10]  # floor(0.875 * 4) = 3: epoch 3 uses all data


def test_dynamic_pruning_trains_on_fewer_steps_and_resumes(data, tmp_path):
    train_set, _ = data  # 200 examples, batch 64: 4 steps a full epoch, 3 a pruned one (200 - 60 kept)
    cfg = {**TINY, "epochs": 4, "dynamic_pruning": {"ratio": 0.5, "pool_rule": "quantile", "pool": 0.6, "anneal": 0.75}}
    recorder = RecordStats()
    reference = run(train_set, cfg=cfg, callbacks=[recorder])
    assert reference.train_steps == 4 + 3 + 3 + 4 and reference.epochs == pytest.approx(4)
    seen_per_epoch = recorder.stacked("seen").sum(1).tolist()
    assert seen_per_epoch == [200, 140, 140, 200]
    checkpoint = tmp_path / "probe.pt"
    with pytest.raises(Interrupt):
        run(train_set, cfg=cfg, checkpoint_path=checkpoint, callbacks=[StopAfter(epoch=2)])
    resumed = run(train_set, cfg=cfg, checkpoint_path=checkpoint)  # the scores come back from epoch 1
    assert state_equal(reference.model, resumed.model)
    with pytest.raises(PrunebenchError, match="dynamic_pruning"):
        TrainConfig.from_dict({"dynamic_pruning": {"ratio": 1.0}})


def test_dynamic_pruning_anneals_like_infobatch():
    """Official InfoBatch: prune in epochs < floor(C δ), epoch 0 prunes nothing (uniform scores):
    at 10 epochs and δ = 0.875 epochs 1-7 prune, 8-9 use all data; also for fractional C δ."""
    from prunebench.training.config import DynamicPruning
    from prunebench.training.dynamic import pruning_epoch

    cfg = DynamicPruning(ratio=0.5)
    assert [e for e in range(10) if pruning_epoch(cfg, e, 10)] == list(range(1, 8))
    assert [e for e in range(20) if pruning_epoch(cfg, e, 20)] == list(range(1, 17))  # 20 δ = 17.5
    assert DynamicPruning().pool_rule == "mean"


def test_dynamic_pruning_mean_pool_is_below_the_mean_loss():
    """InfoBatch's pool: losses below the mean of the seen ones; int((1 - r)|D1|) of it kept, weight 1/(1 - r)."""
    from prunebench.training.config import DynamicPruning
    from prunebench.training.dynamic import select_examples

    cfg = DynamicPruning(ratio=0.3)
    scores = torch.tensor([0.1, 0.2, 0.3, 5.0, 6.0, 0.15, 0.25, float("inf"), 4.0, 0.05])  # mean of seen: 1.778
    order = torch.arange(10)
    kept, weights = select_examples(cfg, scores, order, seed=0, epoch=1)
    pool = {0, 1, 2, 5, 6, 9}
    dropped = set(range(10)) - set(kept.tolist())
    assert dropped <= pool and len(dropped) == 6 - int(0.7 * 6)  # 2 skipped, 4 kept
    assert set(torch.nonzero(weights != 1).flatten().tolist()) == pool - dropped
    assert torch.allclose(weights[sorted(pool - dropped)], torch.tensor(1 / 0.7))
    assert 7 in kept.tolist()  # unseen (inf) examples are never in the pool
    nothing, _ = select_examples(cfg, torch.full((10,), float("inf")), order, seed=0, epoch=1)
    assert torch.equal(nothing, order)


def test_dynamic_pruning_mean_pool_keeps_the_schedules_on_the_epoch_clock(data, tmp_path):
    """Mean pool: epoch lengths depend on the losses, so lr/resize/lookahead/whitening read the
    schedule clock: the run takes fewer optimizer steps but ends each epoch at the lr the full-data
    run has there, stops after exactly `epochs` epochs, and resumes bit-identically."""
    train_set, _ = data  # 200 examples, batch 64: 4 steps per full epoch
    recipe = {**TINY, "epochs": 4, "lookahead": {"every": 2}, "progressive_resize": {"min_res": 12}, "whiten_bias_epochs": 2}
    cfg = {**recipe, "dynamic_pruning": {"ratio": 0.5, "anneal": 0.75}}
    full = run(train_set, cfg=recipe)
    recorder = RecordStats()
    reference = run(train_set, cfg=cfg, callbacks=[recorder])
    seen = recorder.stacked("seen").sum(1).tolist()
    assert seen[0] == 200 and seen[3] == 200 and all(n < 200 for n in seen[1:3])  # epochs 1, 2 prune
    assert reference.train_steps < full.train_steps == 16 and reference.epochs == pytest.approx(4)
    assert len(reference.history) == 4
    for pruned, plain in zip(reference.history, full.history):  # same lr at every epoch end
        assert pruned["lr"] == pytest.approx(plain["lr"], rel=1e-9, abs=1e-12)
    checkpoint = tmp_path / "probe.pt"
    with pytest.raises(Interrupt):
        run(train_set, cfg=cfg, checkpoint_path=checkpoint, callbacks=[StopAfter(epoch=1)])
    resumed = run(train_set, cfg=cfg, checkpoint_path=checkpoint)
    assert resumed.train_steps == reference.train_steps and state_equal(reference.model, resumed.model)
    budget = run(train_set, cfg=cfg, steps=10)  # an explicit step budget is exact optimizer steps
    assert budget.train_steps == 10


def test_whitening_bias_freezes_after_its_epochs(data):
    train_set, _ = data

    class BiasTrace(Callback):
        def __init__(self):
            self.biases = []

        def on_train_start(self, model, train_set):
            self.biases.append(model.whiten.bias.detach().clone())

        def on_epoch_end(self, epoch, stats, model):
            self.biases.append(model.whiten.bias.detach().clone())

    trace = BiasTrace()
    run(train_set, cfg={**TINY, "whiten_bias_epochs": 1}, callbacks=[trace])
    initial, after_first, *later = trace.biases
    assert not torch.equal(initial, after_first)  # trained during epoch 0
    assert all(torch.equal(after_first, bias) for bias in later)  # frozen afterwards


def test_train_config_rejects_unknown_keys():
    with pytest.raises(PrunebenchError, match=r"^probe has no key\(s\) epoch; known: .*epochs"):
        TrainConfig.from_dict({"epoch": 3})
    with pytest.raises(PrunebenchError, match="pad_mode"):
        TrainConfig.from_dict({"augmentation": {"pad_mode": "wrap"}})
    with pytest.raises(PrunebenchError, match="flip"):
        TrainConfig.from_dict({"augmentation": {"flip": "sometimes"}})
    with pytest.raises(PrunebenchError, match=r"^probe.lookahead has no key\(s\) evry"):
        TrainConfig.from_dict({"lookahead": {"evry": 5}})
    with pytest.raises(PrunebenchError, match="lr_end"):
        TrainConfig.from_dict({"lr_end": 2})


@pytest.mark.parametrize("section, defaults", [
    ("probe", {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}),
    ("data", __import__("prunebench.data.loading", fromlist=["DEFAULTS"]).DEFAULTS),
])
def test_schema_defaults_match_the_code(section, defaults):
    schema = yaml.safe_load((REPO_ROOT / "workflow" / "schemas" / f"{section}.schema.yaml").read_text())
    for key, value in defaults.items():
        assert schema["properties"][key].get("default") == value, key
    assert set(schema["properties"]) >= set(defaults)


def test_train_cli_writes_summary(tmp_path, monkeypatch):
    from PIL import Image

    from prunebench.cli import main as cli_main

    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 6)):
        for label, name in enumerate(("a", "b")):
            folder = tmp_path / "data" / "toy" / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 60, (16, 16, 3)) + 150 * label
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index}.png")
    config = dict(name="toy", seed=0, device="cpu",
                  data=dict(dataset="cifar10", root=str(tmp_path / "data"), path="toy", image_size=16,
                            cache_dir=str(tmp_path / "cache")),
                  probe={**TINY, "model_kwargs": {"width": [8, 16, 16]}, "epochs": 2, "batch_size": 8})
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "train.json"
    assert cli_main(["train", "--config", str(path), "--out", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["train_size"] == 24 and summary["test_size"] == 12
    assert summary["train_steps"] == 6 and 0 <= summary["test_accuracy"] <= 1
    assert summary["task"] == "image-classification" and summary["eval_metric"] == "accuracy"
    assert summary["eval_value"] == summary["test_accuracy"] and summary["eval_higher_is_better"] is True
