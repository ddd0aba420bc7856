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
