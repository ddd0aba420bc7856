"""The config layer: every scale validates, bad keys fail with one clear line."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prunebench.config import CONFIG_DIR, SCALES, SCHEMA_DIR, load_config, validate_config
from prunebench.errors import PrunebenchError
from prunebench.provenance import code_version, config_hash


@pytest.mark.parametrize("scale", SCALES)
def test_every_scale_config_validates(scale):
    config = load_config(scale)
    assert config["name"] == scale
    assert {"data", "probe"} <= set(config)


def test_every_schema_names_its_draft():
    """snakemake.utils.validate needs ``$schema`` in every referenced file."""
    for path in SCHEMA_DIR.glob("*.schema.yaml"):
        assert yaml.safe_load(path.read_text()).get("$schema"), path.name


def test_unknown_top_level_key_is_one_line_error():
    config = load_config("smoke")
    config["probes"] = {}
    with pytest.raises(PrunebenchError) as err:
        validate_config(config)
    message = str(err.value)
    assert "'probes' was unexpected" in message and "\n" not in message


def test_unknown_nested_key_names_its_path():
    config = load_config("smoke")
    config["data"]["trian_size"] = 10
    with pytest.raises(PrunebenchError, match="trian_size"):
        validate_config(config)


def test_missing_config_names_the_scales(tmp_path):
    """The list in the message is every YAML file shipped in workflow/config, sorted."""
    shipped = sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))
    assert {"ci", "cifar10-cpu", "smoke"} <= set(shipped)
    with pytest.raises(PrunebenchError, match=re.escape("one of: " + ", ".join(shipped))):
        load_config("no-such-scale")


def test_invalid_yaml_is_reported(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(PrunebenchError, match="not valid YAML"):
        load_config(bad)


def test_config_hash_ignores_key_order():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert code_version().startswith("0.")


def test_cli_reports_user_error_as_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "prunebench", "data", "info", "--config", "no-such-scale"],
        capture_output=True, text=True, cwd=Path(__file__).parents[1],
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: config 'no-such-scale' not found")
    assert len(result.stderr.strip().splitlines()) == 1


def test_yaml_error_names_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: smoke\nseed: 0\ndata:\n  train_size: [1000\n  test_size: 500\n")
    with pytest.raises(PrunebenchError, match=r"not valid YAML at line \d+, column \d+: ") as err:
        load_config(bad)
    assert "\n" not in str(err.value)


def test_sweep_size_larger_than_the_train_set_is_refused_on_loading(tmp_path):
    config = load_config("smoke")
    config["sweep"]["sizes"] = [200, 5000]
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(PrunebenchError, match=r"sweep.sizes \[5000\] exceed data.train_size=1000"):
        load_config(path)


def test_workflow_check_refuses_ssl_prototypes_without_checkpoint(monkeypatch, tmp_path):
    from prunebench.config import check_workflow_config

    monkeypatch.delenv("PRUNEBENCH_SSL_CHECKPOINT", raising=False)
    config = load_config("imagenet")
    with pytest.raises(PrunebenchError, match="ssl-prototypes uses encoder timm:resnet50.*checkpoint"):
        check_workflow_config(config)
    weights = tmp_path / "swav.pt"
    weights.write_bytes(b"0")
    monkeypatch.setenv("PRUNEBENCH_SSL_CHECKPOINT", str(weights))
    assert check_workflow_config(config) is config
    check_workflow_config(load_config("smoke"))  # simclr: trained here, nothing to point at


def test_unknown_sweep_train_key_is_refused_at_load_time(tmp_path):
    """A typo in sweep.train (probe keys) fails when the config is loaded, naming the key and the fix."""
    path = tmp_path / "typo.yaml"
    path.write_text("name: t\nseed: 0\ndata: {dataset: cifar10}\nprobe: {model: airbench}\n"
                    "sweep: {sizes: [100], train: {epoch: 2}}\n")
    with pytest.raises(PrunebenchError, match=r"sweep.train has no probe key\(s\) epoch; use keys of the probe"):
        load_config(path)


def _module_defaults():
    """(module defaults, schema section, path inside it) of every module that restates schema defaults."""
    from prunebench.data.loading import DEFAULTS as data_defaults
    from prunebench.headline import DEFAULTS as headline_defaults, TOLERANCE_DEFAULTS
    from prunebench.metrics.context import ENSEMBLE_DEFAULTS
    from prunebench.metrics.memorization import SUBSAMPLE_DEFAULTS
    from prunebench.metrics.ssl_encoder import SIMCLR_DEFAULTS
    from prunebench.selection.io import SELECTION_DEFAULTS
    from prunebench.sweep.plan import DEFAULTS as sweep_defaults

    headline = {k: v for k, v in headline_defaults.items() if k != "tolerance"}
    return {"data": (data_defaults, "data", ()), "sweep": (sweep_defaults, "sweep", ()),
            "headline": (headline, "headline", ()), "tolerance": (TOLERANCE_DEFAULTS, "headline", ("tolerance",)),
            "ensemble": (ENSEMBLE_DEFAULTS, "metrics", ("ensemble",)),
            "subsample": (SUBSAMPLE_DEFAULTS, "metrics", ("subsample",)),
            "simclr": (SIMCLR_DEFAULTS, "metrics", ("ssl-prototypes", "simclr")),
            "selection": (SELECTION_DEFAULTS, "selection", ())}


@pytest.mark.parametrize("name", sorted(_module_defaults()))
def test_module_defaults_equal_the_schema_defaults(name):
    """The schema is the source of truth: a module's DEFAULTS may not drift from it (keys without a
    schema default, like the required sweep.sizes or the nested ccs block, are left out)."""
    from prunebench.config import schema_defaults

    module, section, path = _module_defaults()[name]
    nested = {"headline": "tolerance"}.get(name)  # its own entry checks that block
    schema = {k: v for k, v in schema_defaults(section, *path).items() if k != nested}
    assert schema, f"{section} {path} has no schema defaults"
    assert {k: module[k] for k in schema if k in module} == schema
    assert set(schema) <= set(module), f"module {name} lacks schema defaults {set(schema) - set(module)}"


def test_output_dirs_put_the_ci_scale_at_the_canonical_paths():
    from prunebench.config import output_dirs

    assert output_dirs({"name": "ci"}) == {"results": "results/ci", "figures": "figures", "theory": "results/theory"}
    assert output_dirs({"name": "smoke"}) == {"results": "results/smoke", "figures": "figures/smoke",
                                              "theory": "results/smoke/theory"}
