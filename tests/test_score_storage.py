"""Score tables: round trip, provenance, and one-line rejection of bad files, ids and names."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from prunebench.errors import PrunebenchError
from prunebench.metrics import get_metric, list_metrics, read_scores, write_scores
from prunebench.provenance import REPO_ROOT

PROV = {"metric": "el2n", "variant": "ensemble-mean,k=2,epoch=1", "config_hash": "abc", "seed": 0, "seeds": [1, 2],
        "code_version": "test", "probe_epochs": 1, "cost_probe_epochs": 2.0, "wall_time_s": 1.5,
        "compute_time_s": 0.1, "reused_probe_runs": 1, "params": {"ensemble_size": 2}, "dataset_checksum": "sha"}


def _env():
    import os

    return {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}


def test_round_trip_in_canonical_order(tmp_path):
    ids = np.array([7, 3, 11, 5])
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    path = write_scores(tmp_path / "s.parquet", ids, scores, PROV)
    table = read_scores(path)
    assert list(table.ids) == [3, 5, 7, 11]
    assert list(table.scores) == [0.2, 0.4, 0.1, 0.3]
    assert table.provenance["direction"] == "higher=harder"
    assert table.provenance["seeds"] == [1, 2] and table.provenance["cost_probe_epochs"] == 2.0
    aligned = read_scores(path, expected_ids=ids)
    assert list(aligned.ids) == list(ids) and list(aligned.scores) == list(scores)
    frame = pd.read_parquet(path)
    for column in ("metric", "variant", "config_hash", "seed", "code_version", "probe_epochs", "wall_time_s",
                   "cost_probe_epochs"):
        assert column in frame.columns


def test_ids_not_matching_dataset_rejected(tmp_path):
    path = write_scores(tmp_path / "s.parquet", np.arange(10), np.ones(10), PROV)
    with pytest.raises(PrunebenchError, match="does not match the dataset"):
        read_scores(path, expected_ids=np.arange(1, 11))
    with pytest.raises(PrunebenchError, match="does not match the dataset"):
        read_scores(path, expected_ids=np.arange(9))
    subset = read_scores(path, expected_ids=np.array([4, 2]), allow_subset=True)
    assert list(subset.ids) == [4, 2]
    with pytest.raises(PrunebenchError, match="does not match the dataset"):
        read_scores(path, expected_ids=np.array([4, 12]), allow_subset=True)


def test_corrupt_missing_and_nan_files_rejected(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(PrunebenchError, match="not a readable parquet"):
        read_scores(bad)
    with pytest.raises(PrunebenchError, match="not found"):
        read_scores(tmp_path / "missing.parquet")
    pd.DataFrame({"example_id": [0, 1], "score": [0.1, 0.2]}).to_parquet(tmp_path / "cols.parquet")
    with pytest.raises(PrunebenchError, match="lacks column"):
        read_scores(tmp_path / "cols.parquet")
    path = write_scores(tmp_path / "nan.parquet", np.arange(3), np.ones(3), PROV)
    frame = pd.read_parquet(path)
    frame.loc[1, "score"] = np.nan
    frame.to_parquet(path)  # pandas drops the checksum metadata: an edited table is refused as such
    with pytest.raises(PrunebenchError, match="no content checksum"):
        read_scores(path)
    _rewrite_with_checksum(path, frame)
    with pytest.raises(PrunebenchError, match="NaN"):
        read_scores(path)


def _rewrite_with_checksum(path, frame):
    """Write ``frame`` as a score table whose checksum matches its (possibly bad) content."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from prunebench.provenance import content_checksum

    table = pa.Table.from_pandas(frame, preserve_index=False)
    digest = content_checksum(frame["example_id"].to_numpy(np.int64), frame["score"].to_numpy(np.float64),
                              frame["score_se"].to_numpy(np.float64))
    pq.write_table(table.replace_schema_metadata({b"content_sha256": digest.encode()}), path)


