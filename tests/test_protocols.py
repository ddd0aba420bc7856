"""The sweep-protocol registry: every protocol keeps its contract, shipped plans are unchanged,
protocol_cells restricts where a protocol runs, and each baseline point (RS2 both ways, compressed
schedule, InfoBatch) trains end to end into a valid row with its cost columns."""

import hashlib
import json
import re

import pytest
import yaml

from prunebench.config import REPO_ROOT, load_config
from prunebench.errors import PrunebenchError
from prunebench.sweep import SweepPoint, baseline_point, parse_point, plan_points, run_point, sweep_table, write_row
from prunebench.sweep.plan import planned_protocols, score_table_path
from prunebench.sweep.protocols import get_protocol, keep_labels, list_protocols, wildcard_constraints
from prunebench.sweep.shard import point_of_run_file
from test_sweep import CONFIG, train_set  # noqa: F401  (the 400 real CIFAR-10 images fixture)

# sha256 of the newline-joined run-file paths of each shipped plan, computed with the plan code
# before the registry existed (git ab92690): adding the registry must not move a single point.
SHIPPED_PLANS = {"ci": (51, "d9a6550b7fccf718"), "smoke": (9, "2294ebb2da40c817"),
                 "cifar10": (690, "c069e1c10ad41741"), "imagenet": (63, "cb4983887ff23bc8")}
CIFAR10_CPU_BEFORE = (390, "24ad85118f104c38")  # its plan before the protocol_cells entries were added
BASELINES = {"rs2", "compressed_schedule", "infobatch"}


def digest(points) -> str:
    return hashlib.sha256("\n".join(p.relative_path() for p in points).encode()).hexdigest()[:16]


def with_cells(cells: dict, **sweep) -> dict:
    return {**CONFIG, "sweep": {**CONFIG["sweep"], **sweep, "protocol_cells": cells}}


@pytest.mark.parametrize("name", list_protocols())
def test_protocol_contract(name):
    protocol = get_protocol(name)
    assert protocol.name == name and protocol.budget and protocol.trains_on in ("kept", "initial")
    assert (protocol.trains_on == "initial") == bool(protocol.labels)  # baselines read no scores, have own labels
    for metric, keep in protocol.labels:
        assert re.fullmatch(r"[a-z0-9-]+", metric) and keep in keep_labels()
    points = plan_points(with_cells({name: {}}))
    own = [p for p in points if p.protocol == name]
    assert own, f"{name} plans no point"
    constraints = wildcard_constraints()
    for point in own:
        assert parse_point(point.protocol, point.initial_size, point.metric, point.keep, point.fraction_kept,
                           point.seed) == point
        assert point_of_run_file(f"results/x/runs/{point.relative_path()}") == point
        fields = dict(zip(("protocol", "n", "metric", "keep", "f", "seed"), re.match(
            r"(.+)/N(.+)/(.+)/(.+)/f(.+)/seed(.+)\.json", point.relative_path()).groups()))
        assert all(re.fullmatch(constraints[key], value) for key, value in fields.items())
        assert (score_table_path("r", point, "full") is None) == (protocol.trains_on == "initial" or
                                                                 point.metric in ("random", "none"))
        assert (point.fraction_kept < 1) == protocol.per_fraction or point.is_baseline


def test_unknown_protocols_and_labels_are_one_line():
    with pytest.raises(PrunebenchError, match="unknown protocol 'fixed_flops'; use one of"):
        parse_point("fixed_flops", 200, "el2n", "hard", 0.5, 0)
    with pytest.raises(PrunebenchError, match="run-file labels"):
        parse_point("rs2", 200, "rs2", "hard", 0.5, 0)
    with pytest.raises(PrunebenchError, match="f = 1"):
        parse_point("infobatch", 200, "infobatch", "dynamic", 0.5, 0)
    with pytest.raises(PrunebenchError, match="f < 1"):
        parse_point("compressed_schedule", 200, "full-data", "compressed", 1.0, 0)
    with pytest.raises(PrunebenchError, match="keep mode"):
        parse_point("fixed_epochs", 200, "el2n", "dynamic", 0.5, 0)


@pytest.mark.parametrize("scale", sorted(SHIPPED_PLANS))
def test_shipped_plans_are_unchanged(scale):
    assert (len(plan_points(load_config(scale))), digest(plan_points(load_config(scale)))) == SHIPPED_PLANS[scale]


def test_cifar10_cpu_cells_only_append_points():
    """The protocol_cells entries add points after the 390 of the running long sweep, which keep
    their order (so its shards of 8 are unchanged)."""
    config = load_config("cifar10-cpu")
    points = plan_points(config)
    count, expected = CIFAR10_CPU_BEFORE
    assert digest(points[:count]) == expected
    without = {**config, "sweep": {k: v for k, v in config["sweep"].items() if k != "protocol_cells"}}
    assert digest(plan_points(without)) == expected
    from prunebench.sweep.shard import chunk_plan

    size = config["sweep"]["shard_size"]
    assert chunk_plan(points, size)[:len(chunk_plan(points[:count], size))] == chunk_plan(points[:count], size)


