"""Muon for conv filters (Jordan et al. 2024, "Muon: an optimizer for hidden layers"; airbench94_muon).

Each filter tensor W (out × in × k × k, viewed as out × in·k·k) takes the step
    m ← μ m + g,   u = g + μ m (Nesterov),   W ← W · √out / ‖W‖_F,   W ← W − lr · NS(u),
where NS(u) ≈ U Vᵀ for u = U S Vᵀ is a few quintic Newton–Schulz iterations. The weight
renormalisation replaces weight decay (BatchNorm follows every conv, so only the direction of W
matters). Every other parameter takes a plain SGD step (torch.optim.SGD's update, coupled decay).
"""

from __future__ import annotations

import torch

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Jordan's quintic: maximal slope at zero


@torch.no_grad()
def orthogonalize(update: torch.Tensor, steps: int = 3, eps: float = 1e-7) -> torch.Tensor:
    """≈ U Vᵀ of a 2-d ``update`` = U S Vᵀ: X ← aX + (bA + cA²)X with A = XXᵀ, from X = u/‖u‖_F.

    Runs in bfloat16 on a GPU (as airbench) and in float32 on the CPU (no fast bf16 matmul there).
    """
    a, b, c = NS_COEFFICIENTS
    x = update.to(torch.bfloat16 if update.is_cuda else torch.float32)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    x = x / (x.norm() + eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.T if tall else x).to(update.dtype)


class MuonSGD(torch.optim.Optimizer):
    """One optimizer for both kinds of group: ``muon=True`` groups take Muon steps (above), the
    others Nesterov SGD with coupled weight decay, exactly as ``torch.optim.SGD``. One optimizer
    keeps one LR scheduler and one checkpointed state."""

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, muon: bool = False, ns_steps: int = 3):
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, muon=muon,
                        ns_steps=ns_steps)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    self._update(param, group)
        return loss

    def _update(self, param: torch.Tensor, group: dict) -> None:
        grad, momentum = param.grad, group["momentum"]
        if group["weight_decay"] and not group["muon"]:
            grad = grad.add(param, alpha=group["weight_decay"])
        buffer = self.state[param].setdefault("momentum_buffer", torch.zeros_like(grad))
        buffer.mul_(momentum).add_(grad)
        step = grad.add(buffer, alpha=momentum) if group["nesterov"] else buffer
        if group["muon"]:
            param.mul_(len(param) ** 0.5 / param.norm().clamp_min(1e-12))
            step = orthogonalize(step.reshape(len(step), -1), group["ns_steps"]).view(param.shape)
        param.add_(step, alpha=-group["lr"])
