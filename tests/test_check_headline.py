"""check-headline: derived numbers exact on any CPU, trained numbers statistical; injected regressions fail."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from prunebench.checks.calibration import calibrate, read_calibration, write_calibration
from prunebench.checks.derived import compare_derived, rederive_entries
from prunebench.checks.trained import check_trained, null_rho, sweep_rows
from prunebench.config import CONFIG_DIR, load_config
from prunebench.errors import PrunebenchError
from prunebench.headline import failed
from prunebench.metrics.storage import write_scores
from prunebench.provenance import stage_hash
from prunebench.sweep import write_sweep_table

sys.path.insert(0, str(Path(__file__).parent))
from test_scaling import synthetic_sweep  # noqa: E402

METRICS = ("el2n", "forgetting", "memorization")


@pytest.fixture()
def derived_setup(tmp_path):
    """A scale 'derivetest' (the ci settings, no theory points) with a synthetic committed sweep table."""
    config = yaml.safe_load((CONFIG_DIR / "ci.yaml").read_text())
    config["name"] = "derivetest"
    config["headline"]["theory_points"] = []
    config_path = tmp_path / "derivetest.yaml"
    config_path.write_text(yaml.safe_dump(config))
    results = tmp_path / "results"
    config = load_config(config_path)
    sweep = synthetic_sweep(seeds=2)
    sweep["config_hash"] = stage_hash(config, "sweep_point")  # rows made under this config
    write_sweep_table(sweep, results / "sweep.parquet")
    return config, config_path, results


def test_rederived_entries_match_themselves_exactly(derived_setup):
    config, config_path, results = derived_setup
    expected = rederive_entries(config, config_path, results)
    rows = compare_derived(expected, rederive_entries(config, config_path, results), {"derivetest"})
    assert rows and not failed(rows)


def test_a_fit_that_drops_a_point_fails_the_derived_check(derived_setup, monkeypatch):
    config, config_path, results = derived_setup
    expected = rederive_entries(config, config_path, results)
    import prunebench.sweep as sweep_package

    original = sweep_package.read_sweep_table

    def drop_smallest_baseline(path, **checks):
        table = original(path, **checks)
        smallest = table[(table["metric"] == "none") & (table["initial_size"] == table["initial_size"].min())]
        return table.drop(index=smallest.index[:1])

    monkeypatch.setattr(sweep_package, "read_sweep_table", drop_smallest_baseline)
    rows = compare_derived(expected, rederive_entries(config, config_path, results), {"derivetest"})
    assert "nu_full_data" in {row["name"] for row in failed(rows)}


def test_a_sweep_table_made_under_other_settings_is_refused(derived_setup):
    config, config_path, results = derived_setup
    config["sweep"]["train"]["lr"] = 0.3  # the recipe in force is not the one the rows were trained with
    with pytest.raises(PrunebenchError, match="made with other settings"):
        rederive_entries(config, config_path, results)


def test_a_stale_headline_value_fails_the_derived_check(derived_setup):
    config, config_path, results = derived_setup
    expected = rederive_entries(config, config_path, results)
    stale = [{**e, "value": e["value"] + 1e-3} if e["name"] == "nu_full_data" else e for e in expected]
    rows = compare_derived(stale, rederive_entries(config, config_path, results), {"derivetest"})
    assert [row["name"] for row in failed(rows)] == ["nu_full_data"]


def _write_folder(folder: Path, scores: dict[str, np.ndarray], accuracies: np.ndarray, grid: pd.DataFrame):
    ids = np.arange(len(next(iter(scores.values()))))
    for metric, values in scores.items():
        write_scores(folder / "scores" / f"{metric}.parquet", ids, values,
                     {"metric": metric, "variant": "", "config_hash": "x", "seed": 0, "code_version": "test"})
    table = grid.copy()
    table["test_accuracy"] = accuracies
    table["test_error"] = 1 - accuracies
    write_sweep_table(table, folder / "sweep.parquet")


def _grid(n_points: int) -> pd.DataFrame:
    return pd.DataFrame({"protocol": "fixed_epochs", "initial_size": 100 * (1 + np.arange(n_points) // 6),
                         "metric": "el2n", "keep": np.where(np.arange(n_points) % 2, "hard", "easy"),
                         "fraction_kept": [(1.0, 0.8, 0.5)[(i // 2) % 3] for i in range(n_points)], "seed": 0,
                         "n_kept": 10})


@pytest.fixture()
def trained_setup(tmp_path):
    """Committed folder, a calibration run of it with another seed, and the calibration document."""
    rng = np.random.default_rng(0)
    truth = {"el2n": rng.normal(size=2000), "forgetting": rng.normal(size=2000), "memorization": rng.normal(size=2000)}
    noise = {"el2n": 0.3, "forgetting": 0.8, "memorization": 30.0}  # memorization: noise at this scale
    grid = _grid(48)
    accuracy = rng.uniform(0.3, 0.6, size=len(grid))

    def run(seed):
        r = np.random.default_rng(seed)
        return ({m: truth[m] + r.normal(scale=noise[m], size=2000) for m in METRICS},
                accuracy + r.normal(scale=0.02, size=len(grid)))

    committed, perturbed = tmp_path / "committed", tmp_path / "perturbed"
    _write_folder(committed, *run(1), grid)
    _write_folder(perturbed, *run(2), grid)
    document = calibrate(committed, perturbed, "toy", {"seed": {"committed": 1, "regenerated": 2}, "env": {}})
    write_calibration(document, committed / "check_calibration.json")
    return committed, run, grid, tmp_path, read_calibration(committed / "check_calibration.json")


def test_a_legitimate_regeneration_passes_and_noise_metrics_are_flagged(trained_setup):
    committed, run, grid, tmp_path, calibration = trained_setup
    _write_folder(tmp_path / "regen", *run(3), grid)
    rows = check_trained(committed, tmp_path / "regen", calibration)
    status = {row["name"]: row["status"] for row in rows}
    assert not failed(rows)
    assert status["score_agreement_memorization"] == "NO-POWER"
    assert status["score_agreement_el2n"] == "PASS"


def test_a_metric_returning_random_scores_is_caught(trained_setup):
    committed, run, grid, tmp_path, calibration = trained_setup
    scores, accuracy = run(3)
    scores["forgetting"] = np.random.default_rng(9).permutation(scores["forgetting"])
    _write_folder(tmp_path / "regen", scores, accuracy, grid)
    rows = check_trained(committed, tmp_path / "regen", calibration)
    assert [row["name"] for row in failed(rows)] == ["score_agreement_forgetting"]


def test_a_training_regression_and_a_missing_point_are_caught(trained_setup):
    committed, run, grid, tmp_path, calibration = trained_setup
    scores, accuracy = run(3)
    _write_folder(tmp_path / "regen", scores, accuracy - 0.03, grid)  # every model 3 points worse
    assert "sweep_mean_shift" in failed(check_trained(committed, tmp_path / "regen", calibration))[0]["name"]
    _write_folder(tmp_path / "short", scores, accuracy, grid)
    short = pd.read_parquet(tmp_path / "short" / "sweep.parquet").iloc[1:]
    write_sweep_table(short, tmp_path / "short" / "sweep.parquet")
    statuses = [row["status"] for row in check_trained(committed, tmp_path / "short", calibration)]
    assert statuses.count("MISSING") == 1


def test_designed_false_alarm_rate_holds_on_the_gaussian_model():
    """Under the model the check assumes, the sweep tests fire at no more than their level."""
    rng = np.random.default_rng(0)
    alpha, sigma, trials, alarms = 0.01, 0.02, 2000, 0
    for _ in range(trials):
        calibration = {"sigma": float(np.sqrt(np.mean(rng.normal(scale=sigma, size=51) ** 2))), "n_points": 51}
        pairs = pd.DataFrame({"protocol": "p", "initial_size": 1, "metric": "m", "keep": "k", "fraction_kept": 1.0,
                              "seed": 0, "eval_value_committed": 0.5,
                              "diff": rng.normal(scale=sigma, size=51)})
        alarms += any(row["status"] == "FAIL" for row in sweep_rows(pairs, calibration, alpha / 2, "toy"))
    assert alarms / trials <= alpha * 1.5


def test_null_rho_is_the_one_sided_normal_cutoff():
    rng = np.random.default_rng(0)
    from prunebench.checks.trained import spearman

    rhos = np.array([spearman(rng.normal(size=500), rng.normal(size=500)) for _ in range(400)])
    assert np.mean(rhos > null_rho(500, 0.05)) == pytest.approx(0.05, abs=0.03)


def test_calibration_refuses_a_perturbation_that_changed_nothing(trained_setup):
    committed, _, _, _, _ = trained_setup
    with pytest.raises(PrunebenchError, match="cannot calibrate"):
        calibrate(committed, committed, "toy", {})


def test_calibration_regenerates_with_the_next_master_seed_and_a_check_with_the_same_one(tmp_path, monkeypatch):
    """--calibrate trains the copy of the scale under seed + 1 (the legitimate spread a new CPU can
    show); the check itself regenerates under the committed seed."""
    import argparse

    import prunebench.cli.check_headline as cli

    written = {}

    def fake_run(command, cwd, env):
        copy = Path(cwd) / command[command.index("--configfile") + 1]
        written.setdefault("seeds", []).append(yaml.safe_load(copy.read_text())["seed"])
        return argparse.Namespace(returncode=0)

    monkeypatch.setattr(cli.subprocess, "run", fake_run)
    config_path = CONFIG_DIR / "ci.yaml"
    config = load_config(config_path)
    args = argparse.Namespace(regenerated=None, keep_regenerated=True, cores=1, perturb=None, calibration_seed=None)
    folder, _ = cli._regeneration(args, {**config, "name": "seedtest"}, config_path, (), {"seed": config["seed"] + 1})
    folder_again, _ = cli._regeneration(args, {**config, "name": "seedtest"}, config_path, (), {})
    try:
        assert written["seeds"] == [config["seed"] + 1, config["seed"]]
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def test_committed_calibration_of_the_ci_scale_is_readable():
    from prunebench.config import results_dir

    calibration = read_calibration(results_dir(load_config("ci")) / "check_calibration.json")
    assert calibration["scale"] == "ci" and calibration["sweep"]["sigma"] > 0
    assert set(calibration["scores"]) == set(load_config("ci")["metrics"]["names"])


@pytest.fixture()
def claims_setup(tmp_path):
    """A scale 'claimscale' (the cifar10-cpu settings with every claim of issue 14 configured, few
    bootstrap and null repeats) with a synthetic committed sweep table that has a known crossover."""
    from test_claims import _crossing, synthetic

    config = yaml.safe_load((CONFIG_DIR / "cifar10-cpu.yaml").read_text())
    config["name"] = "claimscale"
    config["scaling"].update(n_boot=30, n_null=20)
    config["headline"].update(anchor=False, claims=["crossover", "beyond_power_law", "no_loss", "ranking_transfer"])
    config_path = tmp_path / "claimscale.yaml"
    config_path.write_text(yaml.safe_dump(config))
    config = load_config(config_path)
    sweep = synthetic(_crossing(15000.0), strategies=(("random", "random"), ("el2n", "easy"), ("el2n", "hard")))
    sweep["config_hash"] = stage_hash(config, "sweep_point")
    results = tmp_path / "results"
    write_sweep_table(sweep, results / "sweep.parquet")
    return config, config_path, results


def test_a_scale_with_claims_rederives_them_and_a_drifted_verdict_fails(claims_setup):
    config, config_path, results = claims_setup
    expected = rederive_entries(config, config_path, results)
    claims = {e["name"]: e for e in expected if e["name"].startswith("claim_")}
    assert claims["claim_crossover_el2n_f0.4"]["verdict"] == "reproduced"
    assert claims["claim_no_loss_fixed_compute_el2n_hard"]["verdict"] == "no rows"
    assert all(e["status"] == "finding (claimscale scale)" for e in claims.values())
    again = rederive_entries(config, config_path, results)
    assert not failed(compare_derived(expected, again, {"claimscale"}))
    drifted = [{**e, "verdict": "not reproduced"} if e["name"] == "claim_crossover_el2n_f0.4" else e for e in expected]
    assert [r["name"] for r in failed(compare_derived(drifted, again, {"claimscale"}))] == [
        "claim_crossover_el2n_f0.4[verdict]"]


def test_ci_is_checked_against_the_merged_headline_file_and_other_scales_against_their_own():
    from prunebench.cli.check_headline import expected_path

    assert expected_path(None, {"name": "ci"}) == Path("results/headline.json")
    assert expected_path(None, {"name": "cifar10-cpu"}) == Path("results/cifar10-cpu/headline.json")
    assert expected_path("x.json", {"name": "ci"}) == Path("x.json")


def _write_task_folder(folder: Path, scores: dict[str, np.ndarray], values: np.ndarray, grid: pd.DataFrame):
    """A text-lm or retrieval table: the task's ``eval_value`` (here NDCG@10), test accuracy NaN."""
    _write_folder(folder, scores, np.full(len(values), np.nan), grid)
    table = pd.read_parquet(folder / "sweep.parquet")
    table["eval_metric"], table["eval_value"], table["eval_error"] = "ndcg@10", values, 1 - values
    table["eval_higher_is_better"] = True
    write_sweep_table(table, folder / "sweep.parquet")


