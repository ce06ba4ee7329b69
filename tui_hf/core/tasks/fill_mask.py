"""fill-mask: the model's candidates for each mask token, with scores and the filled sentence."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tui_hf.core.errors import TaskInputError
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


def run(
    loaded: LoadedModel,
    texts: list[str],
    options: dict[str, Any] | None = None,
    cancel: threading.Event | None = None,
    emit: Emit | None = None,
    *,
    explain: bool = False,
) -> FillMaskResult:
    opts = {"top_k": 5, **{k: v for k, v in (options or {}).items() if v is not None}}
    texts = clean_texts(texts)
    mask = loaded.tokenizer.mask_token
    if mask is None:
        raise TaskInputError(
            f"{loaded.info.title} has no mask token: fill-mask needs a masked language model "
            "such as distilbert/distilroberta-base"
        )
    missing = [t for t in texts if mask not in t]
    if missing:
        raise TaskInputError(f"put this model's mask token {mask} in every input; none in: {missing[0][:60]!r}")
    texts_read, warnings = clip_all(loaded, texts)
    lost = [i for i, t in enumerate(texts_read) if mask not in t]
    if lost:
        raise TaskInputError(
            f"the mask in input {lost[0] + 1} is past the {input_limit(loaded)} tokens this model "
            "reads: move it nearer the start"
        )
    top_k = max(int(opts["top_k"]), 1)
    pipe = pipeline_for(loaded, "fill-mask")
    items, seen = [], []
    for text, read in zip(texts, texts_read):
        check_cancel(cancel)
        _, outputs, raw = run_stages(pipe, read, top_k=top_k)
        groups = raw if raw and isinstance(raw[0], list) else [raw]  # one list per mask
        masks = [
            [Candidate(str(c["token_str"]), int(c["token"]), float(c["score"]), str(c["sequence"])) for c in group]
            for group in groups
        ]
        filled = read
        for candidates in masks:
            filled = filled.replace(mask, candidates[0].token.strip() if candidates else "", 1)
        items.append(Filled(text, masks, filled))
        if explain and len(seen) < EXPLAIN_LIMIT:
            seen.append(outputs[0])
    result = FillMaskResult(items, mask, list(loaded.info.warnings) + warnings)
    if explain:
        result.explanation = (
            skipped_explanation("fill-mask", len(texts))
            if len(texts) > EXPLAIN_LIMIT
            else explain_path(loaded, seen, top_k)
        )
    return result


def explain_path(loaded: LoadedModel, seen: list[Any], top_k: int) -> Explanation:
    """From the run's forward pass: the logits at each mask position -> softmax -> top-k ids -> tokens."""
    tok = loaded.tokenizer
    first = seen[0]
    ids = first["input_ids"]
    positions = (ids[0] == tok.mask_token_id).nonzero().flatten().tolist()
    steps = [
        Step(
            'inputs = tokenizer(text, return_tensors="pt")',
            f"tokens: {tok.convert_ids_to_tokens(ids[0].tolist())[:64]}\ninput_ids: {tensor_text(ids)}\n"
            f"mask at positions {positions}",
            f"the mask token {tok.mask_token} is id {tok.mask_token_id}",
        ),
        Step(
            "logits = model(**inputs).logits",
            tensor_text(first["logits"]),
            "[batch, tokens, vocabulary]: a score for every vocabulary entry at every position",
        ),
    ]
    lines = []
    for n, out in enumerate(seen):
        where = (out["input_ids"][0] == tok.mask_token_id).nonzero().flatten().tolist()
        for p in where:
            probs = out["logits"][0, p].float().softmax(-1)
            values, top = probs.topk(top_k)
            pairs = ", ".join(
                f"{t!r} {v:.4f}" for t, v in zip(tok.convert_ids_to_tokens(top.tolist()), values.tolist())
            )
            lines.append(f"input {n + 1}, position {p}: ids {top.tolist()} -> {pairs}")
    steps.append(
        Step(
            "probs = logits[0, mask_position].softmax(-1)\n"
            "values, ids = probs.topk(top_k); tokenizer.convert_ids_to_tokens(ids)",
            "\n".join(lines),
            "the candidates above, with the same scores",
        )
    )
    return Explanation("fill-mask by hand", steps)
