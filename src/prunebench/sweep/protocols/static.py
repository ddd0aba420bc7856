"""The paper's protocols: train on the metric's static selection of f·N examples (Sorscher et al. 2022)."""

from __future__ import annotations

from prunebench.sweep.protocols import Protocol, register_protocol


@register_protocol
class FixedEpochs(Protocol):
    """The recipe's epochs on the kept examples: fewer optimizer steps when f < 1 (the paper's protocol)."""

    name = "fixed_epochs"
    budget = "the recipe's epochs on the f·N kept examples (epochs x ceil(f·N / batch) steps)"


@register_protocol
class FixedCompute(Protocol):
    """Exactly the optimizer steps of the f = 1 run at the same N and seed, on the kept examples."""

    name = "fixed_compute"
    budget = "the optimizer steps of the f = 1 run at the same N and seed (read from its run file)"
    needs_baseline = True

    def strategies(self, settings: dict, static_strategies):
        """``sweep.fixed_compute_metrics`` (metric or metric/keep; null = every strategy)."""
        chosen = settings["fixed_compute_metrics"]
        return [(m, k) for m, k in static_strategies if chosen is None or m in chosen or f"{m}/{k}" in chosen]

    def steps(self, recipe: dict, point, baseline_row: dict | None) -> int:
        from prunebench.errors import PrunebenchError

        if baseline_row is None:
            raise PrunebenchError(f"fixed_compute needs the f=1 run at N={point.initial_size}, seed={point.seed}; "
                                  "pass --baseline <its run file> (the workflow does this)")
        if int(baseline_row["initial_size"]) != point.initial_size or int(baseline_row["seed"]) != point.seed:
            raise PrunebenchError("the --baseline run file is for another N or seed")
        return int(baseline_row["train_steps"])


@register_protocol
class Unbalanced(Protocol):
    """Fixed epochs, selected *without* class balancing (``class_balance`` 0: plain global top-k).

    The ablation of the paper's 50% class-balancing ratio (Sorscher et al. 2022, §5: keep hard on
    ImageNet needs it): the same points as ``fixed_epochs`` at the cells of
    ``sweep.protocol_cells.unbalanced``, so ``fixed_epochs`` minus ``unbalanced`` at one (metric, f,
    seed) is what class balancing buys. Run files ``runs/unbalanced/...``; rows record
    ``class_balance`` 0.
    """

    name = "unbalanced"
    budget = "as fixed_epochs (the recipe's epochs on the f·N kept examples), selected with class_balance 0"

    def selection(self, chosen: dict, point) -> dict:
        return {**chosen, "class_balance": 0.0}
