"""`sweep shard`: several points in one process give the run files of the per-point command,
resume after a lost point, skip valid run files and refuse bad shard specs with one line."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from prunebench.cli import main
from prunebench.config import REPO_ROOT, load_config
from prunebench.errors import PrunebenchError
from prunebench.sweep import SweepPoint, baseline_point, plan_points
from prunebench.sweep.shard import chunk_plan, parse_shard_spec, point_of_run_file, run_shard, shard_of_plan

TIMING_KEYS = {"wall_time_s", "train_wall_time_s", "total_wall_time_s", "checksum"}  # seconds differ between any two runs
POINTS = [baseline_point(200, 0), SweepPoint("fixed_epochs", 200, "random", "random", 0.5, 0),
          SweepPoint("fixed_compute", 200, "random", "random", 0.5, 0)]


@pytest.fixture(scope="module")
def config_path(tmp_path_factory):
    """The smoke config with a fixed_compute protocol for the random metric (no score table needed)."""
    config = yaml.safe_load((REPO_ROOT / "workflow" / "config" / "smoke.yaml").read_text())
    config["name"] = "shardtest"
    config["device"] = "cpu"
    config["sweep"].update(protocols=["fixed_epochs", "fixed_compute"], fixed_compute_metrics=["random"])
    path = tmp_path_factory.mktemp("config") / "shardtest.yaml"
    path.write_text(yaml.safe_dump(config))
    try:
        from prunebench.data import load_dataset

        load_dataset(config["data"], "train")
    except PrunebenchError as err:
        pytest.skip(f"CIFAR-10 not available: {err}")
    return path


def per_point_command(config_path, point, out, baseline=None):
    """The run file of ``point`` made by its own `python -m prunebench sweep point` process."""
    command = [sys.executable, "-m", "prunebench", "sweep", "point", "--config", str(config_path),
               "--protocol", point.protocol, "--size", str(point.initial_size), "--metric", point.metric,
               "--keep", point.keep, "--fraction-kept", str(point.fraction_kept), "--seed", str(point.seed),
               "--threads", "1", "--out", str(out)] + (["--baseline", str(baseline)] if baseline else [])
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return out


def comparable(path):
    return {key: value for key, value in json.loads(path.read_text()).items() if key not in TIMING_KEYS}


@pytest.fixture(scope="module")
def runs(config_path, tmp_path_factory):
    """The three points once per-point (three processes) and once as a shard (this process)."""
    single, shard = tmp_path_factory.mktemp("single"), tmp_path_factory.mktemp("shard")
    single_paths = {}
    for point in POINTS:
        baseline = single_paths.get(point.baseline()) if point.protocol == "fixed_compute" else None
        single_paths[point] = per_point_command(config_path, point, single / point.relative_path(), baseline)
    shard_paths = [shard / point.relative_path() for point in reversed(POINTS)]  # baselines are put first
    assert main(["sweep", "shard", "--config", str(config_path), "--threads", "1",
                 "--points", *map(str, shard_paths)]) == 0
    return {"single": single_paths, "shard": {point_of_run_file(path): path for path in shard_paths}}


def test_shard_writes_the_run_files_of_the_per_point_command(runs):
    for point in POINTS:
        assert comparable(runs["shard"][point]) == comparable(runs["single"][point]), point
    fixed_compute = comparable(runs["shard"][POINTS[2]])
    assert fixed_compute["train_steps"] == comparable(runs["shard"][POINTS[0]])["train_steps"]


def test_shard_resumes_a_lost_point_and_skips_valid_ones(runs, config_path):
    config = load_config(config_path)
    jobs = [(point, path) for point, path in runs["shard"].items()]
    lost, corrupted = runs["shard"][POINTS[1]], runs["shard"][POINTS[0]]
    before = {point: comparable(path) for point, path in runs["shard"].items()}
    kept_bytes = runs["shard"][POINTS[2]].read_bytes()
    lost.unlink()
    row = json.loads(corrupted.read_text())
    corrupted.write_text(json.dumps({**row, "test_accuracy": 1.0}))  # no longer matches its checksum
    report = run_shard(config, jobs, threads=1)
    assert sorted(report.trained) == sorted([lost, corrupted]) and report.skipped == [runs["shard"][POINTS[2]]]
    assert runs["shard"][POINTS[2]].read_bytes() == kept_bytes  # a valid run file is not rewritten
    assert {point: comparable(path) for point, path in runs["shard"].items()} == before
    again = run_shard(config, jobs, threads=1)
    assert again.trained == [] and len(again.skipped) == 3


@pytest.mark.parametrize("spec", ["2/2", "a/3", "1", "-1/2", "0/0"])
def test_a_bad_shard_spec_is_refused_with_one_line(spec, capsys):
    with pytest.raises(PrunebenchError, match="0 <= i < k"):
        parse_shard_spec(spec)
    assert main(["sweep", "shard", "--config", "smoke", f"--shard={spec}"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: --shard") and "\n" not in error


def test_a_fixed_compute_point_without_its_baseline_is_refused_before_training(config_path, tmp_path, capsys):
    path = tmp_path / POINTS[2].relative_path()
    assert main(["sweep", "shard", "--config", str(config_path), "--points", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert "needs its f=1 run" in error and "\n" not in error and not path.exists()


def test_shards_partition_the_plan():
    config = load_config("ci")
    points = plan_points(config)
    for count in (1, 4, 7):
        shards = [shard_of_plan(config, index, count) for index in range(count)]
        assert [point for shard in shards for point in shard] == points
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert [point for chunk in chunk_plan(points, 5) for point in chunk] == points
    chunks = chunk_plan(points, 5)
    assert all(len({point.protocol for point in chunk}) == 1 for chunk in chunks)  # one protocol per shard
    assert all(len(chunk) == 5 for chunk, after in zip(chunks, chunks[1:]) if chunk[0].protocol == after[0].protocol)
    with pytest.raises(PrunebenchError, match="only"):
        shard_of_plan(config, 0, len(points) + 1)
