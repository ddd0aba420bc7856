"""The ``retrieval`` task: dense-retriever fine-tuning on (query, positive document) pairs, with OPERA's
static (SP) and dynamic (DP) pruning (Fang et al. 2026, arXiv 2603.17205). See ``docs/retrieval.md``."""

from prunebench.tasks.retrieval.task import Retrieval  # noqa: E402,F401  (registers the task)
