"""Shared helpers for the rule files: the list of final targets of the active config."""


def all_targets():
    """Everything ``rule all`` builds: each stage's target list, where that stage is configured."""
    targets = [f"{RESULTS}/data/manifest.json"]
    for name in ("METRIC_TARGETS", "SWEEP_TARGETS", "SCALING_TARGETS", "FIGURE_TARGETS", "THEORY_TARGETS", "HEADLINE_TARGETS"):
        targets.extend(globals().get(name, []))
    return targets
