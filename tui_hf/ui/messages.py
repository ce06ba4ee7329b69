"""Messages the workers post back to the app (past tense: they report what happened)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class LoadProgressed(Message):
    def __init__(self, stage: str, fraction: float) -> None:
        super().__init__()
        self.stage, self.fraction = stage, fraction

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgressed)


class TokenizerLoaded(Message):
    def __init__(self, tokenizer: Any, title: str, reference: str) -> None:
        super().__init__()
        self.tokenizer, self.title, self.reference = tokenizer, title, reference


class ModelLoaded(Message):
    def __init__(self, loaded: Any) -> None:
        super().__init__()
        self.loaded = loaded


class LoadFailed(Message):
    def __init__(self, reference: str, error: str, seconds: float) -> None:
        super().__init__()
        self.reference, self.error, self.seconds = reference, error, seconds


class TokensComputed(Message):
    def __init__(self, breakdown: Any, lines: list[Any], rows: list[int], generation: int) -> None:
        super().__init__()
        self.breakdown, self.lines, self.rows, self.generation = breakdown, lines, rows, generation


class RunFinished(Message):
    def __init__(self, task: str, result: Any, seconds: float) -> None:
        super().__init__()
        self.task, self.result, self.seconds = task, result, seconds


class RunFailed(Message):
    def __init__(self, task: str, error: str) -> None:
        super().__init__()
        self.task, self.error = task, error


class ExplainFinished(Message):
    def __init__(self, explanation: Any) -> None:
        super().__init__()
        self.explanation = explanation


class CompareFinished(Message):
    def __init__(self, comparison: Any, lines_a: list[Any], lines_b: list[Any]) -> None:
        super().__init__()
        self.comparison, self.lines_a, self.lines_b = comparison, lines_a, lines_b


class LibraryLogged(Message):
    def __init__(self, text: str, level: int) -> None:
        super().__init__()
        self.text, self.level = text, level


class RunProgressed(Message):
    """A partial result while a run streams; only the newest one waiting in the queue is kept."""

    def __init__(self, task: str, partial: Any) -> None:
        super().__init__()
        self.task, self.partial = task, partial

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgressed)
