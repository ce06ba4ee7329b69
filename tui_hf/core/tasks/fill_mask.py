"""fill-mask: the model's candidates for each mask token, with scores and the filled sentence."""

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
class Candidate:
    token: str
    token_id: int
    score: float
    sequence: str


@dataclass
class Filled:
    text: str
    masks: list[list[Candidate]]  # one candidate list per mask token in the text, best first
    filled: str  # the text with every mask replaced by its top candidate


@dataclass
class FillMaskResult:
    items: list[Filled]
    mask_token: str
    warnings: list[str]
    explanation: Explanation | None = None  # under the hood, when asked for


def run(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
        cancel: threading.Event | None = None, emit: Emit | None = None, *,
        explain: bool = False) -> FillMaskResult:
    opts = {"top_k": 5, **(options or {})}
    texts = clean_texts(texts)
    mask = loaded.tokenizer.mask_token
    if mask is None:
        raise TaskInputError(f"{loaded.info.title} has no mask token: fill-mask needs a masked language model "
                             "such as distilbert/distilroberta-base")
    missing = [t for t in texts if mask not in t]
    if missing:
        raise TaskInputError(f"put this model's mask token {mask} in every input (F8 inserts it); "
                             f"none in: {missing[0][:60]!r}")
    pipe = pipeline_for(loaded, "fill-mask")
    items = []
    for text in texts:
        check_cancel(cancel)
        raw = pipe(text, top_k=max(int(opts["top_k"]), 1))
        groups = raw if raw and isinstance(raw[0], list) else [raw]  # one list per mask
        masks = [[Candidate(str(c["token_str"]), int(c["token"]), float(c["score"]), str(c["sequence"]))
                  for c in group] for group in groups]
        filled = text
        for candidates in masks:
            filled = filled.replace(mask, candidates[0].token.strip() if candidates else "", 1)
        items.append(Filled(text, masks, filled))
    return FillMaskResult(items, mask, list(loaded.info.warnings))
