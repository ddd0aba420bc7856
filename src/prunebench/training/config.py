"""``TrainConfig``: the ``probe`` section of a config as a typed, validated object."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from prunebench.errors import PrunebenchError

SCHEDULES = ("onecycle", "linear", "constant")
PAD_MODES = ("reflect", "zeros")
FLIP_MODES = (True, False, "random", "alternate")


@dataclass(frozen=True)
class Augmentation:
    """Batched, on-device training augmentation."""

    flip: bool | str = True  # horizontal mirror: true/"random" per epoch, "alternate" (airbench), false off
    translate: int = 2  # random shift of up to this many pixels (pad + crop)
    pad_mode: str = "reflect"  # "reflect" or "zeros" (zeros = the mean colour, after normalising)
    crop: int = 0  # train on random crop×crop windows (no padding; the test set stays full size); 0 = off

    @classmethod
    def from_dict(cls, values: dict | None) -> "Augmentation":
        values = dict(values or {})
        _reject_unknown(values, cls, "probe.augmentation")
        if values.get("pad_mode", "reflect") not in PAD_MODES:
            raise PrunebenchError(f"probe.augmentation.pad_mode must be one of {', '.join(PAD_MODES)}")
        if values.get("crop", 0) < 0:
            raise PrunebenchError("probe.augmentation.crop is a side length in pixels (0 = off)")
        if values.get("flip", True) not in FLIP_MODES:
            raise PrunebenchError("probe.augmentation.flip must be true/false, 'random' or 'alternate'")
        return cls(**values)

    @property
    def flip_mode(self) -> str | None:
        """None (no flips), "random" or "alternate"."""
        if self.flip is False:
            return None
        return "random" if self.flip is True else self.flip


class _CheckedSection:
    """A ``probe`` sub-section: ``from_dict`` rejects unknown keys, then ``valid()`` must hold
    (else one error line stating ``RULE``)."""

    SECTION = ""
    RULE = ""

    @classmethod
    def from_dict(cls, values: dict | None):
        values = dict(values or {})
        _reject_unknown(values, cls, cls.SECTION)
        config = cls(**values)
        if not config.valid():
            raise PrunebenchError(f"{cls.SECTION} needs {cls.RULE}")
        return config


@dataclass(frozen=True)
class ProgressiveResize(_CheckedSection):
    """Progressive resizing (fast.ai/FFCV): train early steps on downscaled images.

    The side length grows linearly from ``min_res`` at fraction ``start`` of the steps to the full
    image size at fraction ``end``, rounded down to a multiple of ``multiple`` pixels; images are
    resized with antialiased bilinear interpolation after augmentation. ``min_res: 0`` = off.
    """

    min_res: int = 0
    start: float = 0.0
    end: float = 0.75
    multiple: int = 4

    SECTION = "probe.progressive_resize"
    RULE = "min_res >= 0, multiple >= 1 and 0 <= start <= end <= 1"

    def valid(self) -> bool:
        return self.min_res >= 0 and self.multiple >= 1 and 0 <= self.start <= self.end <= 1

    def resolution(self, step: int, total_steps: int, full: int) -> int:
        """Side length for ``step`` of ``total_steps`` (``full`` when off or past ``end``)."""
        if not self.min_res or self.min_res >= full:
            return full
        progress = step / max(total_steps, 1)
        ramp = 1.0 if progress >= self.end else max(0.0, progress - self.start) / max(self.end - self.start, 1e-12)
        side = self.min_res + ramp * (full - self.min_res)
        return min(full, max(self.multiple, int(side) // self.multiple * self.multiple))


@dataclass(frozen=True)
class Lookahead(_CheckedSection):
    """airbench94's lookahead-style EMA of the weights (``every: 0`` = off).

    From epoch ``start_epochs`` on, every ``every`` steps: θ̄ ← ρ θ̄ + (1 − ρ) θ and then θ ← θ̄,
    with ρ = decay_base^every · (step / total_steps)^decay_pow (weak averaging early, strong late);
    at each epoch end θ ← θ̄. BatchNorm running statistics are averaged the same way.
    """

    every: int = 0
    start_epochs: float = 3.0
    decay_base: float = 0.95
    decay_pow: float = 3.0

    SECTION = "probe.lookahead"
    RULE = "every >= 0, start_epochs >= 0, 0 <= decay_base <= 1 and decay_pow >= 0"

    def valid(self) -> bool:
        return self.every >= 0 and self.start_epochs >= 0 and 0 <= self.decay_base <= 1 and self.decay_pow >= 0


@dataclass(frozen=True)
class DynamicPruning(_CheckedSection):
    """Per-epoch example selection (``ratio: 0`` = off): InfoBatch (:mod:`prunebench.training.dynamic`,
    the default ``rule``) or another registered sampler, e.g. RS2 (:mod:`prunebench.training.samplers`)."""

    ratio: float = 0.0  # InfoBatch: fraction of the well-learned pool skipped per pruning epoch (0.5); RS2: of all N
    pool_rule: str = "mean"  # mean: pool = loss below the mean (InfoBatch); quantile: the `pool` lowest fraction
    pool: float = 0.6  # quantile rule only: the lowest-loss fraction of examples that forms the pool
    anneal: float = 0.875  # epochs from floor(anneal * epochs) on train on every example (InfoBatch's delta)
    rule: str = "infobatch"  # the sampler: infobatch, rs2 (w/o replacement), rs2-with-replacement

    SECTION = "probe.dynamic_pruning"
    RULE = "0 <= ratio < 1, pool_rule mean or quantile, 0 <= pool <= 1, 0 <= anneal <= 1 and a registered rule"
    OMITTED_AT_DEFAULT = ("rule",)  # added after runs were fingerprinted: left out of to_dict at its default

    def valid(self) -> bool:
        from prunebench.training.samplers import list_samplers

        return (0 <= self.ratio < 1 and self.pool_rule in ("mean", "quantile") and 0 <= self.pool <= 1
                and 0 <= self.anneal <= 1 and self.rule in list_samplers())

    def to_dict(self) -> dict:
        """The fields, without those of ``OMITTED_AT_DEFAULT`` left at their defaults (so the
        fingerprint of every run made before they existed is unchanged)."""
        values = dataclasses.asdict(self)
        for name in self.OMITTED_AT_DEFAULT:
            if values[name] == DynamicPruning.__dataclass_fields__[name].default:
                del values[name]
        return values


@dataclass(frozen=True)
class Muon(_CheckedSection):
    """Muon for the conv filters (see :mod:`prunebench.training.muon`; ``lr: 0`` = off, all SGD).

    Filters take Muon steps of ``lr`` (airbench94_muon: 0.24 at batch 2000) with their own
    ``momentum``; every other parameter keeps the SGD settings of ``probe``.
    """

    lr: float = 0.0
    momentum: float = 0.6
    nesterov: bool = True
    ns_steps: int = 3  # Newton-Schulz iterations

    SECTION = "probe.muon"
    RULE = "lr >= 0, 0 <= momentum < 1 and ns_steps >= 1"

    def valid(self) -> bool:
        return self.lr >= 0 and 0 <= self.momentum < 1 and self.ns_steps >= 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything the training loop needs, with the fast-probe defaults.

    ``lr`` is the peak learning rate for the mean (label-smoothed) cross-entropy over a batch of
    ``batch_size``. Parameters with ≤1 dimension (norm biases, conv biases) train with
    ``lr * bias_lr_scale`` and ``weight_decay / bias_lr_scale`` (airbench's trick; 1 = off).
    ``epochs`` may be fractional; ``train(..., steps=S)`` overrides it with exactly S steps.
    """

    model: str = "airbench"
    model_kwargs: dict = field(default_factory=dict)
    epochs: float = 10.0
    batch_size: int = 500
    lr: float = 0.4
    momentum: float = 0.85
    nesterov: bool = True
    weight_decay: float = 5e-4
    bias_lr_scale: float = 1.0
    label_smoothing: float = 0.2
    schedule: str = "onecycle"  # onecycle: warm up from warmup_start*lr over `warmup`, then linear to lr_end*lr
    warmup: float = 0.2  # fraction of all steps spent warming up (onecycle)
    warmup_start: float = 0.2  # onecycle starts at this fraction of lr
    lr_end: float = 0.0  # onecycle/linear end at this fraction of lr (airbench94: 0.07)
    muon: Muon = field(default_factory=Muon)
    lookahead: Lookahead = field(default_factory=Lookahead)
    dynamic_pruning: DynamicPruning = field(default_factory=DynamicPruning)
    augmentation: Augmentation = field(default_factory=Augmentation)
    progressive_resize: ProgressiveResize = field(default_factory=ProgressiveResize)
    whiten_init: bool = True  # init a model's whitening layer (if it has one) from training patches
    whiten_samples: int = 5000
    whiten_bias_epochs: float | None = None  # freeze the whitening bias after this many epochs (airbench: 3; None = never)
    tta: bool | int = True  # test-time augmentation level: 0/false none, 1/true +mirror, 2 +1-px shifts
    eval_batch_size: int = 1000
    eval_every: int = 0  # evaluate on the test set every k epochs (0 = only at the end)
    threads: int | None = None  # torch.set_num_threads during training (None = leave as is)
    deterministic: bool = True  # CUDA: deterministic kernels, no cudnn.benchmark (the CPU is deterministic at fixed threads)
    channels_last: bool = True  # NHWC activations: faster convs on CPU (oneDNN) and GPU
    bf16: bool = False  # bfloat16 autocast (CUDA only; the CPU always trains in float32)
    progress: bool = True  # tqdm bar (only shown on a terminal)

    @classmethod
    def from_dict(cls, values: dict | None) -> "TrainConfig":
        """Build from the config's ``probe`` section (missing keys take the defaults above)."""
        values = dict(values or {})
        _reject_unknown(values, cls, "probe")
        values["augmentation"] = Augmentation.from_dict(values.get("augmentation"))
        values["progressive_resize"] = ProgressiveResize.from_dict(values.get("progressive_resize"))
        values["muon"] = Muon.from_dict(values.get("muon"))
        values["lookahead"] = Lookahead.from_dict(values.get("lookahead"))
        values["dynamic_pruning"] = DynamicPruning.from_dict(values.get("dynamic_pruning"))
        values["model_kwargs"] = dict(values.get("model_kwargs") or {})
        config = cls(**values)
        config.check()
        return config

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "dynamic_pruning": self.dynamic_pruning.to_dict()}

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (e.g. ``epochs`` for a short probe)."""
        config = dataclasses.replace(self, **changes)
        config.check()
        return config

    def check(self) -> None:
        if self.schedule not in SCHEDULES:
            raise PrunebenchError(f"probe.schedule '{self.schedule}' unknown; use one of {', '.join(SCHEDULES)}")
        if self.epochs <= 0 or self.batch_size <= 0:
            raise PrunebenchError("probe.epochs and probe.batch_size must be positive")
        if not 0 <= self.warmup < 1:
            raise PrunebenchError("probe.warmup is a fraction of the steps in [0, 1)")
        if not 0 <= self.lr_end <= 1:
            raise PrunebenchError("probe.lr_end is a fraction of lr in [0, 1]")
        tta_level(self.tta)


def tta_level(tta: bool | int) -> int:
    """The test-time augmentation level of ``probe.tta`` (false/true are levels 0/1)."""
    if int(tta) not in (0, 1, 2):
        raise PrunebenchError(f"probe.tta must be true/false or a level 0, 1 or 2 (got {tta!r})")
    return int(tta)


def _reject_unknown(values: dict, cls, section: str) -> None:
    from prunebench.config import check_known_keys

    check_known_keys(values, {f.name for f in dataclasses.fields(cls)}, where=section)
