"""The settings hashes of the trained outputs (data, score tables, sweep points) of every shipped
scale are pinned: a refactor that changes them would make every committed score table and run file
(ci's, and the long cifar10-cpu run's, hours of CPU) stale. Change a pinned value only together
with the config change that means to retrain, and regenerate that scale's outputs."""

import json
from pathlib import Path

import pytest

from prunebench.config import load_config
from prunebench.provenance import stage_hash

PINNED = json.loads((Path(__file__).parent / "data" / "stage_hashes.json").read_text())
TRAINED_STAGES = ("data", "sweep_point")


def _pinned_cases():
    for scale, hashes in sorted(PINNED.items()):
        for key, value in sorted(hashes.items()):
            if key in TRAINED_STAGES or key.startswith("score:"):
                yield scale, key, value


@pytest.mark.parametrize("scale,key,expected", list(_pinned_cases()))
def test_trained_output_hash_is_unchanged(scale, key, expected):
    config = load_config(scale)
    stage, _, name = key.partition(":")
    assert stage_hash(config, stage, name or None) == expected
