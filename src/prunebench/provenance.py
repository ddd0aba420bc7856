"""Provenance stamped on every score table and result row: config hash, code version."""

from __future__ import annotations

import functools
import hashlib
import json
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
