"""text-classification (sentiment-analysis): every label with its score, and the explicit PyTorch path."""

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
class LabelScore:
    label: str
    score: float


@dataclass
class Classified:
    text: str
    labels: list[LabelScore]  # every label, best first; scores sum to 1

    @property
    def top(self) -> LabelScore:
        return self.labels[0]


@dataclass
class ClassificationResult:
    items: list[Classified]
    warnings: list[str]
    explanation: Explanation | None = None  # under the hood, when asked for


def run(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
        cancel: threading.Event | None = None, emit: Emit | None = None, *,
        explain: bool = False) -> ClassificationResult:
    texts = clean_texts(texts)
    pipe = pipeline_for(loaded, "text-classification")
    check_cancel(cancel)
    raw = pipe(texts, top_k=None, truncation=True, batch_size=min(len(texts), 16))
    check_cancel(cancel)
    items = [
        Classified(text, sorted((LabelScore(r["label"], float(r["score"])) for r in rows), key=lambda s: -s.score))
        for text, rows in zip(texts, raw)
    ]
    result = ClassificationResult(items, list(loaded.info.warnings))
    if explain:
        result.explanation = (skipped_explanation("text-classification", len(texts)) if len(texts) > EXPLAIN_LIMIT
                              else explain_path(loaded, texts, options, cancel))
    return result


def explain_path(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
            cancel: threading.Event | None = None) -> Explanation:
    """The path the Hugging Face notes take by hand: tokenizer -> model -> logits -> softmax -> argmax."""
    import torch

    texts = clean_texts(texts)
    tok, model = loaded.tokenizer, loaded.model
    steps: list[Step] = []
    inputs = tok(texts, padding=True, truncation=True, return_tensors="pt").to(model.device)
    steps.append(Step('inputs = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")',
                      "\n".join(f"{k}: {tensor_text(v)}" for k, v in inputs.items()),
                      "padding makes one rectangular batch; the attention mask marks real tokens with 1"))
    check_cancel(cancel)
    with torch.inference_mode():
        outputs = model(**inputs)
    logits = outputs.logits
    steps.append(Step("logits = model(**inputs).logits", tensor_text(logits),
                      "raw, unnormalised scores: one row per input, one column per label"))
    probs = torch.nn.functional.softmax(logits.float(), dim=-1)
    steps.append(Step("probs = torch.nn.functional.softmax(logits, dim=-1)", tensor_text(probs),
                      "each row now sums to 1"))
    pred = probs.argmax(dim=-1)
    id2label = model.config.id2label
    steps.append(Step("pred = probs.argmax(dim=-1); [model.config.id2label[i] for i in pred]",
                      f"{pred.tolist()} -> {[id2label[int(i)] for i in pred]}",
                      f"id2label = {dict(id2label)}"))
    return Explanation("text-classification by hand", steps)
