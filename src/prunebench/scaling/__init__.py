"""Scaling laws of test error versus pruned dataset size (Sorscher et al. 2022, Fig. 3).

* :mod:`~prunebench.scaling.laws`: power law ε = a·P^(−ν), with floor ε = a·P^(−ν) + c, exponential
  ε = a·exp(−P/λ) (+ c); binomial deviance (or log-space least squares); AIC/AICc/BIC (quasi).
* :mod:`~prunebench.scaling.intervals`: t intervals (n − p degrees of freedom) of ν, rate, λ, c.
* :mod:`~prunebench.scaling.calibration`: calibrated "beyond power law" tests of a frontier, their
  measured false-positive rates, and the frontier's bootstrap-t ν interval.
* :mod:`~prunebench.scaling.uncertainty`: standard errors of seed means and of differences.
* :mod:`~prunebench.scaling.frontier`: Pareto frontier over f; keep-easy/keep-hard crossover size.
* :mod:`~prunebench.scaling.analysis`: the sweep table → ``results/<name>/scaling.json``.
* :mod:`~prunebench.scaling.claims`: the four claims of issue 14 (crossover, beyond power law, no-loss
  fraction, ranking transfer) with intervals and verdicts, as pure functions of the sweep table.
"""

from prunebench.scaling.analysis import analyse_sweep, seed_means, strategy_rows
from prunebench.scaling.intervals import fit_intervals, t_interval
from prunebench.scaling.frontier import crossover_size, hard_minus_easy, pareto_frontier
from prunebench.scaling.laws import FAMILIES, Fit, criterion_weights, fit_all, fit_family, predict, select_family

__all__ = [
    "FAMILIES", "Fit", "analyse_sweep", "fit_intervals", "t_interval", "criterion_weights", "crossover_size", "fit_all",
    "fit_family", "hard_minus_easy", "pareto_frontier", "predict", "seed_means", "select_family", "strategy_rows",
]
