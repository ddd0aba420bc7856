"""Provenance stamped on every score table and result row: config hash, code version, the machine
(CPU, kernel capability, threads), per-stage settings hashes, content checksums and atomic writes."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path

from prunebench import __version__

REPO_ROOT = Path(__file__).resolve().parents[2]


def config_hash(obj) -> str:
    """Short, stable hash of a JSON-serialisable object (key order does not matter)."""
    payload = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>+<git describe>`` (``-dirty`` when the tree has changes), or the version."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=10"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+{described}" if described else __version__


# --- the machine a result was made on --------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``'s ``model name``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(threads: int | None = None) -> dict:
    """What, besides the config, fixes a trained number's floats (Sorscher et al.'s runs are seeded,
    but a seed fixes floats only for one CPU kernel set and thread count): ``cpu_model``,
    ``cpu_capability`` (``torch.backends.cpu.get_cpu_capability()``: the ATen kernel ISA, e.g. AVX2
    or AVX512), ``torch_threads`` (``threads`` when given — the count the training ran with — else
    ``torch.get_num_threads()``), ``torch_version``, ``python_version`` and ``platform``."""
    import torch

    return {
        "cpu_model": cpu_model(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "torch_threads": int(threads or torch.get_num_threads()),
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
    }


ENVIRONMENT_KEYS = ("cpu_model", "cpu_capability", "torch_threads", "torch_version", "python_version", "platform")


# --- which settings each workflow stage's output depends on ----------------------------------------

# Config sections each stage's output depends on, besides its inputs' own hashes.
STAGE_SECTIONS = {
    "data": ("seed", "data"),
    "scaling": ("sweep", "scaling"),
    "figures": ("sweep", "scaling", "figures"),
    "headline": ("sweep", "scaling", "headline"),
    "theory": ("theory",),
}
STAGES = ("data", "score", "correlations", "sweep_point", "sweep_aggregate", "scaling", "figures", "headline",
          "theory")


def score_hash(config: dict, score_name: str) -> str:
    """The ``config_hash`` a score table of ``score_name`` must carry under ``config`` (the one
    ``prunebench.metrics.compute.compute_metric`` stamps: seed, data, probe incl. threads, shared probe
    settings, the metric's resolved parameters)."""
    from prunebench.metrics.compute import metric_params, resolve_score_name, score_config_hash

    metric, variant_params = resolve_score_name(config, score_name)
    return score_config_hash(config, metric, metric_params(config, metric, variant_params))


def stage_hash(config: dict, stage: str, name: str | None = None) -> str:
    """Hash of the settings the output of workflow ``stage`` depends on (``name``: the score name of
    a ``score`` job). The rules carry it as ``params.config_hash`` (a change reruns the job) and the
    writers stamp the same value, which every reader compares with the config in force."""
    if stage == "score":
        return score_hash(config, name)
    if stage == "correlations":
        names = (config.get("metrics") or {}).get("names") or []
        return config_hash({score: score_hash(config, score) for score in names})
    if stage in ("sweep_point", "sweep_aggregate"):
        from prunebench.sweep.point import point_config_hash

        return point_config_hash(config)
    if stage not in STAGE_SECTIONS:
        raise ValueError(f"unknown stage '{stage}'; one of {', '.join(STAGES)}")
    settings = {section: config.get(section) for section in STAGE_SECTIONS[stage]}
    if stage in ("scaling", "figures", "headline"):
        settings["points"] = stage_hash(config, "sweep_point")
    return config_hash(settings)


def stale_line(path, what: str, stored: str, expected: str, fix: str) -> str:
    """The one-line refusal of an output made under other settings, naming the fix."""
    return (f"{what} {path} was made with other settings (config_hash {stored or '<none>'}, the config in force "
            f"gives {expected}); {fix}, or delete {path}")


# --- integrity: content checksums and atomic writes ------------------------------------------------

def content_checksum(*parts) -> str:
    """SHA-256 of the bytes of ``parts`` (numpy arrays by their raw little-endian bytes, str by UTF-8)."""
    import numpy as np

    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            digest.update(part.encode())
        else:
            array = np.ascontiguousarray(part)
            digest.update(array.dtype.newbyteorder("<").str.encode())
            digest.update(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
    return digest.hexdigest()


def json_checksum(record: dict, key: str = "checksum") -> str:
    """SHA-256 of a JSON record's canonical text, without its own ``key``."""
    body = {k: v for k, v in record.items() if k != key}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def atomic_write(path, write) -> Path:
    """Call ``write(tmp_path)`` then ``os.replace`` it onto ``path``: readers never see a partial file.

    The temporary file is removed on any exception; an ``OSError`` (a full disk: ENOSPC, a read-only
    or missing directory) becomes one :class:`PrunebenchError` line naming the path and the fix."""
    from prunebench.errors import PrunebenchError

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise PrunebenchError(f"cannot write {path}: {err.strerror or err} (errno {err.errno}); "
                              "free disk space or fix the directory's permissions, then rerun") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
