"""A task as an object with the pipeline's three stages (transformers' `preprocess` / `_forward` /
`postprocess`), walked once by `Task.__call__`, which is every task's runner.

`preprocess` checks and reads the input (refusals happen here, before any model work), `forward` runs the model
(checking `cancel`, streaming through `emit`) and keeps the tensors "under the hood" will show, `postprocess`
makes the plain-data result; `explain` then builds the explanation from what the stages handed on, so no task
walks its input twice. Whether to explain at all (asked for, and few enough inputs to show) is decided here,
once for every task.

The registry loads these objects (registry.py `RunnerRef`); tasks/pipeline.py has the common shape of the tasks
that run a transformers pipeline.
"""

from __future__ import annotations

import threading
import typing
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from tui_hf.core.tasks.common import EXPLAIN_LIMIT, Emit, Explanation, skipped_explanation

if TYPE_CHECKING:
    from tui_hf.core.models import LoadedModel


class Explained(Protocol):
    """A task's result: plain data with a place for "under the hood"."""

    explanation: Explanation | None


P = TypeVar("P")  # what preprocess hands on
F = TypeVar("F")  # what forward hands on
R = TypeVar("R", bound=Explained)  # the result


class Task(ABC, Generic[P, F, R]):
    """A task's stages. Calling the object runs them: it is the task's `Runner` (tasks/common.py)."""

    name: ClassVar[str]  # the registry's name, used in "under the hood"'s title when it is skipped

    def __init__(self) -> None:
        # A runner's annotations, as a function's would be: `typing.get_type_hints(task)["return"]` is the result
        # type (tests/test_render.py reads it to find a renderer for each), taken from `postprocess`.
        self.__annotations__ = {"return": typing.get_type_hints(type(self).postprocess)["return"]}

    def __call__(
        self,
        loaded: LoadedModel,
        texts: list[str],
        options: dict[str, Any] | None = None,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
        *,
        explain: bool = False,
    ) -> R:
        prepared = self.preprocess(loaded, texts, dict(options or {}))
        inputs = self.inputs(prepared)
        shown = explain and inputs <= EXPLAIN_LIMIT
        forwarded = self.forward(loaded, prepared, cancel, emit, shown)
        result = self.postprocess(loaded, prepared, forwarded)
        if explain:
            result.explanation = (
                self.explain(loaded, prepared, forwarded, result) if shown else skipped_explanation(self.name, inputs)
            )
        return result

    @abstractmethod
    def preprocess(self, loaded: LoadedModel, texts: list[str], options: dict[str, Any]) -> P:
        """The input checked and made ready for the model; TaskInputError for one that does not suit the task."""

    @abstractmethod
    def forward(
        self, loaded: LoadedModel, prepared: P, cancel: threading.Event | None, emit: Emit | None, keep: bool
    ) -> F:
        """The model's work; with `keep`, what `explain` will need (tensors, recorded steps) is kept."""

    @abstractmethod
    def postprocess(self, loaded: LoadedModel, prepared: P, forwarded: F) -> R:
        """The result as plain data (its annotation is the runner's result type)."""

    @abstractmethod
    def explain(self, loaded: LoadedModel, prepared: P, forwarded: F, result: R) -> Explanation | None:
        """The "under the hood" explanation: the explicit PyTorch path, from what the stages kept."""

    def inputs(self, prepared: P) -> int:
        """How many inputs the run has: above EXPLAIN_LIMIT, "under the hood" is skipped."""
        return 1
