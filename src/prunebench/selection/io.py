"""Kept-id tables written by ``python -m prunebench select`` (parquet, or CSV by extension)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from prunebench.config import schema_defaults
from prunebench.errors import PrunebenchError
from prunebench.provenance import atomic_write

# The schema is the source of truth (workflow/schemas/selection.schema.yaml).
SELECTION_DEFAULTS = {**schema_defaults("selection"), "ccs": schema_defaults("selection", "ccs")}
# Sorscher et al. 2022 applied their 50% class-balancing ratio "in all ImageNet experiments" (§5);
# nothing of the kind is stated for CIFAR-10/SVHN, so every other dataset defaults to plain top-k.
CLASS_BALANCE_BY_DATASET = {"imagenet": 0.5}


def default_class_balance(config: dict | None) -> float:
    """The paper's class-balance floor for the config's dataset: 0.5 for ImageNet, else 0 (none)."""
    dataset = str(((config or {}).get("data") or {}).get("dataset", "")).lower()
    return CLASS_BALANCE_BY_DATASET.get(dataset, 0.0)


def selection_settings(config: dict | None) -> dict:
    """The ``selection`` section with defaults filled in (class balance: :func:`default_class_balance`)."""
    section = dict((config or {}).get("selection") or {})
    defaults = {**SELECTION_DEFAULTS, "class_balance": default_class_balance(config)}
    return {**defaults, **section, "ccs": {**SELECTION_DEFAULTS["ccs"], **(section.get("ccs") or {})}}


def write_selection(path: str | os.PathLike, kept_ids, provenance: dict) -> Path:
    """One row per kept example (``example_id``), provenance repeated in columns.

    Provenance always includes ``fraction_kept`` (kept / scored) and ``prune_ratio = 1 − fraction_kept``.
    """
    path = Path(path)
    frame = pd.DataFrame({"example_id": np.sort(np.asarray(kept_ids, dtype=np.int64))})
    for key, value in provenance.items():
        frame[key] = value if not isinstance(value, (dict, list)) else str(value)
    if path.suffix == ".csv":
        return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def read_selection(path: str | os.PathLike) -> pd.DataFrame:
    """A kept-id table; raises :class:`PrunebenchError` when unreadable."""
    path = Path(path)
    try:
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as err:
        raise PrunebenchError(f"selection file {path} is unreadable ({type(err).__name__}); rerun `python -m prunebench select`") from None
    if "example_id" not in frame.columns:
        raise PrunebenchError(f"selection file {path} has no example_id column; rerun `python -m prunebench select`")
    return frame
