"""Seeds derived from the config's master seed, so every random choice is reproducible."""

from __future__ import annotations

import hashlib
import random

import numpy as np


def derive_seed(base: int, *keys) -> int:
    """A 31-bit seed fixed by ``base`` and the ``keys`` (e.g. ``"el2n", model_index``)."""
    text = "/".join([str(base), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (if imported); return a NumPy generator for local use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # the theory package runs without torch
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)
