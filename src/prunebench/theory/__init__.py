"""Teacher–student perceptron theory of data pruning (Sorscher et al. 2022, §3 and SI A).

* :func:`solve_point` / :func:`solve_curve`: replica (Gardner, q → 1) saddle point, SI eqs. (1)–(6);
* :func:`simulate_point`: Gaussian data, probe-margin pruning, exact max-margin student (QP);
* :mod:`.curves`, :mod:`.analysis`, :mod:`.plots`: the CSV data products and figures.
"""

from prunebench.theory.simulate import simulate_point
from prunebench.theory.solver import KEEP_RULES, TheoryInputError, TheoryPoint, solve_curve, solve_point, validate_point

__all__ = ["KEEP_RULES", "TheoryInputError", "TheoryPoint", "simulate_point", "solve_curve", "solve_point",
           "validate_point"]
