"""Re-derive a scale's headline entries from its committed tables and compare them tightly.

The committed ``results/<scale>/sweep.parquet`` is the input; the scaling fits are recomputed from
it exactly as the workflow's ``scaling fit`` rule does (same command, same seeded bootstrap), then the
headline entries exactly as ``headline build`` does, and the theory entries from the replica solver.
All of these are deterministic functions of committed data, so they must agree with
``results/headline.json`` to rounding: ``|got - expected| <= DERIVED_ABS + DERIVED_REL * |expected|``
(the file stores 6 significant digits; 1e-4 relative leaves room for BLAS differences between CPUs in
the least-squares fits and nothing more). Categorical values (best metric, verdicts) must be equal.
A claim entry (``headline.claims``) is also checked on its ``verdict`` (exactly) and its ``interval``
ends (1e-4 relative), as rows ``<name>[verdict]``, ``<name>[interval_low]``, ``<name>[interval_high]``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from prunebench.errors import PrunebenchError

DERIVED_REL = 1e-4
DERIVED_ABS = 1e-6


def derived_tolerance(value) -> dict:
    """The tolerance a re-derived entry is held to: exact for categories, 1e-4 relative for numbers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"abs": DERIVED_ABS + DERIVED_REL * abs(float(value))}
    return {"exact": True}


def rederive_entries(config: dict, config_path: Path, results: Path) -> list[dict]:
    """Headline entries recomputed from ``results/sweep.parquet`` (fits refitted in a scratch folder)."""
    sweep = results / "sweep.parquet"
    if not sweep.is_file():
        raise PrunebenchError(f"{sweep} not found: the committed sweep table of scale {config['name']} is missing; "
                              f"restore it with `git checkout -- {sweep}` or regenerate it with `make run`")
    return refitted_entries(config, config_path, sweep)


def refitted_entries(config: dict, config_path, sweep: Path) -> list[dict]:
    """Headline entries of ``sweep`` with its scaling fits refitted in a scratch folder by the
    ``scaling fit`` command (same command, same seeded bootstrap as the workflow's rule). A scale
    without a scaling stage of its own (retrieval: one N) builds its headline this way, so the workflow's
    ``headline.json`` and the derived check are one computation."""
    from prunebench.cli import main
    from prunebench.cli.headline import build_entries

    with tempfile.TemporaryDirectory(prefix="prunebench-derive-") as scratch:
        scaling = Path(scratch) / "scaling.json"
        status = main(["scaling", "fit", "--sweep", str(sweep), "--config", str(config_path), "--out", str(scaling)])
        if status != 0:
            raise PrunebenchError(f"refitting {sweep} failed (exit {status}); see the error above")
        return build_entries(config, sweep, scaling)


def claim_parts(entries: list[dict]) -> list[dict]:
    """``entries`` plus, for each claim entry (one with a ``verdict``), its verdict and interval ends
    as entries of their own, so a drift in either fails the check like a drift in the value."""
    out = []
    for entry in entries:
        out.append(entry)
        if "verdict" not in entry:
            continue
        interval = entry.get("interval") or [None, None]
        for part, value in (("verdict", entry["verdict"]), ("interval_low", interval[0]), ("interval_high", interval[1])):
            out.append({**entry, "name": f"{entry['name']}[{part}]", "value": value})
    return out


def compare_derived(expected_entries: list[dict], got_entries: list[dict], scales) -> list[dict]:
    """Check rows (see :func:`prunebench.headline.compare`) with every expected entry held to
    :func:`derived_tolerance` instead of its stored noise tolerance."""
    from prunebench.headline import compare

    tight = [{**entry, "tolerance": derived_tolerance(entry.get("value"))} for entry in claim_parts(expected_entries)]
    return compare(tight, claim_parts(got_entries), scales)
