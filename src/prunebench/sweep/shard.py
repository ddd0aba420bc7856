"""Run a shard of sweep points in one process: imports, data load and device state paid once.

A GPU trains a sweep model of the airbench94 recipe in a few seconds, so one process per point
(``sweep point``: interpreter start, ``import torch``, decoding the train and test sets, the CUDA
context) would cost more than the training. A shard loads :class:`~prunebench.sweep.point.PointInputs`
once and then, for each point, calls the same :func:`~prunebench.sweep.point.run_point` the
``sweep point`` command calls, writing the point's run file atomically
(:func:`~prunebench.sweep.point.write_row`) as soon as the point finishes. Each point stays its own
resumable output: a run file that is already present and valid (its checksum, coordinates and
``config_hash`` match the config in force) is skipped, so a killed shard resumes where it stopped.

Shards: ``--shard i/k`` is the i-th (0-based) of k contiguous chunks of ``plan_points(config)``
(``len(points)`` split as evenly as :func:`numpy.array_split` does); ``--points`` names run files.
Within a shard the f = 1 baselines run first, because a ``fixed_compute`` point trains for the
baseline's optimizer steps (it reads the baseline's run file, as ``sweep point --baseline`` does);
a point of a protocol that needs the baseline (``fixed_compute``) whose baseline is neither in the
shard nor already written is refused before anything trains. The run-file pattern comes from the
protocol registry (:func:`prunebench.sweep.protocols.wildcard_constraints`).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.sweep.plan import SweepPoint, parse_point, plan_points
from prunebench.sweep.point import point_config_hash, point_inputs, read_row, run_point, write_row
from prunebench.sweep.protocols import get_protocol, wildcard_constraints

log = logging.getLogger(__name__)
_WILDCARDS = wildcard_constraints()  # from the protocol registry
RUN_FILE = re.compile(rf"(?<![A-Za-z0-9_])(?P<protocol>{_WILDCARDS['protocol']})/N(?P<n>\d+)/(?P<metric>[a-z0-9-]+)/"
                      rf"(?P<keep>{_WILDCARDS['keep']})/f(?P<f>[0-9.]+)/seed(?P<seed>\d+)\.json$")
SHARD_SPEC = re.compile(r"^(\d+)/(\d+)$")


@dataclass
class ShardReport:
    """What a shard did: the points it trained and skipped, and its seconds (load once, then per point)."""

    trained: list[Path]
    skipped: list[Path]
    load_s: float
    point_s: list[float]


def parse_shard_spec(spec: str) -> tuple[int, int]:
    """``"i/k"`` → (i, k) with 0 ≤ i < k; anything else is refused with one line."""
    match = SHARD_SPEC.match(str(spec).strip())
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise PrunebenchError(f"--shard '{spec}': give i/k with 0 <= i < k (e.g. 0/4 for the first of 4 shards)")
    return int(match.group(1)), int(match.group(2))


def shard_of_plan(config: dict, index: int, count: int) -> list[SweepPoint]:
    """The ``index``-th of ``count`` contiguous chunks of the config's plan (baselines come first in the plan)."""
    points = plan_points(config)
    if count > len(points):
        raise PrunebenchError(f"--shard {index}/{count}: the sweep has only {len(points)} points; use at most "
                              f"{len(points)} shards")
    chunks = np.array_split(np.arange(len(points)), count)
    return [points[int(position)] for position in chunks[index]]


def chunk_plan(points: list[SweepPoint], shard_size: int) -> list[list[SweepPoint]]:
    """Consecutive chunks of at most ``shard_size`` points of one protocol each (the workflow's shards
    under ``sweep.shard_size``): a new chunk starts where the protocol changes, so adding a protocol
    (e.g. a ``sweep.protocol_cells`` entry, planned last) leaves every earlier shard as it was."""
    chunks: list[list[SweepPoint]] = []
    for point in points:
        if not chunks or len(chunks[-1]) == shard_size or chunks[-1][-1].protocol != point.protocol:
            chunks.append([])
        chunks[-1].append(point)
    return chunks


