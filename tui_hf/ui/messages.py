"""What workers report back to the main screen (past tense: they say what happened).

Dataclass messages (Textual initialises them in `Message.__post_init__`). Workers post them from their
threads (`post_message` is thread-safe); a message posted to a screen that is gone is simply dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class LoadProgressed(Message):
    stage: str
    fraction: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgressed)  # only the newest stage matters


@dataclass
class TokenizerLoaded(Message):
    tokenizer: Any
    reference: str


@dataclass
class ModelLoaded(Message):
    loaded: Any
    reference: str
    seconds: float


@dataclass
class LoadFailed(Message):
    reference: str
    error: str
    seconds: float
    pickle: bool = False  # only pickle weights: the user may confirm and load anyway


@dataclass
class ModelSaved(Message):
    path: str
    error: str = ""


@dataclass
class RunProgressed(Message):
    """A partial result while a run streams; only the newest one waiting in the queue is kept."""

    task: str
    partial: Any

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgressed)


@dataclass
class RunFinished(Message):
    task: str
    result: Any
    seconds: float


@dataclass
class RunFailed(Message):
    task: str
    error: str


@dataclass
class RunCancelled(Message):
    task: str


@dataclass
class LibraryLogged(Message):
    text: str
    level: int
