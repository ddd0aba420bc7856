"""The ``theory:`` config section (schema: workflow/schemas/theory.schema.yaml) with defaults.

Grids are lists or ``{min, max, num[, spacing: log|linear]}``; angles are radians. The defaults
are the ci scale (a few minutes on 2 cores); a config overrides any key, section by section.
"""

from __future__ import annotations

import copy

DEFAULTS = {
    "workers": 2,
    "fixed_f": {"fractions": [1.0, 0.8, 0.6, 0.4, 0.2], "alpha_prune": {"min": 0.25, "max": 20, "num": 20}},
    "crossover": {"fractions": [0.1, 0.2, 0.4, 0.6, 0.8], "alpha_tot": {"min": 1, "max": 300, "num": 8}},
    "frontier": {"fractions": {"min": 0.005, "max": 1.0, "num": 16}, "alpha_prune": {"min": 0.5, "max": 20, "num": 24},
                 "optimum_alpha": {"min": 1.0, "max": 2.0, "num": 11, "spacing": "linear"}, "f_floor": 1e-4,
                 "fit_alpha": [1, 20]},
    "imperfect": {"thetas": [0.05, 0.1, 0.2, 0.4], "fractions": {"min": 0.01, "max": 1.0, "num": 10},
                  "alpha_prune": {"min": 1, "max": 1000, "num": 13}, "fit_alpha": [100, 1000], "show_theta": 0.2,
                  "f_floor": 1e-3},
    "simulation": {"n_dim": 200, "seeds": 4, "solver": "ipm",
                   "fixed_f": {"fractions": [1.0, 0.6, 0.2], "alpha_prune": [0.5, 1, 2, 4, 8]},
                   "imperfect": {"thetas": [0.2], "fractions": [1.0, 0.2], "alpha_prune": [1, 2, 4, 8]}},
}


def theory_settings(config: dict | None) -> dict:
    """``config['theory']`` merged over :data:`DEFAULTS` (nested mappings merged key by key)."""
    return _merge(DEFAULTS, (config or {}).get("theory") or {})


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and "min" not in value:
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
