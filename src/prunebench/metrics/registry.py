"""The metric registry: adding a pruning metric is one file in this package plus one decorator.

A metric is a function ``fn(ctx: MetricContext, params: dict) -> MetricResult``. ``params`` is the
metric's block of the config (``metrics.<name>``) merged over the defaults given to
:func:`register_metric`. The returned scores follow the suite-wide convention
**higher score = harder** (less prototypical, more to learn), aligned to ``ctx.train_set`` order.

Example::

    @register_metric("my-metric", defaults={"ensemble_size": 1}, reference="Doe et al. 2024")
    def my_metric(ctx, params):
        ...
        return MetricResult(scores=..., variant="...", probe_epochs=..., cost_probe_epochs=...)

A metric declares the data splits it reads (``reads``, default ``("train",)``); the context refuses
any other split, and :func:`prunebench.metrics.compute.check_metric_names` refuses, when the
workflow is parsed, every configured metric that reads :data:`EVALUATION_SPLIT`, the split the
sweep evaluates on (a score computed from it would select training data with test labels).
``min_models`` is the fewest models an estimator needs before its standard error is defined
(see :func:`prunebench.metrics.reliability.usable_for_figures`). ``needs`` declares the per-example
outputs the metric reads from its task's models (of :data:`prunebench.tasks.OUTPUTS`: loss,
correct, probabilities, margin, embedding, logits); :func:`check_metric_serves` refuses, at parse
time, a metric whose task cannot record one of them.

``model_set`` (a :class:`ModelSet`) declares the *subset models* a metric trains (Feldman & Zhang's
estimators: hundreds to thousands of runs). The workflow can then spread them over many jobs
(``metrics.models_per_job``; :mod:`prunebench.metrics.chunks`), each training one chunk and caching
its per-model outcomes, so that the metric's own job only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from prunebench.config import check_known_keys
from prunebench.errors import PrunebenchError
from prunebench.plugins import import_plugins

DIRECTION = "higher=harder"
EVALUATION_SPLIT = "test"  # the split the sweep scores its trained models on
SPLITS = ("train", "test")

# Modules of this package that are infrastructure, not metric plug-ins.
_INFRASTRUCTURE = {"registry", "storage", "context", "probes", "ssl_encoder", "compute", "common", "reliability",
                   "chunks"}


@dataclass
class MetricResult:
    """What a metric returns.

    ``scores``: float array aligned to ``ctx.train_set`` (higher = harder).
    ``variant``: the named variant computed (e.g. ``"ensemble-mean@epoch10,k=4"``).
    ``probe_epochs``: training epochs of each probe the score is read from (``None`` if no probe).
    ``cost_probe_epochs``: total probe training the score needs, in full-train-set epoch
    equivalents (k models × e epochs; subset runs count their subset fraction). Counted whether
    or not the runs were re-used from the probe cache, so the cost is the metric's own.
    ``probe_wall_time_s``: seconds those probe runs took when they were trained.
    ``seeds``: every derived seed the score depends on.
    ``score_se``: standard error of each score (aligned to ``scores``); ``None`` = undefined (NaN).
    ``n_models``: models the estimate combines (ensemble members, subset models; 0 = none).
    ``target_split``: the split whose outcomes the score measures (``train`` unless stated).
    """

    scores: np.ndarray
    variant: str
    probe_epochs: float | None = None
    cost_probe_epochs: float = 0.0
    probe_wall_time_s: float = 0.0
    seeds: list[int] = field(default_factory=list)
    reused_runs: int = 0
    extra: dict = field(default_factory=dict)
    score_se: np.ndarray | None = None
    n_models: int = 0
    target_split: str = "train"


@dataclass(frozen=True)
class ModelSet:
    """The subset models a metric trains, shared by every metric (and variant) naming the same ``key``.

    ``count(metrics_section, params)``: how many models, from the config alone (the workflow plans
    its chunk jobs at parse time, before any data is read). ``plan(ctx, params)``: the groups, as
    ``[(role, masks, epochs), ...]`` with ``masks`` a bool m×N array over ``ctx.train_set`` (one row
    per model, trained by ``ctx.subset_runs(role, masks, epochs=epochs)``); their concatenation is the
    global model order that chunk ``k`` of size K slices as ``[k·K, (k+1)·K)``. ``outcome(params)``:
    the per-example outcome each model is summarised by (``ctx.outcome``'s estimator).
    """

    key: str
    count: Callable
    plan: Callable
    outcome: Callable


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric: its name, function, default parameters and literature reference."""

    name: str
    fn: Callable
    defaults: dict
    reference: str
    needs_labels: bool
    summary: str
    reads: tuple[str, ...] = ("train",)
    min_models: int = 1
    needs: tuple[str, ...] = ()
    model_set: ModelSet | None = None

    def params(self, overrides: dict | None = None) -> dict:
        """Defaults updated by the config block ``overrides`` (unknown keys are an error)."""
        overrides = dict(overrides or {})
        check_known_keys(overrides, self.defaults, where=f"metric '{self.name}'", noun="parameter")
        return {**self.defaults, **overrides}


_REGISTRY: dict[str, MetricSpec] = {}
_PLUGINS_LOADED = False


def register_metric(name: str, *, defaults: dict | None = None, reference: str = "", needs_labels: bool = True,
                    reads: tuple[str, ...] = ("train",), min_models: int = 1, needs: tuple[str, ...] = (),
                    model_set: ModelSet | None = None):
    """Decorator registering ``fn(ctx, params) -> MetricResult`` under ``name``.

    ``reads``: the data splits the metric reads (of :data:`SPLITS`); ``min_models``: the fewest
    models its estimator needs for a standard error; ``needs``: the per-example outputs it reads
    (of :data:`prunebench.tasks.OUTPUTS`); ``model_set``: its subset models (:class:`ModelSet`).
    """
    unknown = sorted(set(reads) - set(SPLITS))
    if unknown:
        raise ValueError(f"metric '{name}' declares unknown split(s) {unknown}; splits are {SPLITS}")
    from prunebench.tasks.base import OUTPUTS, unknown_outputs

    if unknown_outputs(needs):
        raise ValueError(f"metric '{name}' needs unknown output(s) {unknown_outputs(needs)}; outputs are {OUTPUTS}")

    def decorator(fn: Callable) -> Callable:
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"metric '{name}' is registered twice ({_REGISTRY[name].fn.__module__}, {fn.__module__})")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _REGISTRY[name] = MetricSpec(name, fn, dict(defaults or {}), reference, needs_labels, summary,
                                     tuple(reads), int(min_models), tuple(needs), model_set)
        return fn

    return decorator


