"""A task as an object with the pipeline's three stages (transformers' `preprocess` / `_forward` /
`postprocess`), walked once by `Task.__call__`, which is every task's runner.

`preprocess` checks and reads the input (refusals happen here, before any model work), `forward` runs the model
(checking `cancel`, streaming through `emit`) and keeps the tensors "under the hood" will show, `postprocess`
makes the plain-data result; `explain` then builds the explanation from what the stages handed on, so no task
walks its input twice. Whether to explain at all (asked for, and few enough inputs to show) is decided here,
once for every task.

`PipelineTask` is the shape of the tasks that run a transformers pipeline one input at a time: clean, clip to
what the model reads, the pipeline's own stages per input (tasks/common.py `run_stages`), one item each.
"""

from __future__ import annotations

import threading
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import (
    EXPLAIN_LIMIT,
    Emit,
    Explanation,
    check_cancel,
    clean_texts,
    pipeline_for,
    run_stages,
    skipped_explanation,
)
from tui_hf.core.tasks.limits import clip_all


class Explained(Protocol):
    """A task's result: plain data with a place for "under the hood"."""

    explanation: Explanation | None


P = TypeVar("P")  # what preprocess hands on
F = TypeVar("F")  # what forward hands on
R = TypeVar("R", bound=Explained)  # the result
S = TypeVar("S")  # a pipeline task's settings
I = TypeVar("I")  # noqa: E741  (a pipeline task's item: one input's answer)


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


@dataclass
class Read(Generic[S]):
    """What a pipeline task's preprocess hands on."""

    texts: list[str]  # as given (blank lines dropped)
    read: list[str]  # as the model reads them (cut to its input limit)
    settings: S
    warnings: list[str]  # the model's, then one per input cut


@dataclass
class Stages:
    """One input (or batch) through the pipeline's stages: model inputs and outputs per chunk (a chunk pipeline
    such as NER or zero-shot makes several), and the pipeline's answer."""

    model_inputs: list[Any]
    model_outputs: list[Any]
    output: Any = None


@dataclass
class Forwarded(Generic[I]):
    items: list[I]  # one per input
    kept: list[Stages] = field(default_factory=list)  # the stages "under the hood" shows, when it is shown


class PipelineTask(Task[Read[S], Forwarded[I], R]):
    """A task served by a transformers pipeline, one input at a time through its own stages."""

    pipeline: ClassVar[str]  # the transformers pipeline's task name
    defaults: ClassVar[dict[str, Any]] = {}  # the runner's defaults for options not given

    def preprocess(self, loaded: LoadedModel, texts: list[str], options: dict[str, Any]) -> Read[S]:
        opts = {**self.defaults, **{k: v for k, v in options.items() if v is not None}}
        texts = clean_texts(texts)
        settings = self.settings(loaded, texts, opts)
        read, warnings = clip_all(loaded, texts, reserved=self.reserved(loaded, settings))
        return Read(texts, read, settings, list(loaded.info.warnings) + warnings)

    def settings(self, loaded: LoadedModel, texts: list[str], opts: dict[str, Any]) -> S:
        """The run's settings from the options; refuses what does not suit the model or the texts."""
        return opts  # type: ignore[return-value]  (a task without settings of its own keeps the options)

    def reserved(self, loaded: LoadedModel, settings: S) -> int:
        """Tokens each input must leave free for what the pipeline adds to it."""
        return 0

    def call(self, settings: S) -> dict[str, Any]:
        """The keyword arguments the pipeline is called with."""
        return {}

    @abstractmethod
    def item(self, text: str, read: str, stages: Stages, settings: S) -> I:
        """One input's answer from its stages."""

    @abstractmethod
    def by_hand(self, loaded: LoadedModel, kept: list[Stages], settings: S) -> Explanation:
        """The "under the hood" explanation from the stages kept (the first inputs')."""

    def explain(self, loaded: LoadedModel, prepared: Read[S], forwarded: Forwarded[I], result: R) -> Explanation:
        return self.by_hand(loaded, forwarded.kept, prepared.settings)

    def inputs(self, prepared: Read[S]) -> int:
        return len(prepared.texts)

    def forward(
        self, loaded: LoadedModel, prepared: Read[S], cancel: threading.Event | None, emit: Emit | None, keep: bool
    ) -> Forwarded[I]:
        pipe = pipeline_for(loaded, self.pipeline)
        call = self.call(prepared.settings)
        forwarded: Forwarded[I] = Forwarded([])
        for text, read in zip(prepared.texts, prepared.read):
            check_cancel(cancel)
            stages = Stages(*run_stages(pipe, read, **call))
            forwarded.items.append(self.item(text, read, stages, prepared.settings))
            if keep:
                forwarded.kept.append(stages)
        return forwarded
