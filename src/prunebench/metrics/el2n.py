"""``el2n`` and ``grand``: the early-training scores of Paul, Ganguli & Dziugaite (NeurIPS 2021)."""

from __future__ import annotations

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.common import member_se, onehot, softmax
from prunebench.metrics.context import run_costs
from prunebench.metrics.registry import MetricResult, register_metric


def el2n_per_model(logits_per_model: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """k×N error norms ``||softmax(f_{w_m}(x)) - onehot(y)||_2``, one row per model."""
    target = onehot(labels, logits_per_model[0].shape[1])
    return np.stack([np.linalg.norm(softmax(z) - target, axis=1) for z in logits_per_model])


def el2n_from_logits(logits_per_model: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """``EL2N(x, y) = E_w ||softmax(f_w(x)) - onehot(y)||_2``: the norm per model, averaged over models."""
    return el2n_per_model(logits_per_model, labels).mean(axis=0)


@register_metric("el2n", needs=("probabilities",), defaults={"ensemble_size": 10, "epoch": None},
                 reference="Paul, Ganguli, Dziugaite 2021, Deep Learning on a Data Diet, eq. EL2N")
def el2n(ctx, params):
    """EL2N score (Paul et al. 2021): ``E_{w_t} || p(w_t, x) - y ||_2`` with ``p = softmax(f(x))``.

    The expectation is over ``ensemble_size`` independently initialised probes (members of the shared
    ensemble), each evaluated after ``epoch`` epochs of training (``None`` = the run's last epoch),
    in eval mode on un-augmented training images. The error norms are **averaged over the ensemble
    at one epoch**, as in the paper (not summed over the epochs of one run). The paper's ImageNet
    variants are ``ensemble_size: 1`` (EL2N-1-model) and ``ensemble_size: 20`` (EL2N-20-models);
    Paul et al. used 10 probes at epoch 20 of 200 for CIFAR-10. ``score_se``: standard error of the
    ensemble mean (:func:`~prunebench.metrics.common.member_se`; NaN for one probe). A language-model
    task (``sequence_el2n``, text-lm) gives each document the mean of the per-token norms
    ``||softmax(z_t) - onehot(y_t)||_2`` over its next-token targets (Marion et al. 2023's EL2N for LM
    pretraining data).
    """
    epoch = ctx.resolve_epoch(params["epoch"])
    runs = ctx.ensemble_runs(int(params["ensemble_size"]), save_epochs={epoch})
    if getattr(ctx.task, "sequence_el2n", False):  # a language model: the mean per-token norm (text-lm task)
        norms = np.stack([ctx._cached(r, "el2n", "train", epoch) for r in runs]).astype(np.float64)
    else:
        norms = el2n_per_model([ctx.logits(r, "train", epoch) for r in runs], ctx.labels)
    return MetricResult(scores=norms.mean(axis=0), variant=f"ensemble-mean,k={len(runs)},epoch={epoch}",
                        probe_epochs=epoch, score_se=member_se(norms), n_models=len(runs),
                        **run_costs(runs, len(ctx.train_set), epoch))


def grand_full(model, batches) -> np.ndarray:
    """``||∇_w L(f_w(x), y)||_2`` per example over all trainable weights (torch.func vmap ∘ grad).

    The model is evaluated in eval mode (BatchNorm uses its running statistics), so each example's
    gradient does not depend on the rest of its batch.
    """
    import torch
    import torch.nn.functional as F
    from torch.func import functional_call, grad, vmap

    model.eval()
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    frozen = {k: v.detach() for k, v in model.named_parameters() if not v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(p, x, y):
        out = functional_call(model, ({**p, **frozen}, buffers), (x.unsqueeze(0),))
        return F.cross_entropy(out, y.unsqueeze(0))

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    norms = []
    for x, y in batches:
        grads = per_example(params, x, y)
        norms.append(torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values())))
    return torch.cat(norms).cpu().numpy().astype(np.float64)


def grand_last_layer(model, batches) -> np.ndarray:
    """Closed form for the last linear layer ``z = W h (+ b)``: ``||∇_W L|| = ||∂L/∂z|| · sqrt(||h||² + [bias])``.

    ``∂L/∂z`` is taken by autograd on the layer's output, so any scaling after the layer (e.g.
    airbench's ``1/9``) is included. Eval mode, as :func:`grand_full`.
    """
    import torch
    import torch.nn.functional as F

    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    captured = {}

    def hook(_module, inputs, output):  # cut the graph at z: backward stops there, no weight grads
        z = output.detach().requires_grad_()
        captured["h"], captured["z"] = inputs[0].detach(), z
        return z

    handle = linear.register_forward_hook(hook)
    model.eval()
    norms = []
    try:
        for x, y in batches:
            F.cross_entropy(model(x), y, reduction="sum").backward()
            h, g = captured["h"].flatten(1), captured["z"].grad
            extra = 1.0 if linear.bias is not None else 0.0
            norms.append(g.norm(dim=1) * torch.sqrt(h.pow(2).sum(1) + extra))
    finally:
        handle.remove()
    return torch.cat(norms).detach().cpu().numpy().astype(np.float64)


GRAND_VARIANTS = {"full": grand_full, "last-layer": grand_last_layer}


def _batches(ctx, batch_size: int):
    """Normalised, un-augmented training images and labels on the device, in dataset order."""
    import torch

    from prunebench.data import host_rows, normalize

    data = ctx.train_set
    for start in range(0, len(data), batch_size):  # host slice (read from the map when memory-mapped), then device
        rows = host_rows(data.images, slice(start, start + batch_size))
        x = normalize(torch.from_numpy(rows).to(ctx.device), data.channel_stats)
        yield x, torch.from_numpy(data.labels[start:start + batch_size]).to(ctx.device)


@register_metric("grand", needs=("loss",), defaults={"ensemble_size": 10, "epoch": None, "variant": "full", "batch_size": 128},
                 reference="Paul, Ganguli, Dziugaite 2021, Deep Learning on a Data Diet, eq. GraNd")
def grand(ctx, params):
    """GraNd score (Paul et al. 2021): ``E_{w_t} || ∇_{w_t} L(f(x), y) ||_2`` (plain cross-entropy).

    Per-example gradient norm of the loss, expected over ``ensemble_size`` independently initialised
    probes at ``epoch`` (``0`` = at initialisation, the paper's GraNd-at-init; ``None`` = last
    epoch). Variants: ``full`` — all trainable weights, exact per-example gradients with
    ``torch.func`` (``functional_call`` + ``vmap`` + ``grad``); ``last-layer`` — closed form for the
    final linear layer only (the common cheap approximation, e.g. DeepCore). At ``epoch: 0`` the
    weights are those at the true start of training (after airbench's whitening init, see
    :mod:`.probes`). ``score_se``: standard error of the ensemble mean (NaN for one probe).
    """
    if params["variant"] not in GRAND_VARIANTS:
        raise PrunebenchError(f"grand variant must be one of {', '.join(GRAND_VARIANTS)}, got '{params['variant']}'")
    epoch = ctx.resolve_epoch(params["epoch"])
    runs = ctx.ensemble_runs(int(params["ensemble_size"]), save_epochs={epoch})
    fn = GRAND_VARIANTS[params["variant"]]
    norms = np.stack([fn(ctx.load_model(r, epoch), _batches(ctx, int(params["batch_size"]))) for r in runs])
    return MetricResult(scores=norms.mean(axis=0), variant=f"{params['variant']},k={len(runs)},epoch={epoch}",
                        probe_epochs=epoch, score_se=member_se(norms), n_models=len(runs),
                        **run_costs(runs, len(ctx.train_set), epoch))