def _load_plugins() -> None:
    """Import every metric module of this package so that its decorator runs."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    import_plugins("prunebench.metrics", skip=_INFRASTRUCTURE)
    _PLUGINS_LOADED = True


def list_metrics() -> list[str]:
    """Registered metric names, sorted."""
    _load_plugins()
    return sorted(_REGISTRY)


def get_metric(name: str) -> MetricSpec:
    """The registered metric ``name``; an unknown name raises a PrunebenchError listing the names."""
    _load_plugins()
    if name not in _REGISTRY:
        raise PrunebenchError(f"unknown metric '{name}'; registered metrics: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def check_metric_serves(task, metric: str) -> None:
    """Refuse ``metric`` when ``task`` (a :class:`~prunebench.tasks.Task` or its name) cannot record
    an output the metric ``needs``: one line naming the missing outputs and the fix."""
    from prunebench.tasks import get_task

    task = get_task(task) if isinstance(task, str) else task
    missing = [name for name in get_metric(metric).needs if name not in task.outputs]
    if missing:
        raise PrunebenchError(f"metric '{metric}' needs per-example {', '.join(missing)}, which task '{task.name}' "
                              f"does not record (it records {', '.join(sorted(task.outputs)) or 'nothing'}); "
                              f"drop '{metric}' from metrics.names or add the output to the task")
