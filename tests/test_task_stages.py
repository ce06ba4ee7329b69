"""Tasks as stage objects (core/tasks/base.py): every registry reference resolves to one, the stages are
walked once in order, "under the hood" is built once from what they kept, and the generation settings are
declared once for the tasks that generate."""

from __future__ import annotations

import threading
import typing
from dataclasses import dataclass
from typing import Any

import pytest

from tui_hf.core.tasks.registry import TASKS, RunnerRef


def test_every_registered_task_reference_resolves_to_a_task_object() -> None:
    from tui_hf.core.tasks.base import Task

    for spec in TASKS.values():
        task = spec.runner.load()
        assert isinstance(task, Task), f"{spec.name}: {spec.runner} is {task!r}"
        assert task.name == spec.name  # the title of a skipped "under the hood"
        assert spec.load_runner() is task


def test_a_reference_to_a_function_is_refused_even_with_the_runner_parameters() -> None:
    # tasks.base.Task.__call__ has exactly a Runner's parameters, but a function is not a stages object.
    with pytest.raises(TypeError, match="not a Task"):
        RunnerRef("base", "Task").load()  # the class itself, not an object of it
    with pytest.raises(TypeError, match="not a Task"):
        RunnerRef("common", "clean_texts").load()


@dataclass
class _Result:
    words: list[str]
    explanation: Any = None


def _walk() -> tuple[type, list[str]]:
    """A task of its own, no model: what a new task module writes, and the order its stages are called in."""
    from tui_hf.core.tasks.base import Task
    from tui_hf.core.tasks.common import Explanation, Step

    calls: list[str] = []

    class Upper(Task[list[str], list[str], _Result]):
        name = "upper"

        def inputs(self, prepared: list[str]) -> int:
            return len(prepared)

        def preprocess(self, loaded: Any, texts: list[str], options: dict[str, Any]) -> list[str]:
            calls.append(f"preprocess {options}")
            return texts

        def forward(
            self, loaded: Any, prepared: list[str], cancel: threading.Event | None, emit: Any, keep: bool
        ) -> list[str]:
            calls.append(f"forward keep={keep}")
            return [t.upper() for t in prepared]

        def postprocess(self, loaded: Any, prepared: list[str], forwarded: list[str]) -> _Result:
            calls.append("postprocess")
            return _Result(forwarded)

        def explain(self, loaded: Any, prepared: list[str], forwarded: list[str], result: _Result) -> Explanation:
            calls.append("explain")
            return Explanation("upper by hand", [Step("str.upper", repr(forwarded))])

    return Upper, calls


def test_the_stages_run_once_in_order_and_explain_is_built_from_what_they_kept() -> None:
    Upper, calls = _walk()
    task = Upper()
    assert typing.get_type_hints(task)["return"] is _Result  # the runner's result type, for its renderer
    result = task(None, ["a", "b"], {"x": 1}, explain=True)
    assert result.words == ["A", "B"]
    assert calls == ["preprocess {'x': 1}", "forward keep=True", "postprocess", "explain"]
    assert result.explanation.title == "upper by hand"
    assert result.explanation.steps[0].value == "['A', 'B']"


def test_explain_is_skipped_beyond_the_limit_and_not_asked_for_is_not_built() -> None:
    from tui_hf.core.tasks.common import EXPLAIN_LIMIT

    Upper, calls = _walk()
    result = Upper()(None, ["w"] * (EXPLAIN_LIMIT + 1), explain=True)
    assert calls[1] == "forward keep=False" and "explain" not in calls  # no tensors kept for it
    assert result.explanation.title == "upper by hand" and result.explanation.steps == []
    assert result.explanation.note.startswith(f"skipped: {EXPLAIN_LIMIT + 1} inputs")
    calls.clear()
    assert Upper()(None, ["w"]).explanation is None
    assert calls == ["preprocess {}", "forward keep=False", "postprocess"]


def test_the_generation_settings_are_declared_once_for_the_tasks_that_generate() -> None:
    by_name: dict[str, Any] = {}
    for task in ("summarization", "translation", "text2text-generation", "text-generation", "conversational"):
        for field in TASKS[task].fields:
            if field.name in ("max_new_tokens", "num_beams", "do_sample", "temperature"):
                # one declaration: the very same object wherever a task offers the setting
                assert by_name.setdefault(field.name, field) is field, (task, field.name)
    assert set(by_name) == {"max_new_tokens", "num_beams", "do_sample", "temperature"}
    assert by_name["max_new_tokens"].default is None  # the model's own value unless set
