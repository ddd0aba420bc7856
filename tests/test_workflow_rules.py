"""Rule names mirror the CLI: rule ``<command>_<subcommand>`` runs ``python -m prunebench <command>
<subcommand>`` (``sweep_point`` runs ``sweep point``), so a job in a Snakemake log names the command to
rerun by hand. Rules without a shell (``all``, ``theory_all``) only gather targets; the numbered
``sweep_shard_<i>`` rules all run ``sweep shard``."""

from __future__ import annotations

import argparse
import re

from prunebench.cli import build_parser
from prunebench.provenance import REPO_ROOT

RULE_FILES = sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk"))
GATHERING_RULES = {"all", "theory_all"}


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-command parsers of ``parser``, by name (empty when it has none)."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


def cli_commands() -> set[str]:
    """Every ``<command> <subcommand>`` (or lone ``<command>``) of ``python -m prunebench``."""
    commands = set()
    for name, parser in subcommands(build_parser()).items():
        commands |= {f"{name} {sub}" for sub in subcommands(parser)} or {name}
    return commands


def rule_shells() -> dict[str, str]:
    """Each named rule of the stage files -> the ``prunebench`` command its shell runs ('' for none)."""
    shells = {}
    for path in RULE_FILES:
        blocks = re.split(r"^(?=[ ]*rule \w+:)", path.read_text(), flags=re.M)  # rules inside an `if` too
        for block in blocks:
            name = re.match(r"[ ]*rule (\w+):", block)
            if name:
                command = re.search(r"-m prunebench ([a-z-]+(?: [a-z-]+)?)", block)
                shells[name.group(1)] = command.group(1) if command else ""
    return shells


def test_every_rule_is_named_after_the_command_it_runs():
    shells = rule_shells()
    assert {"data_prepare", "metrics_compute", "sweep_point", "scaling_fit", "headline_build"} <= set(shells)
    commands = cli_commands()
    for rule, command in shells.items():
        if rule in GATHERING_RULES:
            assert command == "", rule
            continue
        assert command in commands, (rule, command)
        assert rule == command.replace("-", "_").replace(" ", "_"), f"rule {rule} runs `prunebench {command}`"


def test_shard_rules_run_sweep_shard():
    sweep = (REPO_ROOT / "workflow" / "rules" / "sweep.smk").read_text()
    shard = sweep.split('f"sweep_shard_{shard_index}"', 1)[1].split("rule ", 1)[0]
    assert "-m prunebench sweep shard " in shard and "sweep shard" in cli_commands()