def test_protocol_cells_restrict_sizes_strategies_fractions_and_seeds():
    config = with_cells({"fixed_compute": {"sizes": [300], "strategies": ["el2n/hard"]},
                         "rs2": {"sizes": [300], "strategies": ["rs2/without-replacement"]},
                         "infobatch": {"sizes": [200]},
                         "compressed_schedule": {"fractions": [0.5], "seeds": [0]}},
                        fixed_compute_metrics=None)
    points = plan_points(config)
    assert planned_protocols(config) == ["fixed_epochs", "fixed_compute", "rs2", "infobatch", "compressed_schedule"]
    compute = [p for p in points if p.protocol == "fixed_compute"]
    assert compute == [SweepPoint("fixed_compute", 300, "el2n", "hard", 0.5, 0)]
    assert [p for p in points if p.protocol == "rs2"] == [SweepPoint("rs2", 300, "rs2", "without-replacement", 0.5, 0)]
    assert [p for p in points if p.protocol == "infobatch"] == [SweepPoint("infobatch", 200, "infobatch", "dynamic", 1.0, 0)]
    assert len([p for p in points if p.protocol == "compressed_schedule"]) == 2  # N 200 and 300
    base = plan_points(CONFIG)
    assert points[:len(base) - 2] == base[:len(base) - 2]  # fixed_epochs points first, unchanged


@pytest.mark.parametrize("cells, message", [
    ({"rs2": {"sizes": [1000]}}, "not in the sweep's grid"),
    ({"rs2": {"fractions": [0.3]}}, "not in the sweep's grid"),
    ({"infobatch": {"fractions": [0.5]}}, "not in the sweep's grid"),
    ({"fixed_compute": {"strategies": ["forgetting/hard"]}}, "not strategies of fixed_compute"),
    ({"rs2": {"size": [200]}}, r"sweep.protocol_cells.rs2 has no key\(s\) size; use "),
    ({"rs3": {}}, "unknown protocol 'rs3'"),
])
def test_protocol_cells_outside_the_grid_are_refused(cells, message):
    with pytest.raises(PrunebenchError, match=message):
        plan_points(with_cells(cells))


def test_sweep_schema_accepts_protocol_cells():
    from prunebench.config import validate_config

    config = yaml.safe_load((REPO_ROOT / "workflow" / "config" / "ci.yaml").read_text())
    config["sweep"]["protocol_cells"] = {"rs2": {"sizes": [1600], "strategies": ["rs2/with-replacement"]},
                                         "infobatch": {}}
    validate_config(config)
    config["sweep"]["protocol_cells"] = {"rs2": {"sizes": "all"}}
    with pytest.raises(PrunebenchError, match="protocol_cells"):
        validate_config(config)


BASELINE_CONFIG = {**CONFIG, "probe": {**CONFIG["probe"], "epochs": 4}}  # 4 epochs: InfoBatch prunes epochs 1-2


@pytest.fixture(scope="module")
def baseline_runs(train_set, tmp_path_factory):  # noqa: F811
    """At N = 200, f = 0.5 (batch 50, 4 epochs): the f = 1 run, static random, both RS2, the
    compressed schedule and InfoBatch, written as run files."""
    folder = tmp_path_factory.mktemp("baseline-runs")
    points = {"base": baseline_point(200, 0), "static": SweepPoint("fixed_epochs", 200, "random", "random", 0.5, 0),
              "rs2": SweepPoint("rs2", 200, "rs2", "without-replacement", 0.5, 0),
              "rs2-repl": SweepPoint("rs2", 200, "rs2", "with-replacement", 0.5, 0),
              "compressed": SweepPoint("compressed_schedule", 200, "full-data", "compressed", 0.5, 0),
              "infobatch": SweepPoint("infobatch", 200, "infobatch", "dynamic", 1.0, 0)}
    rows = {name: run_point(BASELINE_CONFIG, point, threads=1) for name, point in points.items()}
    paths = [write_row(row, folder / points[name].relative_path()) for name, row in rows.items()]
    return {"rows": rows, "paths": paths, "folder": folder}


def test_baseline_points_spend_the_static_runs_steps(baseline_runs):
    rows = baseline_runs["rows"]
    assert rows["base"]["train_steps"] == 16 and rows["static"]["train_steps"] == 8
    for name in ("rs2", "rs2-repl", "compressed"):
        assert rows[name]["train_steps"] == rows["static"]["train_steps"], name
        assert rows[name]["n_kept"] == 200 and rows[name]["score_source"] == "none"
    assert rows["rs2"]["examples_per_epoch"] == 100 and rows["rs2"]["epochs"] == pytest.approx(4)
    assert rows["compressed"]["examples_per_epoch"] == 200 and rows["compressed"]["epochs"] == pytest.approx(2)
    assert json.loads(rows["rs2"]["protocol_recipe"]) == {"dynamic_pruning": {"rule": "rs2", "ratio": 0.5}}
    assert json.loads(rows["rs2-repl"]["protocol_recipe"])["dynamic_pruning"]["rule"] == "rs2-with-replacement"
    assert rows["compressed"]["recipe_epochs"] == pytest.approx(2)  # 4 epochs x ceil(100/50) / ceil(200/50)
    assert 8 < rows["infobatch"]["train_steps"] < rows["base"]["train_steps"]  # pruned epochs 1, 2 are shorter
    assert '"ratio": 0.5' in rows["infobatch"]["protocol_recipe"] and rows["static"]["protocol_recipe"] == "{}"


