"""Plug-in discovery shared by the registries: a plug-in is one module of a package whose import runs a
registering decorator (``@register_metric``, ``@register_task``, ...), so adding one needs no list to edit."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def import_plugins(package: str, skip: frozenset[str] | set[str] = frozenset(), first: tuple[str, ...] = ()) -> list[ModuleType]:
    """Import every module or sub-package of ``package`` (dotted name) but those in ``skip`` and the
    private ``_*`` ones: ``first`` in its order, then the rest sorted by name. Returns the modules."""
    names = sorted(info.name for info in pkgutil.iter_modules(importlib.import_module(package).__path__)
                   if info.name not in skip and not info.name.startswith("_"))
    ordered = [name for name in first if name in names] + [name for name in names if name not in first]
    return [importlib.import_module(f"{package}.{name}") for name in ordered]
