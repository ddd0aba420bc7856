"""The one training loop (airbench style): uint8 data resident on the device, batched augmentation,
label smoothing, SGD-Nesterov with a per-step schedule, per-example stats every epoch, checkpoints.

Residency (:func:`resident_mode`): in-memory images go to the device whole, as always; memory-mapped
ones (a large cache, or a :class:`~prunebench.data.RowView` subset of it) stay on the host when
training on the CPU or when they exceed ``DEVICE_FRACTION`` of the accelerator's memory, and each
batch's rows are gathered from the map and moved to the device (:class:`HostImages`); the
augmentation then runs on the device exactly as for device-resident data, so results are the same.

Randomness: the model is initialised by the caller (see :func:`build_model`); everything else is
drawn from generators seeded by ``derive_seed(seed, ...)`` — epoch ``e`` uses its own generator, so
a run resumed from a checkpoint continues bit-identically on the CPU.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from prunebench.data.dataset import ImageDataset, host_rows, is_memory_mapped, normalize
from prunebench.errors import PrunebenchError
from prunebench.models import create_model, embed
from prunebench.seeding import derive_seed
from prunebench.training.augment import (
    alternating_flips, crop_batch, draw_epoch_augmentation, flip_batch, translate_batch,
)
from prunebench.training.callbacks import EpochStats
from prunebench.training.config import TrainConfig, tta_level
from prunebench.training.dynamic import (clock_stride, clocked, epoch_steps, epochs_to_steps, lookahead_on_clock,
                                         planned_by_epoch_steps, pruning_epoch, select_examples)
from prunebench.training.lookahead import lookahead_sync
from prunebench.training.checkpoint import load_checkpoint, run_fingerprint, save_checkpoint
from prunebench.training.device import _synchronize, autocast, resolve_device, training_context
from prunebench.training.optim import advance_schedule, build_optimizer, lr_factor, param_groups

__all__ = ["HostImages", "TrainResult", "accuracy",
           "build_model", "build_optimizer", "embed_dataset", "lr_factor", "param_groups",
           "predict", "resident_mode", "resolve_device", "run_fingerprint", "train", "training_context"]

# Memory-mapped training images larger than this fraction of the accelerator's memory stay on the host.
DEVICE_FRACTION = 0.25
RESIDENT_MODES = ("auto", "device", "host")
COPY_ROWS = 4096  # rows per host-to-device chunk when a memory-mapped set is moved to the device


@dataclass
class TrainResult:
    """What :func:`train` returns. ``wall_time_s`` counts training only (not evaluation)."""

    model: nn.Module
    history: list[dict] = field(default_factory=list)
    test_accuracy: float | None = None
    train_steps: int = 0
    wall_time_s: float = 0.0
    epochs: float = 0.0
    test_logits: np.ndarray | None = None


# ----------------------------------------------------------------------------------------------
# Set-up helpers
# ----------------------------------------------------------------------------------------------



def build_model(cfg: TrainConfig | dict, num_classes: int, seed: int) -> nn.Module:
    """Create ``cfg.model`` with weights initialised from ``derive_seed(seed, "init")``."""
    cfg = cfg if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        return create_model(cfg.model, num_classes, **cfg.model_kwargs)




def images_on_device(dataset: ImageDataset, device: torch.device) -> torch.Tensor:
    """uint8 N×3×H×W view of the dataset's N×H×W×3 array, on ``device`` (a memory map is copied
    over in ``COPY_ROWS`` chunks, so the host never holds a second whole copy)."""
    images = dataset.images
    if not is_memory_mapped(images):
        return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2)
    out = torch.empty(tuple(images.shape), dtype=torch.uint8, device=device)
    for start in range(0, len(images), COPY_ROWS):
        out[start:start + COPY_ROWS].copy_(torch.from_numpy(host_rows(images, slice(start, start + COPY_ROWS))))
    return out.permute(0, 3, 1, 2)


class HostImages:
    """Training images left on the host (a memory map or :class:`~prunebench.data.RowView`), indexed
    like the device tensor :func:`images_on_device` returns: ``self[positions]`` gathers those rows
    from the map and returns them on ``device`` as uint8 B×3×H×W, so :func:`prepare_batch` is unchanged."""

    def __init__(self, images, device: torch.device):
        self.images, self.device = images, device
        n, h, w, c = images.shape
        self.shape = torch.Size((n, c, h, w))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, positions) -> torch.Tensor:
        rows = positions.cpu().numpy() if isinstance(positions, torch.Tensor) else np.asarray(positions)
        batch = torch.from_numpy(host_rows(self.images, rows))
        return batch.to(self.device, non_blocking=False).permute(0, 3, 1, 2)


def resident_mode(images, device: torch.device, resident: str = "auto") -> str:
    """``device`` or ``host``: where the training images live. ``auto``: in-memory images on the
    device (as always); memory-mapped ones on the host when the device is the CPU (gathering a
    batch from the page cache costs what gathering it from RAM does, and no copy is made) or when
    they exceed ``DEVICE_FRACTION`` of the accelerator's memory (ImageNet: 193 GB > 141 GB)."""
    if resident not in RESIDENT_MODES:
        raise PrunebenchError(f"resident is '{resident}'; use one of {', '.join(RESIDENT_MODES)}")
    if resident != "auto":
        return resident
    if not is_memory_mapped(images):
        return "device"
    nbytes = int(np.prod(images.shape)) * np.dtype(images.dtype).itemsize
    return "device" if nbytes <= DEVICE_FRACTION * device_memory(device) else "host"


