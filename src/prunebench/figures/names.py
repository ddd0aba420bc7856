"""File names of the empirical figures a config produces (light: read by the Snakefile at parse time)."""

from __future__ import annotations

from prunebench.sweep.plan import planned_protocols


def figure_names(config: dict) -> list[str]:
    """The empirical figures of a config (``fixed_compute_vs_fixed_epochs.png`` only with both protocols)."""
    names = ["fig1_keep_hard_minus_easy.png", "fig3_error_vs_pruned_size.png", "fig3_pareto_frontier.png",
             "fig5_metric_benchmark.png", "scaling_fits.png"]
    if set(planned_protocols(config)) >= {"fixed_epochs", "fixed_compute"}:
        names.append("fixed_compute_vs_fixed_epochs.png")
    if "unbalanced" in planned_protocols(config):
        names.append("class_balance.png")
    return names


STATIC_PROTOCOLS = {"fixed_epochs", "fixed_compute", "unbalanced"}


def compute_figure_names(config: dict) -> list[str]:
    """``accuracy_vs_compute.png`` when the sweep plans a protocol beyond static pruning (a baseline:
    rs2, compressed_schedule, infobatch), so the figure has more than one kind of method to compare."""
    return ["accuracy_vs_compute.png"] if set(planned_protocols(config)) - STATIC_PROTOCOLS else []
