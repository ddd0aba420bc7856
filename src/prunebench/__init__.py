"""prunebench: a reproducible benchmark suite for data pruning.

Sub-packages: data, models, training, metrics, selection, scaling, theory, figures.
"""

__version__ = "0.1.0"