def device_memory(device: torch.device) -> int:
    """Total memory of an accelerator in bytes; 0 for the CPU and devices that do not say (host-resident)."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return 0


def training_images(dataset: ImageDataset, device: torch.device, resident: str = "auto"):
    """The uint8 N×3×H×W images training indexes: a device tensor or :class:`HostImages` (see :func:`resident_mode`)."""
    if resident_mode(dataset.images, device, resident) == "host":
        return HostImages(dataset.images, device)
    return images_on_device(dataset, device)








def init_whitening(model: nn.Module, train_set: ImageDataset, cfg: TrainConfig, seed: int, device) -> None:
    """airbench's patch-whitening init from a seeded sample of training images (if the model has it)."""
    if not (cfg.whiten_init and hasattr(model, "init_whitening")):
        return
    rng = np.random.default_rng(derive_seed(seed, "whiten"))
    count = min(cfg.whiten_samples, len(train_set))
    positions = np.sort(rng.choice(len(train_set), size=count, replace=False))
    images = normalize(torch.from_numpy(host_rows(train_set.images, positions)).to(device), train_set.channel_stats)
    model.init_whitening(images)







# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

def prepare_batch(images_u8: torch.Tensor, positions: torch.Tensor, flips, shifts, cfg: TrainConfig, stats,
                  resolution: int | None = None, crops: torch.Tensor | None = None):
    """Gather, augment and normalise one batch (on the device; ``images_u8`` may be
    :class:`HostImages`, which gathers on the host and moves the batch over): mirror, translate, crop at
    ``crops`` (top, left) offsets, then downscale to ``resolution``. The pixel moves run on the
    uint8 images (normalising is per channel, so the result is the same, at a quarter of the
    memory traffic); zero padding is the mean colour, so it pads after normalising."""
    batch = images_u8[positions]
    aug = cfg.augmentation
    if aug.flip:
        batch = flip_batch(batch, flips)
    pad_with_mean = aug.pad_mode == "zeros" and aug.translate > 0
    if pad_with_mean:
        batch = normalize(batch.contiguous(), stats)
    batch = translate_batch(batch, shifts, aug.translate, aug.pad_mode)
    if aug.crop:
        batch = crop_batch(batch, crops, aug.crop, aug.crop)
    if not pad_with_mean:
        batch = normalize(batch.contiguous(), stats)
    if resolution is not None and resolution != batch.shape[-1]:
        batch = F.interpolate(batch, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    return batch.contiguous(memory_format=torch.channels_last if cfg.channels_last else torch.contiguous_format)


def whiten_bias_steps(cfg: TrainConfig, num_examples: int) -> float:
    """Steps during which the whitening bias trains (``cfg.whiten_bias_epochs``; inf = always)."""
    if cfg.whiten_bias_epochs is None:
        return math.inf
    if planned_by_epoch_steps(cfg):
        return epochs_to_steps(cfg, num_examples, cfg.whiten_bias_epochs)
    return cfg.whiten_bias_epochs * math.ceil(num_examples / cfg.batch_size)


def planned_steps(cfg: TrainConfig, num_examples: int) -> int:
    """Optimizer steps of a ``cfg.epochs`` run (fewer with the quantile pool's shorter epochs; with
    the mean pool: the full-data plan, read on the schedule clock, see :mod:`.dynamic`)."""
    if planned_by_epoch_steps(cfg):
        return max(1, round(sum(epoch_steps(cfg, num_examples))))
    return max(1, round(cfg.epochs * math.ceil(num_examples / cfg.batch_size)))


def set_whiten_bias_trainable(model: nn.Module, trainable: bool) -> None:
    """Freeze or thaw the model's input-layer bias when the model offers it (airbench's
    ``set_input_bias_trainable``: the model owns the trick, the loop only keeps its schedule)."""
    setter = getattr(model, "set_input_bias_trainable", None)
    if setter is not None:
        setter(trainable)


def epoch_augmentation(num_examples: int, cfg: TrainConfig, seed: int, epoch: int, side: int = 0):
    """(order, flips, shifts, crop offsets or None) of one epoch, drawn from seeded CPU generators;
    ``side`` is the training images' side length (needed for crops)."""
    aug = cfg.augmentation
    generator = torch.Generator().manual_seed(derive_seed(seed, "epoch", epoch))
    order = torch.randperm(num_examples, generator=generator)
    flips, shifts = draw_epoch_augmentation(num_examples, aug.translate, generator)
    if aug.flip_mode == "alternate":
        flips = alternating_flips(num_examples, torch.Generator().manual_seed(derive_seed(seed, "flip")), epoch)
    crops = None
    if aug.crop:
        if aug.crop > side:
            raise PrunebenchError(f"probe.augmentation.crop ({aug.crop}) exceeds the {side}-pixel images; use crop <= {side}")
        crops = torch.randint(0, side - aug.crop + 1, (num_examples, 2), generator=generator)
    return order, flips, shifts, crops




def train_epoch(model, optimizer, scheduler, data, cfg: TrainConfig, *, epoch: int, seed: int, step: int,
                total_steps: int, stats: EpochStats | None, progress, averages: dict,
                scores: torch.Tensor | None = None, clock: float | None = None,
                clock_on: bool = False) -> tuple[int, float, float, float]:
    """One pass over the shuffled data (or until ``total_steps``). Returns (step, clock, mean loss,
    accuracy). ``averages`` holds the lookahead EMA (see :mod:`prunebench.training.lookahead`) and
    ``scores`` the last-seen losses for dynamic pruning (:mod:`prunebench.training.dynamic`), both
    updated in place. The schedules (lr, resize, lookahead decay, whitening freeze) read ``clock``:
    the optimizer step, or with ``clock_on`` dynamic pruning's schedule clock, which advances by
    ceil(N / B) / (this epoch's steps) per step (:func:`~prunebench.training.dynamic.clock_stride`)."""
    images_u8, labels, device, channel_stats = data
    clock = float(step) if clock is None else float(clock)
    epoch_start = clock
    order, flips, shifts, crops = epoch_augmentation(len(labels), cfg, seed, epoch, side=images_u8.shape[-1])
    weights = None
    if scores is not None and pruning_epoch(cfg.dynamic_pruning, epoch, cfg.epochs):
        order, weights = select_examples(cfg.dynamic_pruning, scores, order, seed=seed, epoch=epoch)
    stride = clock_stride(cfg, len(labels), len(order), clock_on)
    train_side = cfg.augmentation.crop or images_u8.shape[-1]
    model.train()
    whiten_bias_last_step = whiten_bias_steps(cfg, len(labels))
    loss_sum, correct_sum, seen, finished = 0.0, 0, 0, True
    for start in range(0, len(order), cfg.batch_size):
        if clock >= total_steps:
            finished = False
            break
        cpu_positions = order[start:start + cfg.batch_size]
        positions = cpu_positions.to(device)
        set_whiten_bias_trainable(model, clock < whiten_bias_last_step)
        resolution = cfg.progressive_resize.resolution(clock, total_steps, train_side)
        inputs = prepare_batch(images_u8, positions, flips[cpu_positions].to(device),
                               shifts[cpu_positions].to(device), cfg, channel_stats, resolution,
                               None if crops is None else crops[cpu_positions].to(device))
        targets = labels[positions]
        with autocast(cfg, device):
            logits = model(inputs)
        if scores is None:
            loss = F.cross_entropy(logits.float(), targets, label_smoothing=cfg.label_smoothing)
        else:  # dynamic pruning: per-example losses become the scores; kept well-learned ones are up-weighted
            example_losses = F.cross_entropy(logits.float(), targets, label_smoothing=cfg.label_smoothing, reduction="none")
            scores[cpu_positions] = example_losses.detach().cpu()
            batch_weights = 1.0 if weights is None else weights[cpu_positions].to(device)
            loss = (example_losses * batch_weights).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        clock = clock + stride if clock_on else float(step)
        advance_schedule(scheduler, clock, clock_on)
        lookahead_on_clock(model, averages, cfg.lookahead, epoch=epoch, step=step, clock=clock, total_steps=total_steps)
        logits = logits.detach().float()
        loss_sum += loss.item() * len(targets)
        correct_sum += int((logits.argmax(1) == targets).sum())
        seen += len(targets)
        if stats is not None:
            losses = F.cross_entropy(logits, targets, reduction="none")
            stats.record(cpu_positions.numpy(), logits.cpu().numpy(), losses.cpu().numpy())
        progress.update(1)
    lookahead_sync(model, averages)
    if clock_on and finished:  # a whole epoch spans exactly ceil(N / B) clock units (no float drift)
        clock = min(epoch_start + math.ceil(len(labels) / cfg.batch_size), float(total_steps))
    return step, clock, loss_sum / max(seen, 1), correct_sum / max(seen, 1)


def train(model: nn.Module, train_set: ImageDataset, cfg: TrainConfig | dict, *, seed: int, device="cpu",
          test_set: ImageDataset | None = None, callbacks=(), steps: int | None = None,
          checkpoint_path: str | os.PathLike | None = None, resident: str = "auto") -> TrainResult:
    """Train ``model`` on ``train_set``; ``steps`` (exact optimizer steps) overrides ``cfg.epochs``.

    ``resident`` (``auto``, ``device``, ``host``) says where the training images live during
    training (see :func:`resident_mode`); the result does not depend on it.

    Every callback's ``on_epoch_end(epoch, stats, model)`` gets that epoch's :class:`EpochStats`.
    With ``checkpoint_path``, state is saved after every epoch and an existing checkpoint of the
    same run is resumed (callbacks then see only the remaining epochs).
    """
    cfg = cfg if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(cfg)
    device = resolve_device(device)
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    total_steps = int(steps) if steps is not None else planned_steps(cfg, len(train_set))
    if total_steps <= 0:
        raise PrunebenchError(f"steps must be positive (got {steps})")
    with training_context(cfg, device):
        model.to(device)
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        optimizer, scheduler = build_optimizer(model, cfg, total_steps)
        fingerprint = run_fingerprint(cfg, train_set, seed, total_steps)
        state = dict(fingerprint=fingerprint, epoch=0, step=0, clock=0.0, wall_time_s=0.0, history=[], lookahead={},
                     scores=torch.full((len(train_set),), math.inf) if cfg.dynamic_pruning.ratio else None)
        checkpoint = Path(checkpoint_path) if checkpoint_path else None
        if checkpoint is not None and checkpoint.exists():
            state = load_checkpoint(checkpoint, model, optimizer, scheduler, fingerprint, device)
        else:
            torch.manual_seed(derive_seed(seed, "train"))  # for any randomness inside the model
            init_whitening(model, train_set, cfg, seed, device)
        for callback in callbacks:
            getattr(callback, "on_train_start", lambda *a: None)(model, train_set)
        data = (training_images(train_set, device, resident), torch.from_numpy(train_set.labels).to(device), device,
                train_set.channel_stats)
        progress = _progress_bar(cfg, total_steps, state["step"])
        clock_on = clocked(cfg, steps)
        while state["clock"] < total_steps:
            run_one_epoch(model, optimizer, scheduler, data, cfg, state, train_set, test_set, seed, total_steps,
                          callbacks, progress, device, clock_on)
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, optimizer, scheduler, state)
        progress.close()
        result = TrainResult(model=model, history=state["history"], train_steps=state["step"],
                             wall_time_s=state["wall_time_s"], epochs=completed_epochs(cfg, state["clock"], total_steps,
                                                                                    steps_per_epoch, steps))
        if test_set is not None:
            result.test_logits = predict(model, test_set, device=device, batch_size=cfg.eval_batch_size, tta=cfg.tta,
                                         bf16=cfg.bf16, channels_last=cfg.channels_last)
            result.test_accuracy = accuracy(result.test_logits, test_set.labels)
    for callback in callbacks:
        getattr(callback, "on_train_end", lambda *a: None)(result)
    return result