def test_every_single_bit_flip_of_the_score_column_is_refused(tmp_path):
    """Issue 11 item 4: 58 of 60 bit flips in the score column were read back silently."""
    import pyarrow.parquet as pq

    path = write_scores(tmp_path / "s.parquet", np.arange(60), np.linspace(0, 1, 60), PROV)
    table = pq.read_table(path)
    scores = table.column("score").to_numpy()
    for position in range(60):
        flipped = scores.copy()
        flipped.view(np.uint64)[position] ^= np.uint64(1) << np.uint64(position % 52)  # one mantissa bit
        damaged = table.set_column(table.schema.get_field_index("score"), "score", [flipped])
        pq.write_table(damaged.replace_schema_metadata(table.schema.metadata), path)
        with pytest.raises(PrunebenchError, match="does not match its content checksum"):
            read_scores(path)


def test_truncated_table_is_refused_with_its_fix(tmp_path):
    path = write_scores(tmp_path / "s.parquet", np.arange(500), np.linspace(0, 1, 500), PROV)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(PrunebenchError, match="not a readable parquet table.*recompute") as err:
        read_scores(path)
    assert "\n" not in str(err.value)


def test_stale_config_hash_is_refused_naming_the_fix(tmp_path):
    path = write_scores(tmp_path / "el2n.parquet", np.arange(10), np.ones(10), PROV)
    assert read_scores(path, expected_hash="abc").provenance["config_hash"] == "abc"
    with pytest.raises(PrunebenchError, match=r"other settings \(config_hash abc.* gives def.*rerun `snakemake") as err:
        read_scores(path, expected_hash="def")
    assert f"delete {path}" in str(err.value)


def test_table_records_the_machine(tmp_path):
    import torch

    table = read_scores(write_scores(tmp_path / "s.parquet", np.arange(5), np.ones(5), {**PROV, "torch_threads": 3}))
    assert table.provenance["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert table.provenance["torch_threads"] == 3 and table.provenance["torch_version"] == torch.__version__
    assert table.provenance["cpu_model"] and table.provenance["platform"]


def test_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    import errno

    import pyarrow.parquet as pq

    def no_space(table, where, *args, **kwargs):
        with open(where, "wb") as handle:
            handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", no_space)
    with pytest.raises(PrunebenchError, match="cannot write .*No space left on device.*free disk space") as err:
        write_scores(tmp_path / "s.parquet", np.arange(5), np.ones(5), PROV)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_file_is_one_error_line_from_cli(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"garbage")
    proc = subprocess.run([sys.executable, "-m", "prunebench", "metrics", "correlations", "--scores", str(bad), str(bad),
                           "--out-fig", str(tmp_path / "f.png"), "--out-csv", str(tmp_path / "c.csv")],
                          capture_output=True, text=True, cwd=REPO_ROOT, env=_env())
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and proc.stderr.strip().count("\n") == 0, proc.stderr


def test_unknown_metric_name_lists_registered_names():
    with pytest.raises(PrunebenchError) as err:
        get_metric("el2m")
    assert "el2n" in str(err.value) and "forgetting" in str(err.value)


def test_metrics_list_cli_prints_registry():
    proc = subprocess.run([sys.executable, "-m", "prunebench", "metrics", "list"], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=_env())
    assert proc.returncode == 0
    assert proc.stdout.split() == list_metrics()
    # the paper's benchmark metrics and the baselines stay registered (others may be added: the registry is the truth)
    shipped = {"random", "el2n", "grand", "forgetting", "aum", "memorization", "influence", "margin", "entropy",
               "ensemble-active-learning", "ddd", "supervised-prototypes", "ssl-prototypes", "input-norm"}
    assert shipped <= set(list_metrics())


def test_correlation_figure_and_csv(tmp_path):
    from prunebench.figures.correlation import plot_correlations

    rng = np.random.default_rng(0)
    base = rng.normal(size=200)
    paths = []
    for name, s in {"a": base, "b": base * 3 + 1, "c": -base, "d": rng.normal(size=200)}.items():
        paths.append(write_scores(tmp_path / f"{name}.parquet", np.arange(200), s, {**PROV, "metric": name}))
    matrix = plot_correlations(paths, tmp_path / "fig.png", tmp_path / "m.csv")
    assert matrix.loc["a", "b"] == pytest.approx(1.0) and matrix.loc["a", "c"] == pytest.approx(-1.0)
    assert abs(matrix.loc["a", "d"]) < 0.3
    assert (tmp_path / "fig.png").stat().st_size > 1000
    assert pd.read_csv(tmp_path / "m.csv", index_col=0).shape == (4, 4)
