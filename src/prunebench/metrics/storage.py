"""Score tables: one parquet file per metric, ``results/<config>/scores/<metric>.parquet``.

Columns (one row per training example, in canonical ``example_id`` order):

- ``example_id`` (int64) and ``score`` (float64, **higher = harder**);
- ``score_se`` (float64): the estimator's standard error of each score (from the in/out model
  counts for memorization/influence, the spread over ensemble members for ensemble metrics, 0 for
  exact scores, NaN where undefined, e.g. one model); tables written before it read as all-NaN;
- provenance, constant over rows: ``metric`` (registry name), ``score_name`` (the metric or its
  named variant from ``metrics.variants``, e.g. ``el2n-1-model``), ``variant``, ``direction`` (always
  ``"higher=harder"``), ``config_hash`` (hash of the config sections the score depends on),
  ``seed`` (the config's master seed), ``seeds`` (JSON list of every derived seed used),
  ``code_version``, ``probe_epochs`` (epochs of training of the probe(s) the score is read from;
  NaN when no probe is involved), ``cost_probe_epochs`` (total probe training the score needs, in
  full-train-set epoch equivalents), ``wall_time_s`` (stand-alone cost in seconds: the probe runs'
  training time plus this metric's own computation, whether or not the runs came from the probe
  cache), ``compute_time_s`` (seconds this invocation actually took), ``reused_probe_runs``,
  ``params`` (JSON of the metric's parameters), ``dataset_checksum``, ``n_examples``,
  ``n_models`` (models the estimate combines; 0 without a probe), ``label_smoothing`` (of the score
  probes, ``metrics.label_smoothing``) and ``target_split`` (the split whose outcomes the score is
  measured on, e.g. ``train`` or ``train-heldout-fold`` for influence; never the sweep's test split).

The same provenance is stored as JSON in the parquet schema metadata (key ``prunebench``), with the
machine it was computed on (``prunebench.provenance.environment``: ``cpu_model``, ``cpu_capability``,
``torch_threads``, ``torch_version``, ``python_version``, ``platform``; also columns), and
``content_sha256``, the SHA-256 of the ``example_id``, ``score`` and ``score_se`` columns' bytes,
verified on every read (a truncated file or a flipped bit is refused with its fix). Writes are atomic
(temporary file + ``os.replace``, removed on any error).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prunebench.errors import PrunebenchError
from prunebench.metrics.registry import DIRECTION
from prunebench.provenance import ENVIRONMENT_KEYS, atomic_write, content_checksum, environment, stale_line

REQUIRED_COLUMNS = ("example_id", "score", "metric", "variant", "direction", "config_hash", "seed",
                    "code_version", "probe_epochs", "cost_probe_epochs", "wall_time_s")
PROVENANCE_KEYS = ("metric", "score_name", "variant", "direction", "config_hash", "seed", "seeds", "code_version",
                   "probe_epochs", "cost_probe_epochs", "wall_time_s", "compute_time_s", "reused_probe_runs",
                   "params", "dataset_checksum", "n_examples", "n_models", "label_smoothing", "target_split",
                   *ENVIRONMENT_KEYS)
RECOMPUTE = "delete it and recompute it (`snakemake ...` or `python -m prunebench metrics compute`)"


@dataclass
class ScoreTable:
    """Scores of one metric: ``ids``, ``scores`` and ``score_se`` aligned, plus the provenance dict."""

    ids: np.ndarray
    scores: np.ndarray
    provenance: dict
    score_se: np.ndarray | None = None  # standard error per score (NaN where undefined)

    @property
    def metric(self) -> str:
        return str(self.provenance["metric"])


def write_scores(path: str | os.PathLike, ids, scores, provenance: dict, score_se=None, columns: dict | None = None) -> Path:
    """Write a score table (rows sorted by example id); returns the path. ``score_se``: None = all NaN.
    ``columns``: more per-example columns aligned to ``ids`` (e.g. perplexity's ``n_tokens``), stored as they are."""
    ids = np.asarray(ids, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    score_se = np.full(scores.shape, np.nan) if score_se is None else np.asarray(score_se, dtype=np.float64)
    if score_se.shape != scores.shape:
        raise ValueError(f"score_se {score_se.shape} must be aligned with scores {scores.shape}")
    if ids.shape != scores.shape or ids.ndim != 1:
        raise ValueError(f"ids {ids.shape} and scores {scores.shape} must be aligned 1-d arrays")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"metric {provenance.get('metric')} produced {int((~np.isfinite(scores)).sum())} non-finite scores")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("duplicate example ids")
    order = np.argsort(ids, kind="stable")
    prov = {key: provenance.get(key) for key in PROVENANCE_KEYS}
    machine = environment(provenance.get("torch_threads"))
    prov.update({key: machine[key] for key in ENVIRONMENT_KEYS if prov[key] is None})
    prov["direction"] = DIRECTION
    prov["n_examples"] = int(len(ids))
    for key in ("seeds", "params"):
        if not isinstance(prov[key], str):
            prov[key] = json.dumps(prov[key], sort_keys=True, default=str)
    frame = pd.DataFrame({"example_id": ids[order], "score": scores[order], "score_se": score_se[order]})
    for key, values in (columns or {}).items():
        values = np.asarray(values)
        if values.shape != ids.shape or key in frame.columns or key in prov:
            raise ValueError(f"extra score column '{key}' must be a new name aligned with the ids")
        frame[key] = values[order]
    for key, value in prov.items():
        frame[key] = _column_value(key, value)
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[b"prunebench"] = json.dumps(prov, default=str).encode()
    meta[b"content_sha256"] = content_checksum(ids[order], scores[order], score_se[order]).encode()
    table = table.replace_schema_metadata(meta)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def _column_value(key: str, value):
    if key in ("probe_epochs", "cost_probe_epochs", "wall_time_s", "compute_time_s", "label_smoothing"):
        return np.nan if value is None else float(value)
    if key in ("seed", "reused_probe_runs", "n_examples", "n_models", "torch_threads"):
        return -1 if value is None else int(value)
    return "" if value is None else str(value)


def read_scores(path: str | os.PathLike, expected_ids=None, *, allow_subset: bool = False,
                expected_hash: str | None = None) -> ScoreTable:
    """Read and check a score table.

    Raises :class:`PrunebenchError` (one line) when the file is missing or not parquet, misses a
    column or its ``content_sha256``, does not match that checksum (truncated, bit flip), holds
    NaN/inf or duplicate ids, states another direction, was computed under another ``config_hash``
    than ``expected_hash`` (the config in force: ``prunebench.provenance.score_hash``), or — given ``expected_ids``
    (the dataset's ids) — its ids are not exactly those ids. Rows are returned in the order of
    ``expected_ids`` when given, else sorted by id. ``allow_subset=True`` accepts ``expected_ids``
    that are a subset of the scored ids (e.g. a sweep's nested subsample of the scored train set)
    and returns only their rows.
    """
    path = Path(path)
    if not path.is_file():
        raise PrunebenchError(f"score file {path} not found; compute it with `python -m prunebench metrics compute`")
    frame, stored_checksum = _read_frame(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise PrunebenchError(f"score file {path} lacks column(s) {', '.join(missing)}; recompute it with this version")
    _verify_checksum(path, frame, stored_checksum)
    if len(frame) == 0:
        raise PrunebenchError(f"score file {path} is empty; recompute it")
    scores = frame["score"].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(scores)):
        raise PrunebenchError(f"score file {path} has {int((~np.isfinite(scores)).sum())} NaN/inf scores; recompute it")
    ids = frame["example_id"].to_numpy(dtype=np.int64)
    if len(np.unique(ids)) != len(ids):
        raise PrunebenchError(f"score file {path} has duplicate example ids; recompute it")
    direction = str(frame["direction"].iloc[0])
    if direction != DIRECTION:
        raise PrunebenchError(f"score file {path} has direction '{direction}', expected '{DIRECTION}'; recompute it")
    provenance = _provenance(frame)
    if expected_hash is not None:
        refuse_stale(path, provenance, expected_hash)
    score_se = frame["score_se"].to_numpy(dtype=np.float64) if "score_se" in frame.columns else np.full(len(ids), np.nan)
    order = np.argsort(ids, kind="stable")
    ids, scores, score_se = ids[order], scores[order], score_se[order]
    if expected_ids is not None:
        expected = np.asarray(expected_ids, dtype=np.int64)
        if allow_subset and np.all(np.isin(expected, ids)):
            keep = np.isin(ids, expected)
            ids, scores, score_se = ids[keep], scores[keep], score_se[keep]
        ids, scores, score_se = _align(path, ids, scores, expected, score_se)
    return ScoreTable(ids=ids, scores=scores, provenance=provenance, score_se=score_se)


def refuse_stale(path, provenance: dict, expected_hash: str) -> None:
    """Raise the one-line refusal when a table's ``config_hash`` is not ``expected_hash``."""
    if str(provenance.get("config_hash")) != expected_hash:
        raise PrunebenchError(stale_line(path, "score file", str(provenance.get("config_hash")), expected_hash,
                                         "rerun `snakemake --configfile <config>` (it recomputes it)"))


def read_current_scores(path, config: dict, expected_ids=None, **kwargs) -> ScoreTable:
    """:func:`read_scores`, refusing a table whose ``config_hash`` is not the one ``config`` gives its
    score name (``prunebench.provenance.score_hash``): the reader's check for stale tables."""
    from prunebench.provenance import score_hash

    table = read_scores(path, expected_ids, **kwargs)
    refuse_stale(path, table.provenance, score_hash(config, str(table.provenance.get("score_name") or table.metric)))
    return table


def _read_frame(path: Path) -> tuple[pd.DataFrame, str | None]:
    """The table and its stored ``content_sha256`` (None when absent); a damaged file is one line."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise PrunebenchError(f"score file {path} is not a readable parquet table ({type(err).__name__}); "
                              f"{RECOMPUTE}") from None
    stored = (table.schema.metadata or {}).get(b"content_sha256")
    return table.to_pandas(), stored.decode() if stored else None


def _verify_checksum(path: Path, frame: pd.DataFrame, stored: str | None) -> None:
    """Refuse a table without ``content_sha256`` or whose id/score/score_se bytes do not hash to it."""
    if stored is None:
        raise PrunebenchError(f"score file {path} has no content checksum (written by an older version); {RECOMPUTE}")
    columns = [frame[c].to_numpy(dtype=np.int64 if c == "example_id" else np.float64)
               for c in ("example_id", "score", "score_se") if c in frame.columns]
    if len(columns) < 3 or content_checksum(*columns) != stored:
        raise PrunebenchError(f"score file {path} does not match its content checksum (corrupted); {RECOMPUTE}")


def _align(path: Path, ids: np.ndarray, scores: np.ndarray, expected: np.ndarray, score_se: np.ndarray):
    """Reorder (sorted) ``ids``/``scores``/``score_se`` to ``expected``; raise if the id sets differ."""
    if len(ids) != len(expected) or not np.array_equal(ids, np.sort(expected)):
        extra = np.setdiff1d(ids, expected)
        lacking = np.setdiff1d(expected, ids)
        raise PrunebenchError(
            f"score file {path} does not match the dataset: {len(ids)} scored ids vs {len(expected)} examples "
            f"({len(lacking)} examples unscored, {len(extra)} unknown ids); recompute the scores for this config"
        )
    positions = np.searchsorted(ids, expected)
    return ids[positions], scores[positions], score_se[positions]


def _provenance(frame: pd.DataFrame) -> dict:
    first = frame.iloc[0]
    prov = {key: first[key] for key in PROVENANCE_KEYS if key in frame.columns}
    for key in ("seeds", "params"):
        if isinstance(prov.get(key), str) and prov[key]:
            try:
                prov[key] = json.loads(prov[key])
            except json.JSONDecodeError:
                pass
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in prov.items()}