def test_baseline_rows_carry_the_cost_columns(baseline_runs):
    for name, row in baseline_runs["rows"].items():
        assert row["total_steps"] == row["steps_with_scoring"] == row["train_steps"] + row["score_probe_steps"]
        assert row["total_wall_time_s"] == pytest.approx(row["train_wall_time_s"] + row["score_wall_time_s"])
        assert row["train_wall_time_s"] > 0 and 0 <= row["test_accuracy"] <= 1, name


def test_aggregation_and_scaling_read_the_baseline_rows(baseline_runs):
    from prunebench.scaling.analysis import analyse_sweep, strategies

    table = sweep_table([baseline_runs["folder"]])
    assert len(table) == 6 and set(table["protocol"]) >= BASELINES
    assert table["total_steps"].dtype.kind == "i"
    assert ("rs2", "rs2", "without-replacement") in strategies(table)
    summary = analyse_sweep(table, n_boot=10, n_null=10)
    assert set(summary["protocols"]) >= {"fixed_epochs"}
    legacy = table.drop(columns=["total_steps", "total_wall_time_s"])
    path = baseline_runs["folder"] / "legacy.parquet"
    legacy.to_parquet(path)
    from prunebench.sweep.aggregate import with_cost_totals

    assert with_cost_totals(legacy)["total_steps"].tolist() == table["total_steps"].tolist()


def test_cli_lists_and_accepts_every_registered_protocol(capsys):
    from prunebench.cli import main

    assert main(["sweep", "protocols"]) == 0
    listed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert listed == list_protocols()
    with pytest.raises(SystemExit):  # argparse's choices come from the registry
        main(["sweep", "point", "--config", "ci", "--protocol", "fixed_flops", "--size", "400", "--metric", "none",
              "--keep", "all", "--fraction-kept", "1", "--out", "x.json"])


def test_a_shard_trains_and_then_skips_baseline_points(train_set, tmp_path):  # noqa: F811
    """Baseline run files go through `sweep shard` like any other: written once, valid on the rerun."""
    from prunebench.sweep.shard import run_shard

    points = [SweepPoint("rs2", 200, "rs2", "with-replacement", 0.5, 0),
              SweepPoint("infobatch", 300, "infobatch", "dynamic", 1.0, 0)]
    jobs = [(point, tmp_path / point.relative_path()) for point in points]
    first = run_shard(CONFIG, jobs, threads=1)
    assert first.trained == [path for _, path in jobs] and not first.skipped
    again = run_shard(CONFIG, jobs, threads=1)
    assert again.skipped == [path for _, path in jobs] and not again.trained


IMAGENETTE_CPU_BEFORE = (219, "e27bb38202826739")  # its plan before the unbalanced cells (the committed first run)


def test_imagenette_cpu_unbalanced_cells_only_append_points():
    """The class-balancing ablation adds 11 metrics x 5 f x 3 seeds after the 219 committed points."""
    points = plan_points(load_config("imagenette-cpu"))
    count, expected = IMAGENETTE_CPU_BEFORE
    assert digest(points[:count]) == expected and len(points) == count + 165
    assert {p.protocol for p in points[count:]} == {"unbalanced"}
    assert all(p.metric != "random" and p.keep == "hard" for p in points[count:])


def test_unbalanced_protocol_selects_without_class_balance():
    """Same point under fixed_epochs and unbalanced: class_balance 0.5 keeps every class's floor
    ceil(0.5 f N_c), class_balance 0 is plain global top-k (here: one class's scores are all highest)."""
    import numpy as np

    from prunebench.sweep.point import kept_positions, point_selection

    config = {**CONFIG, "selection": {"class_balance": 0.5}}
    labels = np.repeat([0, 1], 50)
    scores = np.where(labels == 0, 10.0, 0.0) + np.linspace(0, 1, 100)  # class 0 is all harder
    seeds = {"selection_seed": 0}
    kept = {}
    for protocol in ("fixed_epochs", "unbalanced"):
        point = SweepPoint(protocol, 100, "el2n", "hard", 0.5, 0)
        kept[protocol] = kept_positions(point, scores, labels, seeds, config)
    assert point_selection(config, SweepPoint("unbalanced", 100, "el2n", "hard", 0.5, 0))["class_balance"] == 0.0
    assert np.bincount(labels[kept["unbalanced"]], minlength=2).tolist() == [50, 0]
    assert np.bincount(labels[kept["fixed_epochs"]], minlength=2).tolist() == [37, 13]  # floor ceil(0.5·0.5·50) = 13
