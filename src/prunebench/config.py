"""Per-scale configuration: load a YAML file and validate it against the JSON schema.

The schema lives in ``workflow/schemas/config.schema.yaml``; each section (``data``,
``probe``, ``metrics``, ...) is a ``$ref`` to ``workflow/schemas/<section>.schema.yaml``.
The Snakefile validates with ``snakemake.utils.validate`` against the same file, so the CLI
and the workflow accept exactly the same configs.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from prunebench.errors import PrunebenchError
from prunebench.provenance import REPO_ROOT

SCHEMA_DIR = REPO_ROOT / "workflow" / "schemas"
CONFIG_DIR = REPO_ROOT / "workflow" / "config"
SCALES = tuple(sorted(path.stem for path in CONFIG_DIR.glob("*.yaml")))  # the shipped scales


def _schema_registry() -> Registry:
    """All ``*.schema.yaml`` files, addressable by file name for ``$ref``."""
    resources = [
        (path.name, Resource.from_contents(yaml.safe_load(path.read_text()), default_specification=DRAFT202012))
        for path in sorted(SCHEMA_DIR.glob("*.schema.yaml"))
    ]
    return Registry().with_resources(resources)


def _describe(error) -> str:
    """One line naming the offending key and what the schema wanted."""
    where = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{error.message} at '{where}' (allowed keys: {', '.join(allowed)})"
    return f"'{where}': {error.message}"


def validate_config(config: dict, source: str = "config") -> dict:
    """Raise :class:`PrunebenchError` with one line per the first schema violation."""
    schema = yaml.safe_load((SCHEMA_DIR / "config.schema.yaml").read_text())
    validator = Draft202012Validator(schema, registry=_schema_registry())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise PrunebenchError(f"invalid {source}: {_describe(errors[0])}; fix it (schema: workflow/schemas/)")
    return check_sweep_train(config, source)


def section_schema(section: str) -> dict:
    """The schema of one config section (``workflow/schemas/<section>.schema.yaml``)."""
    return yaml.safe_load((SCHEMA_DIR / f"{section}.schema.yaml").read_text())


def schema_defaults(section: str, *path: str) -> dict:
    """The ``default`` of every property of a section's schema (or of the object at ``path`` inside it):
    the source of truth the modules' defaults are checked against (tests/test_config.py)."""
    schema = section_schema(section)
    for key in path:
        schema = schema["properties"][key]
    return {key: sub["default"] for key, sub in schema.get("properties", {}).items() if "default" in sub}


def check_known_keys(values, known, *, where: str, noun: str = "key", fix: str | None = None) -> None:
    """Refuse keys of the mapping ``values`` outside ``known`` in one line, ``<where> has no <noun>(s)
    <unknown>; <fix>`` (``fix`` defaults to the sorted known keys): the one unknown-key check of the
    config's sections, metric parameters and task recipes."""
    unknown = sorted(set(values) - set(known))
    if unknown:
        fix = fix or f"known: {', '.join(sorted(known)) or '(none)'}"
        raise PrunebenchError(f"{where} has no {noun}(s) {', '.join(unknown)}; {fix}")


# Tasks whose recipe (probe section, sweep.train) has its own schema (config.schema.yaml's if/then).
TASK_PROBE_SCHEMAS = {"text-lm": "text_probe", "retrieval": "retrieval_probe"}


def check_sweep_train(config: dict, source: str = "config") -> dict:
    """``sweep.train`` overrides probe keys: refuse an unknown one now, not when a sweep job starts."""
    allowed = sorted(section_schema(TASK_PROBE_SCHEMAS.get(config.get("task"), "probe"))["properties"])
    check_known_keys((config.get("sweep") or {}).get("train") or {}, allowed, where=f"invalid {source}: sweep.train",
                     noun="probe key", fix=f"use keys of the probe section ({', '.join(allowed)})")
    return config


