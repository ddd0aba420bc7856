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
    frame.to_parquet(path)
    with pytest.raises(PrunebenchError, match="NaN"):
        read_scores(path)


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
    expected = {"random", "el2n", "grand", "forgetting", "aum", "memorization", "influence", "margin", "entropy",
                "ensemble-active-learning", "ddd", "supervised-prototypes", "ssl-prototypes"}
    assert set(list_metrics()) == expected


def test_schema_enum_matches_registry():
    import yaml

    schema = yaml.safe_load((REPO_ROOT / "workflow/schemas/metrics.schema.yaml").read_text())
    assert sorted(schema["properties"]["variants"]["additionalProperties"]["properties"]["metric"]["enum"]) == list_metrics()
    # every metric's parameter block in the schema names exactly the registered parameters
    for name in list_metrics():
        block = schema["properties"][name]["properties"]
        assert set(block) == set(get_metric(name).defaults), name


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
