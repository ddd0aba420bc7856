"""The fast probe: airbench94's residual-free conv net (Jordan 2024), with width presets.

Layout: frozen 2×2 patch-whitening conv (+ learnable bias) → GELU → three ConvGroups
(conv3×3 → maxpool2 → BN → GELU → conv3×3 → BN → GELU) → global max-pool → linear head scaled
by ``1/9``. BatchNorm uses momentum 0.4 (airbench's 0.6 in its convention), eps 1e-12 and frozen
scale; convs are dirac-initialised. ``base`` is airbench94's exact widths (94% on a GPU in ~10
epochs); ``small``/``tiny`` are for CPUs, best with ``stem_stride=2`` (the whitening conv then
patchifies 2×2 without loss, and every later layer runs at half the resolution: 4× fewer FLOPs).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from prunebench.errors import PrunebenchError
from prunebench.models.registry import register_model

WIDTH_PRESETS = {
    "tiny": (32, 64, 64),
    "small": (64, 128, 128),
    "base": (64, 256, 256),  # airbench94
    "large": (128, 384, 384),  # airbench95-like
}


class BatchNorm(nn.BatchNorm2d):
    """BN with airbench's fast running statistics and frozen scale (bias stays trainable)."""

    def __init__(self, num_features: int, momentum: float = 0.4, eps: float = 1e-12):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.weight.requires_grad = False


class Conv(nn.Conv2d):
    """3×3 'same' conv without bias, dirac (identity) initialised on its first channels."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__(channels_in, channels_out, kernel_size=3, padding="same", bias=False)

    def reset_parameters(self):
        super().reset_parameters()
        weight = self.weight.data
        torch.nn.init.dirac_(weight[: weight.size(1)])


ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


class ConvGroup(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, activation: str = "gelu"):
        super().__init__()
        self.conv1 = Conv(channels_in, channels_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNorm(channels_out)
        self.conv2 = Conv(channels_out, channels_out)
        self.norm2 = BatchNorm(channels_out)
        self.activ = ACTIVATIONS[activation]()

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class AirbenchNet(nn.Module):
    """airbench94's network; ``whiten=False`` replaces the whitening conv by a plain first group."""

    def __init__(self, num_classes: int = 10, widths=(64, 256, 256), whiten: bool = True, scaling: float = 1 / 9,
                 stem_stride: int = 1, activation: str = "gelu"):
        super().__init__()
        whiten_width = 2 * 3 * 2**2
        self.whiten = nn.Conv2d(3, whiten_width, kernel_size=2, stride=stem_stride, padding=0, bias=True) if whiten else None
        if whiten:
            self.whiten.weight.requires_grad = False
        first_in = whiten_width if whiten else 3
        self.layers = nn.Sequential(
            ACTIVATIONS[activation]() if whiten else nn.Identity(),
            ConvGroup(first_in, widths[0], activation),
            ConvGroup(widths[0], widths[1], activation),
            ConvGroup(widths[1], widths[2], activation),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        self.scaling = scaling
        self.num_features = widths[2]
        with torch.no_grad():
            self.head.weight.mul_(1 / self.head.weight.std())

    @torch.no_grad()
    def init_whitening(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the whitening filters from the patch covariance of normalised images (N×3×H×W)."""
        if self.whiten is None:
            return
        c, (h, w) = images.shape[1], self.whiten.weight.shape[2:]
        patches = images.float().unfold(2, h, 1).unfold(3, w, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, c * h * w)
        covariance = (patches.T @ patches) / len(patches)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance.double())
        eigenvectors = canonical_signs(eigenvectors)
        filters = (eigenvectors.T.reshape(-1, c, h, w) / torch.sqrt(eigenvalues.view(-1, 1, 1, 1) + eps)).float()
        self.whiten.weight.copy_(torch.cat((filters, -filters)).to(self.whiten.weight))

    def set_input_bias_trainable(self, trainable: bool) -> None:
        """airbench's speed trick: once the whitening bias is frozen nothing needs the input gradient
        of the first conv block, so autograd skips that (the most expensive, full-resolution) dgrad."""
        bias = getattr(self.whiten, "bias", None)
        if isinstance(bias, nn.Parameter) and bias.requires_grad != trainable:
            bias.requires_grad_(trainable)
            if not trainable:
                bias.grad = None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B×width)."""
        if self.whiten is not None:
            x = self.whiten(x)
        return self.layers(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x)) * self.scaling


def canonical_signs(eigenvectors: torch.Tensor) -> torch.Tensor:
    """Flip each eigenvector (column) so that its largest-magnitude entry is positive.

    An eigenvector is only defined up to sign, and LAPACK builds pick the sign differently (MKL
    takes another code path on AMD than on Intel CPUs; OpenBLAS another again). For the whitening
    filters ``(v, -v)`` a flip swaps two channels, so the next layer's seeded init meets another
    input: the same seed then gives a different network on another machine (like a different
    seed), not a float-level perturbation. Fixing the sign (scikit-learn's ``svd_flip``
    convention) makes the init a function of the data and the seed only.
    """
    rows = eigenvectors.abs().argmax(dim=0)
    signs = torch.sign(eigenvectors[rows, torch.arange(eigenvectors.shape[1])])
    return eigenvectors * torch.where(signs == 0, torch.ones_like(signs), signs)


@register_model("airbench")
def airbench(num_classes: int = 10, width="base", whiten: bool = True, scaling: float = 1 / 9,
             stem_stride: int = 1, activation: str = "gelu") -> AirbenchNet:
    """airbench probe; ``width`` is a preset name (tiny/small/base/large) or three block widths.

    ``stem_stride=2`` makes the whitening conv a lossless 2×2 patchify step (4× fewer FLOPs
    everywhere after it): the CPU-friendly variant.
    """
    if isinstance(width, str):
        if width not in WIDTH_PRESETS:
            raise PrunebenchError(f"unknown airbench width '{width}'; use one of {', '.join(WIDTH_PRESETS)} or [w1, w2, w3]")
        width = WIDTH_PRESETS[width]
    if activation not in ACTIVATIONS:
        raise PrunebenchError(f"unknown airbench activation '{activation}'; use one of {', '.join(ACTIVATIONS)}")
    return AirbenchNet(num_classes, widths=tuple(int(w) for w in width), whiten=whiten, scaling=scaling,
                       stem_stride=stem_stride, activation=activation)