def resolve_config_path(name_or_path: str | os.PathLike) -> Path:
    """A scale name (``ci``) or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        path = candidate
    else:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise PrunebenchError(
            f"config '{name_or_path}' not found (looked at {path}); pass a YAML path or one of: {', '.join(SCALES)}"
        )
    return path


def load_config(name_or_path: str | os.PathLike) -> dict:
    """Load and validate a config; a scale name resolves to ``workflow/config/<name>.yaml``."""
    path = resolve_config_path(name_or_path)
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise PrunebenchError(f"config {path} is not valid YAML{_yaml_where(err)}; fix its syntax") from None
    if not isinstance(config, dict):
        raise PrunebenchError(f"config {path} must be a YAML mapping of sections; see workflow/config/ci.yaml")
    source = f"config {path}"
    return check_metrics_section(check_sizes(validate_config(config, source=source), source=source), source)


def _yaml_where(err: yaml.YAMLError) -> str:
    """`` at line L, column C: <problem>`` from a PyYAML error (1-based, as editors count)."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or err.__class__.__name__
    return f" at line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else f" ({problem})"


def check_sizes(config: dict, source: str = "config") -> dict:
    """Refuse ``sweep.sizes`` larger than the configured train set (``data.train_size``, when set):
    such a sweep would fail only after every score was computed."""
    train_size = (config.get("data") or {}).get("train_size")
    sizes = [int(n) for n in (config.get("sweep") or {}).get("sizes") or []]
    too_large = [n for n in sizes if train_size is not None and n > int(train_size)]
    if too_large:
        raise PrunebenchError(f"invalid {source}: sweep.sizes {too_large} exceed data.train_size={train_size}; "
                              "lower sweep.sizes or raise data.train_size")
    return config


def check_metrics_section(config: dict, source: str = "config") -> dict:
    """Refuse, in one line, a ``metrics`` section the registry or the config's task cannot serve: an
    unknown metric or parameter, a metric reading the evaluation split, or one needing a per-example
    output the task does not record (:func:`prunebench.metrics.compute.check_metric_names`)."""
    from prunebench.metrics.compute import check_metric_names

    try:
        check_metric_names(config)
    except PrunebenchError as err:
        raise PrunebenchError(f"invalid {source}: {err}") from None
    return config


def check_workflow_config(config: dict, source: str = "config") -> dict:
    """What the workflow checks at parse time (so ``snakemake -n`` refuses it) beyond the schema:
    :func:`check_sizes`, and settings a configured metric cannot run without (``ssl-prototypes``
    with a ``timm:`` encoder needs ``metrics.ssl-prototypes.checkpoint``, a local weights file)."""
    check_sizes(config, source)
    metrics = config.get("metrics") or {}
    names = list(metrics.get("names") or [])
    variants = metrics.get("variants") or {}
    if "ssl-prototypes" in names or any(v.get("metric") == "ssl-prototypes" for v in variants.values()):
        _check_ssl_checkpoint(metrics.get("ssl-prototypes") or {}, source)
    return config


def _check_ssl_checkpoint(params: dict, source: str) -> None:
    encoder, checkpoint = str(params.get("encoder") or "simclr"), params.get("checkpoint")
    if not encoder.startswith("timm:"):
        return
    path = Path(os.path.expandvars(str(checkpoint or ""))).expanduser()
    if not checkpoint or "$" in str(path) or not path.is_file():
        raise PrunebenchError(f"invalid {source}: metrics.ssl-prototypes uses encoder {encoder}, which needs a local "
                              f"weights file, but checkpoint is '{checkpoint}' ({path} not found); set "
                              "metrics.ssl-prototypes.checkpoint (or $PRUNEBENCH_SSL_CHECKPOINT), use encoder: simclr, "
                              "or drop ssl-prototypes from metrics.names")


def output_dirs(config: dict) -> dict[str, str]:
    """Where a config's outputs go, relative to the repository root: ``results`` (results/<name>),
    ``figures`` (figures/ for the ci scale, else figures/<name>) and ``theory`` (results/theory for
    the ci scale, else results/<name>/theory). The workflow's paths and the CLI's root jobs read it."""
    name = config["name"]
    canonical = name == "ci"
    return {"results": f"results/{name}", "figures": "figures" if canonical else f"figures/{name}",
            "theory": "results/theory" if canonical else f"results/{name}/theory"}


def results_dir(config: dict) -> Path:
    """``results/<config name>/``: where every empirical output of a config goes."""
    return REPO_ROOT / "results" / config["name"]
