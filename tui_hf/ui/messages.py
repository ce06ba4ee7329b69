"""Messages the workers post back to the app (past tense: they report what happened)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class Report(Message):
    """A worker's report to the app; dropped if it arrives after the app's screens are gone."""


class LoadProgressed(Report):
    def __init__(self, stage: str, fraction: float) -> None:
        super().__init__()
        self.stage, self.fraction = stage, fraction

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgressed)


class TokenizerLoaded(Report):
    def __init__(self, tokenizer: Any, title: str, reference: str) -> None:
        super().__init__()
        self.tokenizer, self.title, self.reference = tokenizer, title, reference


class ModelLoaded(Report):
    def __init__(self, loaded: Any) -> None:
        super().__init__()
        self.loaded = loaded


class LoadFailed(Report):
    def __init__(self, reference: str, error: str, seconds: float, pickle: bool = False) -> None:
        super().__init__()
        self.reference, self.error, self.seconds, self.pickle = reference, error, seconds, pickle


class TokensComputed(Report):
    def __init__(self, breakdown: Any, lines: list[Any], rows: list[int], generation: int) -> None:
        super().__init__()
        self.breakdown, self.lines, self.rows, self.generation = breakdown, lines, rows, generation


class RunFinished(Report):
    def __init__(self, task: str, result: Any, seconds: float) -> None:
        super().__init__()
        self.task, self.result, self.seconds = task, result, seconds


class RunFailed(Report):
    def __init__(self, task: str, error: str) -> None:
        super().__init__()
        self.task, self.error = task, error


class ExplainFinished(Report):
    def __init__(self, explanation: Any) -> None:
        super().__init__()
        self.explanation = explanation


class CompareFinished(Report):
    def __init__(self, comparison: Any, lines_a: list[Any], lines_b: list[Any]) -> None:
        super().__init__()
        self.comparison, self.lines_a, self.lines_b = comparison, lines_a, lines_b


class LibraryLogged(Report):
    def __init__(self, text: str, level: int) -> None:
        super().__init__()
        self.text, self.level = text, level


class RunProgressed(Report):
    """A partial result while a run streams; only the newest one waiting in the queue is kept."""

    def __init__(self, task: str, partial: Any) -> None:
        super().__init__()
        self.task, self.partial = task, partial

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgressed)
