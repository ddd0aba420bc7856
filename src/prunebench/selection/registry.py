"""The selection-rule registry: adding a rule is one module of this package plus one decorator
(timm's ``_registry.py`` pattern, as for metrics, tasks and sweep protocols).

A rule is ``fn(scores, strata, fraction_kept, keep, seed, ids, params) -> sorted positions``, where
``scores`` are higher = harder, ``strata`` the groups a balanced rule balances (class labels, query
ids, domains), ``ids`` the canonical example ids (for rules that break ties by id) and ``params``
the rule's block of the ``selection`` config merged over its defaults. Every rule keeps exactly
:func:`prunebench.selection.kept_count` examples.

Example::

    @register_rule("my-rule", keeps=("easy", "hard"), defaults={"width": 2}, reference="Doe 2025")
    def my_rule(scores, strata, fraction_kept, keep, seed, ids, params):
        ...

``keeps`` are the keep modes the rule accepts; the sweep's keep wildcard, the CLI's ``--keep`` and
the schema's ``rule`` enum are read from here (``tests/test_selection.py`` checks the schema).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from prunebench.errors import PrunebenchError

_RULES: dict[str, "SelectionRule"] = {}
_LOADED = False


@dataclass(frozen=True)
class SelectionRule:
    """A registered selection rule: name, function, accepted keep modes, parameter defaults."""

    name: str
    fn: Callable
    keeps: tuple[str, ...]
    defaults: dict
    reference: str
    summary: str
    uses_strata: bool

    def check_keep(self, keep: str) -> None:
        """One line naming the accepted keep modes when ``keep`` is not one of them."""
        if keep not in self.keeps:
            raise PrunebenchError(f"selection rule '{self.name}' keeps {' or '.join(self.keeps)}, got keep '{keep}'")

    def params(self, overrides: dict | None = None) -> dict:
        """Defaults updated by ``overrides`` (unknown keys: one line naming the known ones)."""
        overrides = dict(overrides or {})
        from prunebench.config import check_known_keys

        check_known_keys(overrides, self.defaults, where=f"selection rule '{self.name}'", noun="parameter")
        return {**self.defaults, **overrides}


def register_rule(name: str, *, keeps: tuple[str, ...], defaults: dict | None = None, reference: str = "",
                  uses_strata: bool = False):
    """Decorator registering ``fn(scores, strata, fraction_kept, keep, seed, ids, params)`` under ``name``."""
    def decorator(fn: Callable) -> Callable:
        if name in _RULES and _RULES[name].fn is not fn:
            raise ValueError(f"selection rule '{name}' is registered twice ({_RULES[name].fn.__module__}, {fn.__module__})")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _RULES[name] = SelectionRule(name, fn, tuple(keeps), dict(defaults or {}), reference, summary, bool(uses_strata))
        return fn
    return decorator


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    from prunebench.plugins import import_plugins

    import_plugins("prunebench.selection.rules")
    _LOADED = True


def list_rules() -> list[str]:
    """Registered selection-rule names, sorted."""
    _load()
    return sorted(_RULES)


def get_rule(name: str) -> SelectionRule:
    """The rule ``name``; an unknown name is one line listing the registered rules."""
    _load()
    if name not in _RULES:
        raise PrunebenchError(f"unknown selection rule '{name}'; use one of {', '.join(sorted(_RULES))}")
    return _RULES[name]
