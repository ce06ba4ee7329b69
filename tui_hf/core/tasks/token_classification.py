"""token-classification (ner): entities with type, score and character span, from the v5 pipeline."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import (
    Emit,
    Explanation,
    check_cancel,
    clean_texts,
    pipeline_for,
)


@dataclass
class Entity:
    word: str
    type: str
    score: float
    start: int
    end: int


@dataclass
class Tagged:
    text: str
    entities: list[Entity]


@dataclass
class TokenClassificationResult:
    items: list[Tagged]
    aggregation: str
    warnings: list[str]
    explanation: Explanation | None = None  # under the hood, when asked for


def run(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
        cancel: threading.Event | None = None, emit: Emit | None = None, *,
        explain: bool = False) -> TokenClassificationResult:
    opts = {"aggregation_strategy": "simple", **(options or {})}
    texts = clean_texts(texts)
    strategy = opts["aggregation_strategy"]
    if strategy != "none" and not getattr(loaded.tokenizer, "is_fast", False):
        raise TaskInputError("grouping sub-words into entities needs a fast tokenizer; set Aggregation to none")
    pipe = pipeline_for(loaded, "token-classification")
    items = []
    for text in texts:
        check_cancel(cancel)
        raw = pipe(text, aggregation_strategy=strategy)
        entities = [
            Entity(str(e.get("word", "")), str(e.get("entity_group") or e.get("entity")), float(e["score"]),
                   int(e["start"]) if e.get("start") is not None else -1,
                   int(e["end"]) if e.get("end") is not None else -1)
            for e in raw
        ]
        items.append(Tagged(text, entities))
    return TokenClassificationResult(items, strategy, list(loaded.info.warnings))
