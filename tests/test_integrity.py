"""Issue 11 items 1 and 4: provenance of the machine, content checksums, atomic writes, bad input
refused with one line naming the option or file, and a killed workflow that resumes without
the user knowing ``--unlock``."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from prunebench.errors import PrunebenchError
from prunebench.provenance import ENVIRONMENT_KEYS, REPO_ROOT, score_hash, stage_hash
from prunebench.sweep import read_row, sweep_table, write_row
from prunebench.sweep.plan import SweepPoint

CONFIG = {
    "name": "integritytest", "seed": 0, "device": "cpu",
    "data": {"train_size": 400, "test_size": 200},
    "probe": {"model": "airbench", "model_kwargs": {"width": [8, 16, 16]}, "epochs": 1, "batch_size": 50,
              "lr": 0.2, "tta": False, "progress": False, "whiten_samples": 200, "threads": 1},
    "metrics": {"names": ["el2n"], "el2n": {"ensemble_size": 2}},
    "sweep": {"sizes": [200], "fractions_kept": [1.0, 0.5], "metrics": ["random", "el2n"], "keep": ["hard"],
              "seeds": [0], "test_size": 100, "score_source": "full", "threads": 1},
}


def _env():
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}


def _cli(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, "-m", "prunebench", *args], capture_output=True, text=True, cwd=cwd,
                          env=_env(), timeout=300)


def _row(**changes):
    row = {"scale": "integritytest", "protocol": "fixed_epochs", "initial_size": 200, "fraction_kept": 1.0,
           "metric": "none", "keep": "all", "seed": 0, "test_accuracy": 0.25, "test_error": 0.75, "train_steps": 4,
           "config_hash": stage_hash(CONFIG, "sweep_point")}
    return {**row, **changes}


# --- run files -------------------------------------------------------------------------------------

def test_run_file_round_trip_carries_a_checksum(tmp_path):
    path = write_row(_row(), tmp_path / "seed0.json")
    row = read_row(path)
    assert row["test_accuracy"] == 0.25 and len(row["checksum"]) == 64


def test_empty_run_file_is_refused_by_aggregate_naming_the_file(tmp_path):
    good = write_row(_row(), tmp_path / "a" / "seed0.json")
    empty = tmp_path / "b" / "seed0.json"
    empty.parent.mkdir()
    empty.write_text("{}")
    proc = _cli("sweep", "aggregate", str(good), str(empty), "--out", str(tmp_path / "sweep.parquet"))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: sweep run file {empty} lacks scale") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "sweep.parquet").exists()


def test_edited_run_file_is_refused(tmp_path):
    path = write_row(_row(), tmp_path / "seed0.json")
    path.write_text(path.read_text().replace('"test_accuracy": 0.25', '"test_accuracy": 0.35'))
    with pytest.raises(PrunebenchError, match="does not match its checksum.*delete it and rerun"):
        read_row(path)


def test_aggregate_refuses_a_run_made_under_other_settings(tmp_path):
    stale = write_row(_row(config_hash="0123456789ab"), tmp_path / "seed0.json")
    assert len(sweep_table([stale])) == 1  # without a config: nothing to compare with
    with pytest.raises(PrunebenchError, match=r"other settings \(config_hash 0123456789ab.*rerun `snakemake"):
        sweep_table([stale], expected_hash=stage_hash(CONFIG, "sweep_point"))


def test_full_disk_writing_a_run_file_is_one_line_and_no_orphan(tmp_path, monkeypatch):
    def no_space(self, *args, **kwargs):
        with open(self, "w") as handle:
            handle.write("{")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", no_space)
    with pytest.raises(PrunebenchError, match="cannot write .*seed0.json: No space left on device") as err:
        write_row(_row(), tmp_path / "seed0.json")
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_cli_turns_a_full_disk_anywhere_into_one_line(monkeypatch, capsys):
    import prunebench.cli.sweep as sweep_cli
    from prunebench.cli import main

    def no_space(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/cache.npz")

    monkeypatch.setattr(sweep_cli, "run_plan", no_space)
    assert main(["sweep", "plan", "--config", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err == "error: No space left on device (/data/cache.npz); free disk space (or quota) and rerun\n"


# --- bad command-line input ------------------------------------------------------------------------

@pytest.mark.parametrize("option, value, expected", [
    ("--size", "0", "error: --size 0: the initial dataset size N must be a positive integer"),
    ("--seed", "-1", "error: --seed -1: the replicate index must be 0 or more"),
])
def test_bad_point_option_names_that_option(tmp_path, option, value, expected):
    args = {"--size": "200", "--seed": "0", option: value}
    out = tmp_path / "run.json"
    proc = _cli("sweep", "point", "--config", "smoke", "--metric", "none", "--keep", "all", "--fraction-kept", "1",
                "--size", args["--size"], "--seed", args["--seed"], "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.startswith(expected) and proc.stderr.count("\n") == 1, proc.stderr
    assert not out.exists()


# --- score tables read by a sweep point ------------------------------------------------------------

def _fake_train_set(n=400):
    from prunebench.data.dataset import ImageDataset

    rng = np.random.default_rng(0)
    return ImageDataset(name="fake", split="train", images=np.zeros((n, 4, 4, 3), np.uint8),
                        labels=np.arange(n, dtype=np.int64) % 10, ids=np.arange(n, dtype=np.int64),
                        classes=[str(c) for c in range(10)], checksum="fake"), rng


def test_sweep_point_refuses_a_stale_score_table(tmp_path):
    from prunebench.metrics.storage import write_scores
    from prunebench.sweep.point import point_seeds, prune_for_point

    train_set, rng = _fake_train_set()
    path = write_scores(tmp_path / "el2n.parquet", train_set.ids, rng.random(len(train_set)),
                        {"metric": "el2n", "score_name": "el2n", "config_hash": score_hash(CONFIG, "el2n")})
    point = SweepPoint("fixed_epochs", 200, "el2n", "hard", 0.5, 0)
    assert len(prune_for_point(CONFIG, point, train_set, point_seeds(CONFIG, point), path).kept) == 100
    changed = {**CONFIG, "metrics": {**CONFIG["metrics"], "el2n": {"ensemble_size": 3}}}
    with pytest.raises(PrunebenchError, match=f"score file {path} was made with other settings.*delete {path}"):
        prune_for_point(changed, point, train_set, point_seeds(changed, point), path)
    threads = {**CONFIG, "probe": {**CONFIG["probe"], "threads": 2}}  # the probe's threads are in its identity
    with pytest.raises(PrunebenchError, match="other settings"):
        prune_for_point(threads, point, train_set, point_seeds(threads, point), path)


def test_sweep_threads_change_the_point_identity():
    other = {**CONFIG, "sweep": {**CONFIG["sweep"], "threads": 2}}
    assert stage_hash(other, "sweep_point") != stage_hash(CONFIG, "sweep_point")
    assert stage_hash(other, "score", "el2n") == stage_hash(CONFIG, "score", "el2n")


def test_a_trained_row_records_the_machine(tmp_path):
    import torch

    from prunebench.sweep import baseline_point, run_point

    try:
        row = run_point(CONFIG, baseline_point(200, 0), threads=1)
    except PrunebenchError as err:
        pytest.skip(f"CIFAR-10 not available: {err}")
    assert set(ENVIRONMENT_KEYS) <= set(row)
    assert row["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and row["torch_threads"] == 1
    assert read_row(write_row(row, tmp_path / "seed0.json"))["cpu_model"] == row["cpu_model"]


# --- a killed workflow resumes ---------------------------------------------------------------------

TOY_SNAKEFILE = """
rule all:
    input: expand("out/{i}.txt", i=range(3))

