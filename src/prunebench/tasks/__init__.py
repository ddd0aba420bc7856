"""Tasks: what a modality owns (splits, models, batches, per-example outputs, evaluation metric).

The pipeline talks to a task through :class:`Task`; the analysis half (selection, scaling,
figures, headline, theory) never imports one. See ``docs/architecture.md`` ("The task seam").
"""

from prunebench.tasks.base import OUTPUTS, Evaluation, Task, unknown_outputs
from prunebench.tasks.registry import (DEFAULT_TASK, get_task, list_tasks, register_task, task_of_config,
                                       unregister_task)

__all__ = ["DEFAULT_TASK", "OUTPUTS", "Evaluation", "Task", "get_task", "list_tasks", "register_task",
           "task_of_config", "unknown_outputs", "unregister_task"]
