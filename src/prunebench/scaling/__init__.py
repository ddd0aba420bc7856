"""Scaling laws of test error versus pruned dataset size (Sorscher et al. 2022, Fig. 3).

* :mod:`~prunebench.scaling.laws`: power law ε = a·P^(−ν), with floor ε = a·P^(−ν) + c, exponential
  ε = a·exp(−P/λ) (+ c); least squares in log space; AIC/AICc/BIC.
* :mod:`~prunebench.scaling.bootstrap`: percentile CIs by resampling seeds at every size.
* :mod:`~prunebench.scaling.frontier`: Pareto frontier over f; keep-easy/keep-hard crossover size.
* :mod:`~prunebench.scaling.analysis`: the sweep table → ``results/<name>/scaling.json``.
"""

from prunebench.scaling.analysis import analyse_sweep, seed_means, strategy_rows
from prunebench.scaling.bootstrap import bootstrap_fit
from prunebench.scaling.frontier import crossover_size, hard_minus_easy, pareto_frontier
from prunebench.scaling.laws import FAMILIES, Fit, criterion_weights, fit_all, fit_family, predict, select_family

__all__ = [
    "FAMILIES", "Fit", "analyse_sweep", "bootstrap_fit", "criterion_weights", "crossover_size", "fit_all",
    "fit_family", "hard_minus_easy", "pareto_frontier", "predict", "seed_means", "select_family", "strategy_rows",
]
