"""Sweep protocols: how a point (protocol, N, metric, keep, f, seed) is trained. One module of this
package and one ``@register_protocol`` add a protocol; the plan, the points, the shards, the CLI
choices and the workflow's wildcard regexes all read this registry (:func:`list_protocols`,
:func:`get_protocol`, :func:`wildcard_constraints`). See ``docs/protocol.md`` for each protocol.

A protocol declares

* ``name``: the run-file folder ``runs/<name>/...`` and the ``protocol`` column;
* ``trains_on``: ``kept`` (the metric's static selection of f·N of the N initial examples) or
  ``initial`` (all N initial examples; no score table is read);
* ``budget``: its step-budget rule, in words, and :meth:`Protocol.steps` / :meth:`Protocol.recipe`
  that implement it (an explicit optimizer-step count, and changes to the sweep's training recipe);
* ``labels``: its fixed run-file (metric, keep) labels, or ``()`` for the sweep's own strategies
  (``sweep.metrics`` × keep modes);
* ``per_fraction``: one point per f < 1 of the sweep, or (False) one point per (N, seed) at f = 1;
* ``needs_baseline``: it reads the f = 1 run file of its (N, seed) (fixed_compute);
* :meth:`Protocol.selection`: changes to the sweep's selection settings (``unbalanced``: class
  balance 0, the with/without class-balancing ablation).

Light at import (no torch): the Snakemake rule files import it at parse time.
"""

from __future__ import annotations


_REGISTRY: dict[str, "Protocol"] = {}
def static_keeps() -> tuple[str, ...]:
    """Keep labels of the sweep's own strategies: every registered selection rule's keep modes
    (:func:`prunebench.selection.list_rules`), plus ``random`` and the baseline's ``all``."""
    from prunebench.selection import get_rule, list_rules

    rule_keeps = [keep for name in list_rules() for keep in get_rule(name).keeps]
    return tuple(dict.fromkeys(rule_keeps + ["random", "all"]))


class Protocol:
    """Base class of a registered protocol (class attributes as in the package docstring)."""

    name = ""
    trains_on = "kept"
    budget = ""
    labels: tuple[tuple[str, str], ...] = ()
    per_fraction = True
    needs_baseline = False

    def strategies(self, settings: dict, static_strategies: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """(metric, keep) pairs the protocol runs by default: its labels, else the sweep's strategies."""
        return list(self.labels) if self.labels else list(static_strategies)

    def recipe(self, recipe: dict, point) -> dict:
        """The training recipe of ``point`` from the sweep's recipe (``probe`` + ``sweep.train``)."""
        return recipe

    def steps(self, recipe: dict, point, baseline_row: dict | None) -> int | None:
        """Exact optimizer steps for ``point`` (None: the recipe's plan, ``epochs`` epochs)."""
        return None

    def selection(self, chosen: dict, point) -> dict:
        """The selection settings of ``point`` from the sweep's (``sweep.class_balance`` etc.)."""
        return chosen

    def examples_per_epoch(self, point, n_train: int) -> int:
        """Examples one epoch trains on (``n_train`` = examples handed to the trainer)."""
        return n_train


def register_protocol(cls):
    """Class decorator: register a :class:`Protocol` subclass under its ``name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"protocol {cls.__name__} needs a unique name (got '{cls.name}')")
    _REGISTRY[cls.name] = cls()
    return cls


def _load() -> None:
    """Import every module of this package (each registers its protocols)."""
    from prunebench.plugins import import_plugins

    import_plugins(__name__, first=("static",))  # the paper's protocols first


def list_protocols() -> list[str]:
    """Registered protocol names, in registration order (fixed_epochs, fixed_compute first)."""
    _load()
    return list(_REGISTRY)


def get_protocol(name: str) -> Protocol:
    """The protocol registered as ``name``; an unknown name is one error line listing the known ones."""
    from prunebench.errors import PrunebenchError

    if name not in list_protocols():
        raise PrunebenchError(f"unknown protocol '{name}'; use one of: {', '.join(list_protocols())}")
    return _REGISTRY[name]


def keep_labels() -> list[str]:
    """Every keep label a run file can have: the sweep's own and each protocol's fixed ones."""
    fixed = [keep for name in list_protocols() for _, keep in get_protocol(name).labels]
    return list(dict.fromkeys([*static_keeps(), *fixed]))


def wildcard_regex() -> str:
    """Regex alternation of the registered protocol names (Snakemake's ``protocol`` wildcard)."""
    return "|".join(list_protocols())


def wildcard_constraints() -> dict[str, str]:
    """The sweep_point rule's wildcard constraints, from the registry."""
    return {"protocol": wildcard_regex(), "n": r"\d+", "metric": r"[a-z0-9-]+", "keep": "|".join(keep_labels()),
            "f": r"[0-9.]+", "seed": r"\d+"}