def completed_epochs(cfg: TrainConfig, step: float, total_steps: int, steps_per_epoch: int, steps_override) -> float:
    """Passes over the data after ``step`` steps, or schedule-clock units (dynamic pruning's epochs
    are shorter than N / batch)."""
    if cfg.dynamic_pruning.ratio and steps_override is None:
        return cfg.epochs * step / total_steps
    return step / steps_per_epoch


def run_one_epoch(model, optimizer, scheduler, data, cfg, state, train_set, test_set, seed, total_steps, callbacks,
                  progress, device, clock_on: bool = False) -> None:
    """Train one epoch, log it in ``state['history']`` and call the callbacks."""
    epoch = state["epoch"]
    stats = EpochStats.empty(epoch, train_set.ids, train_set.labels, train_set.num_classes) if callbacks else None
    _synchronize(device)
    start = time.perf_counter()
    step, clock, loss, acc = train_epoch(model, optimizer, scheduler, data, cfg, epoch=epoch, seed=seed,
                                         step=state["step"], total_steps=total_steps, stats=stats, progress=progress,
                                         averages=state["lookahead"], scores=state["scores"],
                                         clock=state.get("clock", state["step"]), clock_on=clock_on)
    _synchronize(device)
    state["wall_time_s"] += time.perf_counter() - start
    state.update(epoch=epoch + 1, step=step, clock=clock)
    record = dict(epoch=epoch, step=step, lr=optimizer.param_groups[0]["lr"], train_loss=loss, train_accuracy=acc,
                  wall_time_s=state["wall_time_s"])
    if test_set is not None and cfg.eval_every and (epoch + 1) % cfg.eval_every == 0 and clock < total_steps:
        logits = predict(model, test_set, device=device, batch_size=cfg.eval_batch_size, tta=cfg.tta,
                         bf16=cfg.bf16, channels_last=cfg.channels_last)
        record["test_accuracy"] = accuracy(logits, test_set.labels)
    state["history"].append(record)
    progress.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.3f}")
    for callback in callbacks:
        callback.on_epoch_end(epoch, stats, model)


