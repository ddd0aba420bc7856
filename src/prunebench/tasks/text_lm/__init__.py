"""The ``text-lm`` task (perplexity-based data pruning, Ankner et al. 2024); see :mod:`.task`.

Importing this package registers the task and nothing heavy: torch and ``tokenizers`` are imported
inside the functions that use them.
"""

from prunebench.tasks.text_lm.task import TextLM

__all__ = ["TextLM"]
