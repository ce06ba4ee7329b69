"""Tasks: one registry (registry.py) and one module per task family holding its stages object (base.py `Task`)."""

from tui_hf.core.errors import UnknownTaskError
from tui_hf.core.tasks.registry import TASKS, TaskSpec, get_task, task_names

__all__ = ["TASKS", "TaskSpec", "UnknownTaskError", "get_task", "task_names"]
