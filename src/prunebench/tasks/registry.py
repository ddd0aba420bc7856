"""The task registry (lm-evaluation-harness's ``register_task`` pattern): a task is one module plus
one decorator. ``get_task(name)`` returns a fresh instance; ``list_tasks()`` the registered names.

Example::

    @register_task("my-task")
    class MyTask(Task):
        ...
"""

from __future__ import annotations


from prunebench.errors import PrunebenchError

DEFAULT_TASK = "image-classification"  # what a config without a ``task`` key runs
_TASKS: dict[str, type] = {}
# Modules of this package that are infrastructure, not task plug-ins (every other module or
# sub-package is imported, so a new task is one module or package plus its decorator; task modules
# import their heavy libraries lazily, inside methods).
_INFRASTRUCTURE = {"base", "registry"}


def register_task(name: str):
    """Class decorator: register a :class:`~prunebench.tasks.base.Task` subclass under ``name``."""
    def decorator(cls):
        if name in _TASKS and _TASKS[name] is not cls:
            raise ValueError(f"task '{name}' is registered twice ({_TASKS[name].__module__}, {cls.__module__})")
        cls.name = name
        _TASKS[name] = cls
        return cls
    return decorator


def unregister_task(name: str) -> None:
    """Remove ``name`` (for tests that register a throw-away task)."""
    _TASKS.pop(name, None)


def _load_builtins() -> None:
    """Import every task module or package of :mod:`prunebench.tasks` so that its decorator runs."""
    from prunebench.plugins import import_plugins

    import_plugins("prunebench.tasks", skip=set(_INFRASTRUCTURE))


def list_tasks() -> list[str]:
    """Registered task names, sorted."""
    _load_builtins()
    return sorted(_TASKS)


def get_task(name: str | None = None):
    """A fresh instance of task ``name`` (default: :data:`DEFAULT_TASK`); unknown names: one line."""
    _load_builtins()
    name = name or DEFAULT_TASK
    if name not in _TASKS:
        raise PrunebenchError(f"unknown task '{name}'; registered tasks: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]()


def task_of_config(config: dict):
    """The task a config runs: ``config['task']`` when given, else :data:`DEFAULT_TASK` (the shipped
    scales have no ``task`` key, so their settings hashes do not change)."""
    return get_task(config.get("task") or DEFAULT_TASK)
