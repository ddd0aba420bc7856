"""Subset models spread over jobs (``metrics.models_per_job``, prunebench.metrics.chunks).

The chunked path must give the very scores of one job training every model (same runs, same seeds,
same outcomes), leave the metric's own job nothing to train, slice the global model order exactly,
and refuse a bad chunk or model set in one line. The workflow side: ``snakemake -n`` plans one
``metrics_models`` job per chunk and makes the metric's job wait for them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from prunebench.data import data_root
from prunebench.errors import PrunebenchError
from prunebench.metrics import read_scores
from prunebench.metrics.chunks import chunk_slices, chunked_sets, train_chunk
from prunebench.metrics.compute import compute_metric
from test_metrics import DATA, PROBE  # registers the test_mlp probe

needs_cifar = pytest.mark.skipif(not (data_root() / "cifar10-jpeg").is_dir(), reason="CIFAR-10 jpeg data not found")

CONFIG = {"name": "pytest-chunks", "seed": 0, "data": {**DATA, "train_size": 200, "test_size": 100},
          "probe": {**PROBE, "epochs": 2},
          "metrics": {"names": ["memorization", "influence", "influence-sum-abs"],
                      "variants": {"influence-sum-abs": {"metric": "influence", "params": {"variant": "sum-abs"}}},
                      "ensemble": {"epochs": 2}, "subsample": {"models": 4, "ratio": 0.5, "epochs": 2}}}


def chunked(per_job: int) -> dict:
    return {**CONFIG, "metrics": {**CONFIG["metrics"], "models_per_job": per_job}}


def test_chunk_slices_cut_the_concatenated_groups_at_multiples_of_k():
    groups = [("fold0", np.zeros((3, 5), bool), 1), ("fold1", np.zeros((3, 5), bool), 1)]
    cuts = [[(role, rows) for role, _, _, rows in chunk_slices(groups, k, 4)] for k in range(2)]
    assert cuts == [[("fold0", [0, 1, 2]), ("fold1", [0])], [("fold1", [1, 2])]]
    assert chunk_slices(groups, 2, 4) == []


def test_model_sets_count_models_from_the_config_and_variants_share_one_set():
    sets = chunked_sets(chunked(3))
    assert sets == {"subsample": {"name": "memorization", "models": 4, "chunks": 2},
                    "influence": {"name": "influence", "models": 8, "chunks": 3}}
    assert chunked_sets(CONFIG) == {}


@needs_cifar
def test_chunked_jobs_give_the_scores_of_one_job_and_leave_it_nothing_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNEBENCH_PROBE_DIR", str(tmp_path / "one-job"))
    whole = {name: read_scores(compute_metric(CONFIG, name, out=tmp_path / f"whole-{name}.parquet"))
             for name in ("memorization", "influence-sum-abs")}

    monkeypatch.setenv("PRUNEBENCH_PROBE_DIR", str(tmp_path / "chunks"))
    config = chunked(3)
    summaries = [train_chunk(config, key, k) for key, entry in chunked_sets(config).items()
                 for k in range(entry["chunks"])]
    assert [len(s["models"]) for s in summaries] == [3, 1, 3, 3, 2]
    assert not any(m["reused"] for s in summaries for m in s["models"])
    for name, table in whole.items():
        again = read_scores(compute_metric(config, name, out=tmp_path / f"chunked-{name}.parquet"))
        np.testing.assert_array_equal(again.ids, table.ids)
        np.testing.assert_array_equal(again.scores, table.scores)
        np.testing.assert_array_equal(again.score_se, table.score_se)
        models = 4 * (2 if "influence" in name else 1)
        assert (again.provenance["reused_probe_runs"], table.provenance["reused_probe_runs"]) == (models, 0)
    outcomes = sorted(p.name.split("-e")[0] for p in (tmp_path / "chunks").rglob("outcome-*.npy"))
    assert len(outcomes) == 12 and not list((tmp_path / "chunks").rglob("logits-*.npy"))


def test_a_bad_chunk_or_model_set_is_one_line():
    with pytest.raises(PrunebenchError, match="chunks 0..1"):
        train_chunk(chunked(3), "subsample", 5)
    with pytest.raises(PrunebenchError, match="no chunked model set 'ddd'"):
        train_chunk(chunked(3), "ddd", 0)
    with pytest.raises(PrunebenchError, match="set metrics.models_per_job"):
        train_chunk(CONFIG, "subsample", 0)


def test_the_workflow_plans_one_metrics_models_job_per_chunk(tmp_path):
    import yaml

    from test_slurm import REPO, dry_run_plan

    config = yaml.safe_load((REPO / "workflow/config/smoke.yaml").read_text())
    config["metrics"]["models_per_job"] = 3
    path = tmp_path / "smoke-chunks.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    plan = dry_run_plan("workflow/profiles/slurm", str(path))
    chunks = chunked_sets(config)
    expected = sum(entry["chunks"] for entry in chunks.values())
    assert len(plan["metrics_models"]) == expected, json.dumps(chunks)
    shells = " ".join(job["shell"] for job in plan["metrics_models"])
    for key, entry in chunks.items():
        assert all(f"--model-set {key} --chunk {k} " in shells for k in range(entry["chunks"]))
