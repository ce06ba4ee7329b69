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
    run_stages,
    skipped_explanation,
    tensor_text,
)
from tui_hf.core.tasks.limits import clip_all, input_limit


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


def run(
    loaded: LoadedModel,
    texts: list[str],
    options: dict[str, Any] | None = None,
    cancel: threading.Event | None = None,
    emit: Emit | None = None,
    *,
    explain: bool = False,
) -> EmbeddingResult:
    import torch

    opts = {"pooling": "mean", "normalize": True, **{k: v for k, v in (options or {}).items() if v is not None}}
    texts = clean_texts(texts)
    pipe = pipeline_for(loaded, "feature-extraction")
    texts_read, warnings = clip_all(loaded, texts)
    limit = input_limit(loaded)
    tokenize = {"truncation": True, **({"max_length": limit} if limit else {})}
    vectors, items, seen = [], [], []
    # One text per call, through the pipeline's own stages: unpadded inputs mean pooling needs no mask,
    # and the tensors stay at hand for "under the hood".
    for text, read in zip(texts, texts_read):
        check_cancel(cancel)
        model_inputs, _, hidden = run_stages(pipe, read, return_tensors=True, tokenize_kwargs=tokenize)
        hidden = hidden[0].float()
        vec = pool(hidden, opts["pooling"])
        items.append(Embedded(text, hidden.shape[0], hidden.shape[1], float(vec.norm()), vec[:8].tolist()))
        vectors.append(vec)
        if explain and len(seen) < EXPLAIN_LIMIT:
            seen.append((model_inputs[0], hidden))
    stacked = torch.stack(vectors)
    unit = torch.nn.functional.normalize(stacked, dim=-1)
    if opts["normalize"]:
        for item, v in zip(items, unit):
            item.preview = v[:8].tolist()
    sim = (unit @ unit.T).tolist()
    result = EmbeddingResult(
        items, opts["pooling"], bool(opts["normalize"]), sim, list(loaded.info.warnings) + warnings
    )
    if explain:
        result.explanation = (
            skipped_explanation("feature-extraction", len(texts))
            if len(texts) > EXPLAIN_LIMIT
            else explain_path(loaded, seen, stacked, unit, opts)
        )
    return result


_POOL_CODE = {"mean": "hidden.mean(dim=0)", "cls": "hidden[0]", "max": "hidden.max(dim=0).values"}


def explain_path(
    loaded: LoadedModel, seen: list[tuple[Any, Any]], pooled: Any, unit: Any, opts: dict[str, Any]
) -> Explanation:
    """The run's own tensors: each input's token vectors, pooled, normalised, compared."""
    tok = loaded.tokenizer
    first_inputs = seen[0][0]
    shapes = "\n".join(
        f"input {i + 1}: {len(inp['input_ids'][0])} tokens -> hidden {tuple(h.shape)}"
        for i, (inp, h) in enumerate(seen)
    )
    steps = [
        Step(
            'inputs = tokenizer(text, truncation=True, return_tensors="pt")  # one text at a time',
            f"tokens: {tok.convert_ids_to_tokens(first_inputs['input_ids'][0].tolist())[:64]}\n"
            + "\n".join(f"{k}: {tensor_text(v)}" for k, v in first_inputs.items()),
            "no padding: each input is its own batch of one",
        ),
        Step(
            "hidden = model(**inputs).last_hidden_state[0]",
            f"{shapes}\n{tensor_text(seen[0][1])}",
            "[tokens, hidden size]: one vector per token",
        ),
        Step(
            f"pooled = {_POOL_CODE.get(opts['pooling'], _POOL_CODE['mean'])}  # per input, stacked",
            tensor_text(pooled),
            f"{opts['pooling']} pooling turns the token vectors into one vector",
        ),
        Step(
            "unit = torch.nn.functional.normalize(pooled, dim=-1)\nunit @ unit.T",
            tensor_text(unit @ unit.T),
            "cosine similarity of every pair of inputs",
        ),
    ]
    return Explanation("feature-extraction by hand", steps)