rule step:
    output: "out/{i}.txt"
    shell: "echo partial > {output}; sleep 2; echo done {wildcards.i} > {output}; date +%s%N >> runs.log"
"""


def test_killed_run_resumes_through_the_wrapper_without_unlock(tmp_path):
    (tmp_path / "Snakefile").write_text(TOY_SNAKEFILE)
    wrapper = [sys.executable, "-m", "prunebench", "workflow", "--cores", "1", "--directory", str(tmp_path), "--"]
    first = subprocess.Popen([*wrapper, "-q"], cwd=tmp_path, env=_env(), start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (tmp_path / "runs.log").exists() or len((tmp_path / "runs.log").read_text().split()) < 1:
        assert time.time() < deadline and first.poll() is None, "the first run ended before it could be killed"
        time.sleep(0.1)
    time.sleep(0.5)  # the second job is now writing its output
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert list((tmp_path / ".snakemake" / "locks").glob("*.lock")), "a killed run leaves its lock"
    plain = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1"], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=120)
    said = plain.stdout + plain.stderr  # what the user used to see: a lock or incomplete-files stop
    assert plain.returncode != 0 and ("LockException" in said or "--rerun-incomplete" in said), said[-2000:]
    resumed = subprocess.run(wrapper, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "removed the stale Snakemake lock" in resumed.stderr
    assert [(tmp_path / f"out/{i}.txt").read_text() for i in range(3)] == [f"done {i}\n" for i in range(3)]
    assert len((tmp_path / "runs.log").read_text().split()) == 3  # the finished job was not rerun


def test_lock_of_a_live_run_is_kept(tmp_path):
    from prunebench.cli.workflow import unlock_stale

    lock = tmp_path / ".snakemake" / "locks" / "0.output.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("x")
    live = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 30"], cwd=tmp_path)  # argv[0] = snakemake
    try:
        time.sleep(0.3)
        assert unlock_stale(tmp_path) is False and lock.exists()
    finally:
        live.kill()
        live.wait()
    assert unlock_stale(tmp_path) is True and not lock.exists()


def test_regenerate_forces_roots_with_untracked_committed_outputs(tmp_path):
    from prunebench.cli.workflow import forced_roots

    config = {"name": "ci"}
    manifest = tmp_path / "results/ci/data/manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({}))
    assert forced_roots(tmp_path, config) == ["data_prepare"]
    import base64

    record = tmp_path / ".snakemake/metadata" / base64.urlsafe_b64encode(b"results/ci/data/manifest.json").decode()
    record.parent.mkdir(parents=True)
    record.write_text("{}")
    assert forced_roots(tmp_path, config) == []  # made by this checkout: a rerun resumes


def test_a_failing_job_shows_its_error_line(tmp_path):
    (tmp_path / "Snakefile").write_text('rule all:\n    output: "x.txt"\n    log: "x.log"\n'
                                        '    shell: "echo \'error: the data root is missing; set PRUNEBENCH_DATA\' > {log}; exit 2"\n')
    proc = subprocess.run([sys.executable, "-m", "prunebench", "workflow", "--cores", "1", "--directory", str(tmp_path)],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "error: the data root is missing; set PRUNEBENCH_DATA" in proc.stdout + proc.stderr


def test_damaged_outputs_are_found_for_recomputation(tmp_path):
    from prunebench.cli.workflow import damaged_outputs
    from prunebench.metrics.storage import write_scores

    results = tmp_path / "results" / "integritytest"
    good = write_scores(results / "scores" / "el2n.parquet", np.arange(50), np.linspace(0, 1, 50), {"metric": "el2n"})
    bad = write_scores(results / "scores" / "subset" / "N20" / "seed0" / "el2n.parquet", np.arange(50),
                       np.linspace(0, 1, 50), {"metric": "el2n"})
    bad.write_bytes(bad.read_bytes()[:100])  # truncated: Snakemake alone would take it as up to date
    write_row(_row(), results / "runs" / "fixed_epochs" / "N200" / "none" / "all" / "f1" / "seed0.json")
    empty = results / "runs" / "fixed_epochs" / "N200" / "none" / "all" / "f1" / "seed1.json"
    empty.write_text("{}")
    assert read_row(results / "runs" / "fixed_epochs" / "N200" / "none" / "all" / "f1" / "seed0.json")
    assert good.exists()
    assert damaged_outputs(tmp_path, {"name": "integritytest"}) == [
        "results/integritytest/scores/subset/N20/seed0/el2n.parquet",
        "results/integritytest/runs/fixed_epochs/N200/none/all/f1/seed1.json"]