def test_tasks_without_accuracy_are_checked_on_their_eval_value(tmp_path):
    """A retrieval (or text-lm) sweep has no test accuracy: the trained check pairs its ``eval_value``,
    so a legitimate regeneration passes and a shift of the whole grid is caught."""
    rng = np.random.default_rng(1)
    truth, grid = rng.normal(size=500), _grid(30)
    ndcg = rng.uniform(0.5, 0.7, size=len(grid))

    def run(seed, shift=0.0):
        r = np.random.default_rng(seed)
        return {"pretrained-similarity": truth + r.normal(scale=0.1, size=500)}, ndcg + shift + r.normal(scale=0.01, size=len(grid))

    _write_task_folder(tmp_path / "committed", *run(1), grid)
    _write_task_folder(tmp_path / "calibration", *run(2), grid)
    document = calibrate(tmp_path / "committed", tmp_path / "calibration", "toy", {"seed": {}, "env": {}})
    assert 0.005 < document["sweep"]["sigma"] < 0.03
    _write_task_folder(tmp_path / "good", *run(3), grid)
    _write_task_folder(tmp_path / "worse", *run(4, shift=-0.02), grid)
    assert not failed(check_trained(tmp_path / "committed", tmp_path / "good", document))
    assert [r["name"].split(" ")[0] for r in failed(check_trained(tmp_path / "committed", tmp_path / "worse", document))] \
        == ["sweep_mean_shift"]