def _progress_bar(cfg: TrainConfig, total: int, initial: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", desc="train", leave=False,
                disable=not (cfg.progress and sys.stderr.isatty()))




# ----------------------------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------------------------

def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(1) == np.asarray(labels)).mean())


@torch.no_grad()
def _map_batches(fn, model: nn.Module, dataset: ImageDataset, device, batch_size: int, channels_last: bool,
                 bf16: bool) -> np.ndarray:
    """Apply ``fn(model, normalised batch)`` over the dataset in eval mode; float32 numpy out. Each
    slice of rows is read on the host (from the map, when memory-mapped) and moved to the device alone."""
    device = resolve_device(device)
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for start in range(0, len(dataset), batch_size):
            batch = torch.from_numpy(host_rows(dataset.images, slice(start, start + batch_size))).to(device)
            inputs = normalize(batch, dataset.channel_stats)
            inputs = inputs.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda"):
                outputs.append(fn(model, inputs).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, 0), dtype=np.float32)


def predict(model: nn.Module, dataset: ImageDataset, *, device="cpu", batch_size: int = 1000, tta: bool | int = False,
            bf16: bool = False, channels_last: bool = False) -> np.ndarray:
    """Logits (float32 N×C) in dataset order. ``tta`` level (airbench's): 0/False none; 1/True mean
    with the mirror image; 2 also averages the mirrored pair of two 1-pixel diagonal translations
    (reflect padding), weighted ½ untranslated + ½ translated."""
    level = tta_level(tta)

    def mirrored(net, x):
        logits = net(x)
        return 0.5 * (logits + net(x.flip(-1))) if level >= 1 else logits

    def forward(net, x):
        logits = mirrored(net, x)
        if level < 2:
            return logits
        h, w = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        shifted = [padded[..., :h, :w], padded[..., 2:h + 2, 2:w + 2]]
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        translated = sum(mirrored(net, view.contiguous(memory_format=layout)) for view in shifted) / 2
        return 0.5 * logits + 0.5 * translated

    return _map_batches(forward, model, dataset, device, batch_size, channels_last, bf16)


def embed_dataset(model: nn.Module, dataset: ImageDataset, *, device="cpu", batch_size: int = 1000,
                  bf16: bool = False, channels_last: bool = False) -> np.ndarray:
    """Penultimate-layer embeddings (float32 N×D) in dataset order (see :func:`prunebench.models.embed`)."""
    return _map_batches(embed, model, dataset, device, batch_size, channels_last, bf16)
