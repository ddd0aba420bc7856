"""The regression check behind ``python -m prunebench check-headline``, right by construction.

Two kinds of number are checked differently (issue: CI that passes on any machine):

* :mod:`~prunebench.checks.derived` — everything that is a deterministic function of the committed
  tables (scaling fits, Pareto frontiers, crossovers, headline entries, theory values) is recomputed
  from ``results/<scale>/sweep.parquet`` and compared with ``results/headline.json`` to 1e-4
  relative: a changed fit, a dropped point or a stale headline file fails, on any CPU.
* :mod:`~prunebench.checks.trained` — what retrains (score tables, sweep accuracies) differs in its
  floats from CPU to CPU and thread count to thread count, so it is regenerated and compared
  *statistically* with the committed tables, against the spread measured between two legitimate
  regenerations under different floating-point kernels (:mod:`~prunebench.checks.calibration`):
  per-metric Spearman agreement of the score tables, and a mean-shift and a variance test on the
  paired sweep-accuracy differences, each at a stated false-alarm rate.
"""