def point_of_run_file(path: str | Path) -> SweepPoint:
    """The point whose run file is ``path`` (``.../<protocol>/N<N>/<metric>/<keep>/f<f>/seed<s>.json``)."""
    match = RUN_FILE.search(Path(path).as_posix())
    if match is None:
        raise PrunebenchError(f"{path} is not a sweep run file path (<runs>/<protocol>/N<N>/<metric>/<keep>/f<f>/"
                              "seed<s>.json); list them with `python -m prunebench sweep plan`")
    return parse_point(match["protocol"], match["n"], match["metric"], match["keep"], match["f"], match["seed"])


def runs_root(path: str | Path, point: SweepPoint) -> Path:
    """The ``runs/`` folder holding run file ``path`` of ``point``."""
    return Path(str(Path(path).as_posix())[: -len(point.relative_path())])


def baselines_first(jobs: list[tuple[SweepPoint, Path]]) -> list[tuple[SweepPoint, Path]]:
    """The shard's (point, run file) pairs, f = 1 baselines first, otherwise in the given order."""
    return sorted(jobs, key=lambda job: not job[0].is_baseline)


def valid_row(config: dict, point: SweepPoint, path: Path, threads: int | None) -> dict | None:
    """The run file's row when it is readable, checksummed, of this point and made under the config
    in force (``config_hash``); None otherwise (the point is then trained again)."""
    if not path.is_file():
        return None
    try:
        row = read_row(path)
    except PrunebenchError as err:
        log.warning("%s; training it again", err)
        return None
    coordinates = parse_point(row["protocol"], row["initial_size"], row["metric"], row["keep"],
                              row["fraction_kept"], row["seed"])
    if coordinates != point or row["config_hash"] != point_config_hash(config, threads):
        log.warning("%s holds another point or settings; training it again", path)
        return None
    return row


def check_baselines(config: dict, jobs: list[tuple[SweepPoint, Path]], threads: int | None) -> None:
    """Refuse (one line) a fixed_compute point whose f = 1 run is neither in the shard nor on disk."""
    in_shard = {Path(path) for _, path in jobs}
    for point, path in jobs:
        baseline_path = runs_root(path, point) / point.baseline().relative_path()
        if not get_protocol(point.protocol).needs_baseline or baseline_path in in_shard:
            continue
        if valid_row(config, point.baseline(), baseline_path, threads) is None:
            raise PrunebenchError(f"{point.relative_path()} ({point.protocol}) needs its f=1 run {baseline_path}, which "
                                  "is neither in this shard nor written; run the baseline's shard first or add it")


def run_shard(config: dict, jobs: list[tuple[SweepPoint, Path]], *, device: str | None = None,
              threads: int | None = None) -> ShardReport:
    """Train the shard's points that have no valid run file, writing each as soon as it finishes."""
    jobs = baselines_first(jobs)
    check_baselines(config, jobs, threads)
    report = ShardReport([], [], 0.0, [])
    pending = [(point, path) for point, path in jobs if valid_row(config, point, path, threads) is None]
    report.skipped = [path for point, path in jobs if (point, path) not in pending]
    if not pending:
        return report
    started = time.perf_counter()
    inputs = point_inputs(config, device)
    report.load_s = time.perf_counter() - started
    for point, path in pending:
        started = time.perf_counter()
        baseline = read_row(runs_root(path, point) / point.baseline().relative_path()) \
            if get_protocol(point.protocol).needs_baseline else None
        row = run_point(config, point, baseline_row=baseline, threads=threads, inputs=inputs)
        write_row(row, path)
        report.trained.append(path)
        report.point_s.append(time.perf_counter() - started)
        log.info("%s: test_accuracy=%.4f in %.1fs", point.relative_path(), row["test_accuracy"], report.point_s[-1])
    return report
