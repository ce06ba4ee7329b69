"""Every task's result has a renderer of its own: a missing one fails here, not silently as raw JSON."""

from __future__ import annotations

import typing

import pytest

from tui_hf.core.tasks.registry import TASKS
from tui_hf.ui.inference.render import render_result


@pytest.mark.parametrize("task", list(TASKS))
def test_every_task_result_type_has_a_renderer(task: str) -> None:
    runner = TASKS[task].load_runner()
    returned = typing.get_type_hints(runner)["return"]
    # A runner may return one of several types (text generation: a GenerationResult, or a ScoreResult with
    # Score on): each needs its renderer.
    for result_type in typing.get_args(returned) or (returned,):
        assert render_result.dispatch(result_type) is not render_result.dispatch(object), (
            f"{task} returns {result_type.__name__}: register a renderer for it in tui_hf/ui/inference/render.py"
        )
