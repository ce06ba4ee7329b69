"""feature-extraction: token vectors from the pipeline, pooled per input, compared by cosine similarity."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import (
    EXPLAIN_LIMIT,
    Emit,
    Explanation,
    Step,
    check_cancel,
    clean_texts,
    pipeline_for,
    skipped_explanation,
    tensor_text,
)


@dataclass
class Embedded:
    text: str
    tokens: int
    hidden_size: int
    norm: float  # of the pooled vector before normalisation
    preview: list[float]  # the first values of the pooled vector


@dataclass
class EmbeddingResult:
    items: list[Embedded]
    pooling: str
    normalized: bool
    similarity: list[list[float]]  # cosine similarity, inputs x inputs
    warnings: list[str]
    explanation: Explanation | None = None  # under the hood, when asked for

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.items), self.items[0].hidden_size if self.items else 0)


def pool(hidden: Any, how: str) -> Any:
    """Pool token vectors [tokens, hidden] of one unpadded input into one vector."""
    if how == "cls":
        return hidden[0]
    if how == "max":
        return hidden.max(dim=0).values
    return hidden.mean(dim=0)


def run(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
        cancel: threading.Event | None = None, emit: Emit | None = None, *,
        explain: bool = False) -> EmbeddingResult:
    import torch

    opts = {"pooling": "mean", "normalize": True, **(options or {})}
    texts = clean_texts(texts)
    pipe = pipeline_for(loaded, "feature-extraction")
    vectors, items = [], []
    # One text per call: unpadded inputs mean pooling needs no attention mask.
    for text in texts:
        check_cancel(cancel)
        hidden = pipe(text, return_tensors=True, tokenize_kwargs={"truncation": True})[0].float()
        vec = pool(hidden, opts["pooling"])
        items.append(Embedded(text, hidden.shape[0], hidden.shape[1], float(vec.norm()), vec[:8].tolist()))
        vectors.append(vec)
    stacked = torch.stack(vectors)
    unit = torch.nn.functional.normalize(stacked, dim=-1)
    if opts["normalize"]:
        for item, v in zip(items, unit):
            item.preview = v[:8].tolist()
    sim = (unit @ unit.T).tolist()
    result = EmbeddingResult(items, opts["pooling"], bool(opts["normalize"]), sim, list(loaded.info.warnings))
    if explain:
        result.explanation = (skipped_explanation("feature-extraction", len(texts)) if len(texts) > EXPLAIN_LIMIT
                              else explain_path(loaded, texts, options, cancel))
    return result


def explain_path(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
            cancel: threading.Event | None = None) -> Explanation:
    import torch

    texts = clean_texts(texts)
    tok, model = loaded.tokenizer, loaded.model
    steps: list[Step] = []
    inputs = tok(texts, padding=True, truncation=True, return_tensors="pt").to(model.device)
    steps.append(Step('inputs = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")',
                      "\n".join(f"{k}: {tensor_text(v)}" for k, v in inputs.items())))
    check_cancel(cancel)
    with torch.inference_mode():
        hidden = model(**inputs).last_hidden_state.float()
    steps.append(Step("hidden = model(**inputs).last_hidden_state", tensor_text(hidden),
                      "[batch, tokens, hidden size]: one vector per token"))
    mask = inputs["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
    steps.append(Step('mask = inputs["attention_mask"].unsqueeze(-1)\npooled = (hidden * mask).sum(1) / mask.sum(1)',
                      tensor_text(pooled), "mean pooling that ignores padding"))
    unit = torch.nn.functional.normalize(pooled, dim=-1)
    steps.append(Step("unit = torch.nn.functional.normalize(pooled, dim=-1)\nunit @ unit.T",
                      tensor_text(unit @ unit.T), "cosine similarity of every pair of inputs"))
    return Explanation("feature-extraction by hand", steps)
