"""The training sweep: initial size N × fraction kept f × metric × keep × seed × protocol.

* :mod:`~prunebench.sweep.protocols`: the protocol registry (fixed_epochs, fixed_compute and the
  baselines rs2, compressed_schedule, infobatch), read by everything below;
* :mod:`~prunebench.sweep.plan`: the grid of a config (``sweep.protocol_cells``) and the run-file layout;
* :mod:`~prunebench.sweep.point`: one point → one row (subsample, select, train, evaluate);
* :mod:`~prunebench.sweep.aggregate`: run files → ``results/<name>/sweep.parquet`` (+ CSV).

Conventions: higher score = harder; keep=hard keeps the highest scores; ``fraction_kept`` f is the
kept fraction of the initial N examples (``prune_ratio = 1 − f``). The f = 1 baseline is one run
per (N, seed), stored as metric ``none``, keep ``all``, and shared by every metric and protocol.
"""

from prunebench.sweep.aggregate import read_sweep_table, sweep_table, write_sweep_table
from prunebench.sweep.plan import (
    BASELINE_KEEP, BASELINE_METRIC, PROTOCOLS, SweepPoint, baseline_point, format_fraction, parse_point, plan_points,
    sweep_settings,
)
from prunebench.sweep.point import read_row, run_point, write_row

__all__ = [
    "BASELINE_KEEP", "BASELINE_METRIC", "PROTOCOLS", "SweepPoint", "baseline_point", "format_fraction", "parse_point",
    "plan_points", "read_row", "read_sweep_table", "run_point", "sweep_settings", "sweep_table", "write_row",
    "write_sweep_table",
]
