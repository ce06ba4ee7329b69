"""The shape of the tasks that run a transformers pipeline one input at a time (`PipelineTask`): clean the
texts, clip them to what the model reads, the pipeline's own stages per input (tasks/common.py `run_stages`),
one item each; a task module says only what differs (its settings, the pipeline's call, an item, the result,
"under the hood" from the stages kept).
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.base import R, Task
from tui_hf.core.tasks.common import Emit, Explanation, check_cancel, clean_texts, pipeline_for, run_stages
from tui_hf.core.tasks.limits import clip_all

S = TypeVar("S")  # a pipeline task's settings
I = TypeVar("I")  # noqa: E741  (a pipeline task's item: one input's answer)


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
    """What a pipeline task's forward hands on."""

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
