"""The config layer: every scale validates, bad keys fail with one clear line."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prunebench.config import SCALES, SCHEMA_DIR, load_config, validate_config
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
    with pytest.raises(PrunebenchError, match="smoke, ci, cifar10, imagenet"):
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
