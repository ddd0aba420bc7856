"""Compressed schedule: all N initial examples, the training schedule compressed into the
optimizer steps of the static pruned fixed_epochs run at f (the "same budget, no pruning" baseline
a reviewer asks for first: does selecting f·N examples beat simply training on everything for
fewer passes?).

Steps: S_f = the planned steps of the sweep recipe on kept_count(N, f) examples, i.e.
``round(epochs x ceil(f·N / batch))``, the train_steps of the fixed_epochs point at f; that is
about epochs·f passes over all N. The lr schedule spans those S_f steps (``train(steps=S_f)``),
and the recipe's epoch-valued settings (``epochs``, ``whiten_bias_epochs``,
``lookahead.start_epochs``) are scaled by c = ceil(f·N / batch) / ceil(N / batch), so they fall at
the same optimizer step as in the static run.
"""

from __future__ import annotations

import math

from prunebench.sweep.protocols import Protocol, register_protocol


@register_protocol
class CompressedSchedule(Protocol):
    name = "compressed_schedule"
    trains_on = "initial"
    budget = "all N examples for the optimizer steps of the static fixed_epochs run at f (schedule compressed)"
    labels = (("full-data", "compressed"),)

    def recipe(self, recipe: dict, point) -> dict:
        """Epoch-valued settings scaled by c (module docstring)."""
        from prunebench.selection import kept_count

        batch = _train_config(recipe).batch_size
        scale = math.ceil(kept_count(point.initial_size, point.fraction_kept) / batch) / math.ceil(
            point.initial_size / batch)
        cfg = _train_config(recipe)
        changed = {**recipe, "epochs": cfg.epochs * scale}
        if cfg.whiten_bias_epochs is not None:
            changed["whiten_bias_epochs"] = cfg.whiten_bias_epochs * scale
        if cfg.lookahead.every:
            changed["lookahead"] = {**(recipe.get("lookahead") or {}), "start_epochs": cfg.lookahead.start_epochs * scale}
        return changed

    def steps(self, recipe: dict, point, baseline_row: dict | None) -> int:
        """The static fixed_epochs run's planned steps at f (``planned_steps`` on kept_count(N, f))."""
        from prunebench.selection import kept_count
        from prunebench.training.loop import planned_steps

        return planned_steps(_train_config(recipe), kept_count(point.initial_size, point.fraction_kept))


def _train_config(recipe: dict):
    from prunebench.training import TrainConfig

    return TrainConfig.from_dict(recipe)
