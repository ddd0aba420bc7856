"""The metric registry's contracts: declared splits, the evaluation-split refusal, the registry as the
source of every name list, score standard errors and the figures' reliability filter (no probe training)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from prunebench.config import load_config
from prunebench.errors import PrunebenchError
from prunebench.metrics import get_metric, list_metrics, read_scores, register_metric, usable_for_figures, write_scores
from prunebench.metrics import registry
from prunebench.metrics.compute import check_metric_names, score_config_hash
from prunebench.metrics.context import MetricContext
from prunebench.metrics.dynamics import AUM_WINDOWS, first_lr_drop_epochs
from prunebench.metrics.registry import EVALUATION_SPLIT, MetricResult
from prunebench.metrics.reliability import MIN_RELIABILITY, reliability
from prunebench.metrics.storage import ScoreTable
from prunebench.provenance import REPO_ROOT

SCHEMA = yaml.safe_load((REPO_ROOT / "workflow/schemas/metrics.schema.yaml").read_text())


@pytest.fixture
def test_reading_metric():
    """A metric registered for this test only that declares it reads the test split."""
    name = "peeks-at-test"

    @register_metric(name, reads=("train", "test"))
    def peeks(ctx, params):
        """Reads the test split (must be refused)."""
        return MetricResult(scores=np.zeros(len(ctx.train_set)), variant="x")

    yield name
    registry._REGISTRY.pop(name)


def test_no_registered_metric_reads_the_evaluation_split():
    for name in list_metrics():
        assert EVALUATION_SPLIT not in get_metric(name).reads, name


def test_workflow_check_refuses_a_metric_that_reads_the_test_split(test_reading_metric):
    config = {"metrics": {"names": ["random", test_reading_metric]}}
    with pytest.raises(PrunebenchError) as err:
        check_metric_names(config)
    message = str(err.value)
    assert test_reading_metric in message and "'test'" in message and "\n" not in message
    variant = {"metrics": {"names": [], "variants": {"sneaky": {"metric": test_reading_metric}}}}
    with pytest.raises(PrunebenchError, match="sneaky"):
        check_metric_names(variant)  # a named variant of it is refused too


def test_workflow_parse_runs_the_check():
    rules = (REPO_ROOT / "workflow/rules/metrics.smk").read_text()
    assert "check_metric_names(config)" in rules


def test_context_serves_only_declared_splits():
    ctx = MetricContext(config={}, train_set=object(), _test_set=object()).for_metric(("train",))
    assert ctx.dataset("train") is ctx.train_set
    with pytest.raises(PrunebenchError, match="declares only"):
        ctx.test_set
    with pytest.raises(PrunebenchError):
        ctx.dataset("test")


def test_every_config_resolves_its_metric_names_and_ci_cifar10_show_input_norm():
    for name in ("smoke", "ci", "cifar10", "imagenet"):
        check_metric_names(load_config(name))
    for name in ("ci", "cifar10"):
        assert "input-norm" in load_config(name)["metrics"]["names"]


def test_schema_blocks_agree_with_the_registry():
    """The written blocks document the shipped metrics: each matches its registered defaults (a new
    metric needs no block: check_metric_blocks checks it against the registry)."""
    assert "input-norm" in list_metrics()
    blocks = {key for key in SCHEMA["properties"] if key in list_metrics()}
    assert {"el2n", "forgetting", "input-norm", "ssl-prototypes"} <= blocks
    for name in blocks:
        assert set(SCHEMA["properties"][name]["properties"]) == set(get_metric(name).defaults), name


def test_metric_blocks_are_checked_against_the_registry():
    from prunebench.metrics.compute import check_metric_blocks

    config = load_config("ci")
    check_metric_blocks(config)
    with pytest.raises(PrunebenchError, match=r"metrics.el2m is neither a registered metric"):
        check_metric_blocks({**config, "metrics": {**config["metrics"], "el2m": {}}})
    with pytest.raises(PrunebenchError, match=r"metric 'el2n' has no parameter\(s\) ensemble_sise"):
        check_metric_blocks({**config, "metrics": {**config["metrics"], "el2n": {"ensemble_sise": 2}}})
    with pytest.raises(PrunebenchError, match=r"metrics.variants.x: unknown metric 'nope'"):
        check_metric_blocks({**config, "metrics": {**config["metrics"], "variants": {"x": {"metric": "nope"}}}})


def test_a_new_metric_needs_no_schema_edit(tmp_path):
    """One module + one decorator: a metric registered at run time validates, with its block checked."""
    from prunebench.config import validate_config
    from prunebench.metrics.compute import check_metric_blocks
    from prunebench.metrics.registry import _REGISTRY

    @register_metric("tmp-new-metric", defaults={"width": 3}, needs_labels=False)
    def _new(ctx, params):
        """A throw-away metric."""

    try:
        config = load_config("ci")
        config = {**config, "metrics": {**config["metrics"], "tmp-new-metric": {"width": 5}}}
        validate_config(config)
        check_metric_blocks(config)
        with pytest.raises(PrunebenchError, match="has no parameter"):
            check_metric_blocks({**config, "metrics": {**config["metrics"], "tmp-new-metric": {"depth": 1}}})
    finally:
        _REGISTRY.pop("tmp-new-metric", None)
    assert tuple(SCHEMA["properties"]["aum"]["properties"]["window"]["enum"]) == AUM_WINDOWS
    assert SCHEMA["properties"]["aum"]["properties"]["window"]["default"] == get_metric("aum").defaults["window"]


def test_score_probes_train_without_label_smoothing_by_default():
    config = {"probe": {"label_smoothing": 0.2, "epochs": 3}, "metrics": {}}
    ctx = MetricContext(config=config, train_set=None)
    assert ctx.probe_cfg["label_smoothing"] == 0.0 and ctx.probe_cfg["epochs"] == 3
    smoothed = {**config, "metrics": {"label_smoothing": 0.1}}
    assert MetricContext(config=smoothed, train_set=None).probe_cfg["label_smoothing"] == 0.1
    assert score_config_hash(config, "el2n", {}) != score_config_hash(smoothed, "el2n", {})


@pytest.mark.parametrize("probe, epochs, expected", [
    ({}, 4, 1), ({}, 10, 2), ({"warmup": 0.5}, 10, 5), ({"schedule": "constant"}, 6, 6),
    ({"schedule": "linear"}, 6, 1), ({"warmup": 0.0}, 5, 1),
])
def test_first_lr_drop_is_the_one_cycle_peak(probe, epochs, expected):
    assert first_lr_drop_epochs(probe, epochs) == expected


def _table(scores, score_se, metric="memorization", n_models=8):
    return ScoreTable(ids=np.arange(len(scores)), scores=np.asarray(scores, float), score_se=np.asarray(score_se, float),
                      provenance={"metric": metric, "score_name": metric, "n_models": n_models})


def test_reliability_and_usable_for_figures():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=4000)
    precise = truth + rng.normal(scale=0.3, size=4000)
    assert reliability(precise, np.full(4000, 0.3)) == pytest.approx(1 / 1.09, abs=0.03)
    ok, reason = usable_for_figures(_table(precise, np.full(4000, 0.3)))
    assert ok and "reliability" in reason
    noisy = 0.1 * truth + rng.normal(scale=0.35, size=4000)  # memorization-like: noise dominates
    ok, reason = usable_for_figures(_table(noisy, np.full(4000, 0.35)))
    assert not ok and reason.startswith("memorization: left out") and f"< {MIN_RELIABILITY}" in reason
    ok, reason = usable_for_figures(_table(precise, np.full(4000, np.nan), n_models=2))
    assert not ok and "2 models" in reason  # below min_models: no standard error
    ok, _ = usable_for_figures(_table(precise, np.full(4000, np.nan), metric="forgetting", n_models=1))
    assert ok  # one probe: no SE defined, nothing to judge it by


def test_score_se_round_trips_and_defaults_to_nan(tmp_path):
    ids = np.array([3, 1, 2])
    path = write_scores(tmp_path / "s.parquet", ids, [0.3, 0.1, 0.2], {"metric": "el2n", "n_models": 2,
                                                                       "label_smoothing": 0.0, "target_split": "train"},
                        score_se=[0.03, np.nan, 0.02])
    table = read_scores(path, np.array([1, 2, 3]))
    assert np.allclose(table.scores, [0.1, 0.2, 0.3])
    assert np.isnan(table.score_se[0]) and np.allclose(table.score_se[1:], [0.02, 0.03])
    assert table.provenance["n_models"] == 2 and table.provenance["target_split"] == "train"
    assert np.isnan(read_scores(write_scores(tmp_path / "t.parquet", ids, [1.0, 2, 3], {"metric": "el2n"})).score_se).all()


def test_correlation_figure_leaves_out_noisy_estimators(tmp_path):
    from prunebench.figures.correlation import plot_correlations

    rng = np.random.default_rng(1)
    base = rng.normal(size=500)
    specs = {"el2n": (base, 0.05, 2), "grand": (base + rng.normal(scale=0.5, size=500), 0.05, 2),
             "memorization": (rng.normal(scale=0.3, size=500), 0.35, 8)}
    paths = [write_scores(tmp_path / f"{name}.parquet", np.arange(500), scores,
                          {"metric": name, "score_name": name, "n_models": n}, score_se=np.full(500, se))
             for name, (scores, se, n) in specs.items()]
    matrix = plot_correlations(paths, tmp_path / "c.png", tmp_path / "c.csv")
    assert list(matrix.index) == ["el2n", "grand"]
    assert len(matrix.attrs["left_out"]) == 1 and matrix.attrs["left_out"][0].startswith("memorization: left out")
    assert list(pd.read_csv(tmp_path / "c.csv", index_col=0).index) == ["el2n", "grand"]
    assert (tmp_path / "c.png").stat().st_size > 0


PEEKING_PLUGIN = '''
import numpy as np
from prunebench.metrics.registry import MetricResult, register_metric

@register_metric("peeks-at-test", reads=("train", "test"))
def peeks(ctx, params):
    """Reads the test split (the workflow must refuse it)."""
    return MetricResult(scores=np.zeros(len(ctx.train_set)), variant="x")
'''


def test_snakemake_parse_refuses_a_metric_reading_the_test_split(tmp_path):
    """The real workflow, dry-run: a config naming a test-reading metric stops at parse time with one line."""
    import os
    import shutil
    import subprocess
    import sys

    snakemake = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")
    if snakemake is None:
        pytest.skip("snakemake not installed")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(PEEKING_PLUGIN)  # registers the metric in the snakemake process
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT / "src")])}
    outcomes = {}
    for extra in ([], ["peeks-at-test"]):
        config = yaml.safe_load((REPO_ROOT / "workflow/config/smoke.yaml").read_text())
        config["metrics"]["names"] += extra
        path = tmp_path / f"config-{len(extra)}.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = subprocess.run([snakemake, "-n", "--nolock", "--cores", "2", "--configfile", str(path)], cwd=REPO_ROOT,
                              env=env, capture_output=True, text=True)
        outcomes[len(extra)] = proc
    assert outcomes[0].returncode == 0, (outcomes[0].stdout + outcomes[0].stderr)[-2000:]
    refused = outcomes[1]
    assert refused.returncode == 2
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: metric 'peeks-at-test' reads the 'test' split the sweep evaluates on")
    assert "Traceback" not in refused.stderr
