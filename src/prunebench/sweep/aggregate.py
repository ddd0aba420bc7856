"""Concatenate per-point run files into the tidy sweep table (``results/<name>/sweep.parquet`` + CSV).

One row per run; coordinates first, then results, then provenance. Rows are sorted by their
coordinates, so the table does not depend on the order the runs finished in.

Cost columns (docs/protocol.md, "Cost columns"): ``train_steps``, ``train_wall_time_s``, the
scoring cost ``score_probe_steps``/``score_wall_time_s`` and their sums ``total_steps`` (=
``steps_with_scoring``) and ``total_wall_time_s``. Run files written before the totals existed get
them computed here from their parts (:func:`with_cost_totals`), so every row of a table has them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from prunebench.errors import PrunebenchError
from prunebench.provenance import atomic_write, stale_line
from prunebench.sweep.point import read_row

COORDINATES = ["scale", "protocol", "initial_size", "fraction_kept", "prune_ratio", "n_kept", "metric", "keep",
               "direction", "seed"]
RESULTS = ["test_accuracy", "test_error", "n_test", "train_steps", "epochs", "recipe_epochs", "batch_size",
           "wall_time_s", "train_wall_time_s"]
SORT_KEYS = ["protocol", "metric", "keep", "initial_size", "fraction_kept", "seed"]
COST_TOTALS = {"total_steps": ("train_steps", "score_probe_steps"),
               "total_wall_time_s": ("train_wall_time_s", "score_wall_time_s")}


def collect_runs(paths) -> list[Path]:
    """Run files from a list of files and/or directories (searched recursively for ``*.json``)."""
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.json") if not p.name.startswith(".")))
        elif path.is_file():
            found.append(path)
        else:
            raise PrunebenchError(f"sweep run file {path} not found; run the missing point(s) first "
                                  "(`snakemake ... --configfile <config>` reruns only those)")
    return found


def sweep_table(paths, expected_hash: str | None = None) -> pd.DataFrame:
    """The tidy table of the given run files (sorted, columns ordered).

    Each file is checked by :func:`read_row` (coordinates, results and checksum present and
    matching); given ``expected_hash`` (``stage_hash(config, "sweep_point")`` of the config in force)
    a run made under other settings — another recipe, data or thread count — is refused by name."""
    files = collect_runs(paths)
    rows = [read_row(path) for path in files]
    if not rows:
        raise PrunebenchError("no sweep run files to aggregate; run `python -m prunebench sweep point ...` first")
    for path, row in zip(files, rows):
        if expected_hash is not None and row["config_hash"] != expected_hash:
            raise PrunebenchError(stale_line(path, "sweep run file", row["config_hash"], expected_hash,
                                             "rerun `snakemake --configfile <config>` (it reruns that point)"))
    table = pd.DataFrame(rows)
    duplicated = table.duplicated(subset=SORT_KEYS, keep=False)
    if duplicated.any():
        raise PrunebenchError(f"{int(duplicated.sum())} run files share coordinates {SORT_KEYS}; remove the stale ones")
    table = with_cost_totals(table.sort_values(SORT_KEYS, kind="mergesort").reset_index(drop=True))
    ordered = [c for c in COORDINATES + RESULTS if c in table.columns]
    return table[ordered + [c for c in table.columns if c not in ordered]]


def with_cost_totals(table: pd.DataFrame) -> pd.DataFrame:
    """Fill ``total_steps``/``total_wall_time_s`` (training + scoring) where a row lacks them and has
    both parts; a table without the parts is returned as it is."""
    for total, parts in COST_TOTALS.items():
        if not all(part in table.columns for part in parts):
            continue
        computed = table[parts[0]] + table[parts[1]]
        table[total] = computed if total not in table.columns else table[total].fillna(computed)
        if total == "total_steps" and table[total].notna().all():
            table[total] = table[total].astype("int64")
    return table


def write_sweep_table(table: pd.DataFrame, parquet_path: str | os.PathLike, csv_path=None) -> Path:
    """Write the parquet table (atomically) and, when asked, a CSV copy for readable diffs."""
    atomic_write(parquet_path, lambda tmp: table.to_parquet(tmp, index=False))
    if csv_path:
        atomic_write(csv_path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
    return Path(parquet_path)


def read_sweep_table(path: str | os.PathLike, expected_hash: str | None = None) -> pd.DataFrame:
    """Read ``sweep.parquet`` (or its CSV copy), with a one-line error when it is missing, damaged,
    lacks a column, or (given ``expected_hash``, ``stage_hash(config, "sweep_point")``) holds rows
    made under other settings than the config in force."""
    path = Path(path)
    if not path.is_file():
        raise PrunebenchError(f"sweep table {path} not found; run the sweep (`snakemake ... sweep_aggregate`) first")
    try:
        table = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as err:  # pyarrow/pandas raise several types for a damaged file
        raise PrunebenchError(f"sweep table {path} is not readable ({type(err).__name__}); delete it and "
                              "re-aggregate it (`snakemake ... sweep_aggregate`)") from None
    missing = [c for c in ("protocol", "initial_size", "fraction_kept", "n_kept", "metric", "keep", "seed",
                           "test_error", "test_accuracy") if c not in table.columns]
    if missing:
        raise PrunebenchError(f"sweep table {path} lacks column(s) {', '.join(missing)}; re-aggregate it")
    stored = sorted(set(table["config_hash"].astype(str))) if "config_hash" in table.columns else ["<none>"]
    if expected_hash is not None and stored != [expected_hash]:
        raise PrunebenchError(stale_line(path, "sweep table", ",".join(stored), expected_hash,
                                         "rerun `snakemake --configfile <config>` (it reruns the sweep)"))
    return table
