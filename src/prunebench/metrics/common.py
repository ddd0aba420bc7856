"""Small array helpers shared by the metric plug-ins (no registration here)."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def onehot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    out = np.zeros((len(labels), num_classes), dtype=np.float64)
    out[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)] = 1.0
    return out


def assigned_margin(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``z_y - max_{k != y} z_k`` along the last axis (works for ``(..., N, C)`` arrays)."""
    logits = np.asarray(logits, dtype=np.float64)
    index = np.broadcast_to(np.asarray(labels, dtype=np.int64), logits.shape[:-1])[..., None]
    assigned = np.take_along_axis(logits, index, axis=-1)[..., 0]
    others = logits.copy()
    np.put_along_axis(others, index, -np.inf, axis=-1)
    return assigned - others.max(axis=-1)


def ensemble_mean(arrays: list[np.ndarray]) -> np.ndarray:
    """Mean over a list of equally shaped arrays (the ensemble axis)."""
    return np.mean(np.stack(arrays, axis=0), axis=0)


def member_se(values) -> np.ndarray:
    """Standard error of a mean over ``k`` ensemble members (axis 0): ``s_{k−1} / sqrt(k)``; NaN for ``k < 2``.

    ``s_{k−1}`` is the sample standard deviation over members (ddof 1), so ``SE²`` is an unbiased
    estimate of the variance of the ensemble mean when the members are independent runs.
    """
    values = np.asarray(values, dtype=np.float64)
    k = values.shape[0]
    if k < 2:
        return np.full(values.shape[1:], np.nan)
    return values.std(axis=0, ddof=1) / np.sqrt(k)


def jackknife_se(statistic, members) -> np.ndarray:
    """Jackknife standard error over ensemble members for a score that is a function of all of them.

    ``statistic(members_subset) -> per-example scores``; ``members`` is k×... (axis 0 = members).
    ``SE = sqrt((k−1)/k · Σ_i (θ_(−i) − mean_i θ_(−i))²)`` (Efron & Stein 1981); NaN for ``k < 2``.
    """
    members = np.asarray(members)
    k = members.shape[0]
    if k < 2:
        return np.full(np.shape(statistic(members)), np.nan)
    leave_one_out = np.stack([statistic(np.delete(members, i, axis=0)) for i in range(k)])
    return np.sqrt((k - 1) / k * ((leave_one_out - leave_one_out.mean(axis=0)) ** 2).sum(axis=0))
