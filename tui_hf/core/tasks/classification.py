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
from tui_hf.core.tasks.limits import clip_all, input_limit


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


def run(
    loaded: LoadedModel,
    texts: list[str],
    options: dict[str, Any] | None = None,
    cancel: threading.Event | None = None,
    emit: Emit | None = None,
    *,
    explain: bool = False,
) -> ClassificationResult:
    """The text-classification pipeline's answer (its postprocess: softmax, or sigmoid for multi-label and
    single-output heads), from one batched forward pass that "under the hood" shows as it was."""
    texts = clean_texts(texts)
    pipe = pipeline_for(loaded, "text-classification")
    texts_read, warnings = clip_all(loaded, texts)
    limit = input_limit(loaded)
    items, explanation = [], None
    for start in range(0, len(texts_read), BATCH):
        check_cancel(cancel)
        chunk = texts_read[start : start + BATCH]
        # what the pipeline's preprocess and batch collation make: one padded batch
        inputs = loaded.tokenizer(
            chunk, return_tensors="pt", padding=True, truncation=True, **({"max_length": limit} if limit else {})
        )
        outputs = pipe.forward(inputs)
        for i, text in enumerate(texts[start : start + BATCH]):
            rows = pipe.postprocess({"logits": outputs["logits"][i : i + 1]}, top_k=None, _legacy=False)
            items.append(Classified(text, [LabelScore(r["label"], float(r["score"])) for r in rows]))
        if explain and start == 0 and len(texts) <= EXPLAIN_LIMIT:
            explanation = explain_path(loaded, pipe, inputs, outputs["logits"])
    check_cancel(cancel)
    result = ClassificationResult(items, list(loaded.info.warnings) + warnings)
    if explain:
        result.explanation = explanation or skipped_explanation("text-classification", len(texts))
    return result


BATCH = 16


def explain_path(loaded: LoadedModel, pipe: Any, inputs: Any, logits: Any) -> Explanation:
    """The path the Hugging Face notes take by hand, on the run's own tensors:
    tokenizer -> model -> logits -> softmax (or sigmoid) -> argmax -> label."""
    import torch

    model = loaded.model
    steps = [
        Step(
            'inputs = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")',
            "\n".join(f"{k}: {tensor_text(v)}" for k, v in inputs.items()),
            "padding makes one rectangular batch; the attention mask marks real tokens with 1",
        ),
        Step(
            "logits = model(**inputs).logits",
            tensor_text(logits),
            "raw, unnormalised scores: one row per input, one column per label",
        ),
    ]
    function = _function(pipe)
    if function == "sigmoid":
        probs = torch.sigmoid(logits.float())
        steps.append(
            Step(
                "probs = torch.sigmoid(logits)",
                tensor_text(probs),
                "this head scores each label on its own (multi-label or a single output)",
            )
        )
    elif function == "softmax":
        probs = torch.nn.functional.softmax(logits.float(), dim=-1)
        steps.append(
            Step("probs = torch.nn.functional.softmax(logits, dim=-1)", tensor_text(probs), "each row now sums to 1")
        )
    else:
        probs = logits.float()
        steps.append(Step("scores = logits", tensor_text(probs), "a regression head: the raw value is the score"))
    pred = probs.argmax(dim=-1)
    id2label = model.config.id2label
    steps.append(
        Step(
            "pred = probs.argmax(dim=-1); [model.config.id2label[i] for i in pred]",
            f"{pred.tolist()} -> {[id2label[int(i)] for i in pred]}",
            f"id2label = {dict(id2label)}",
        )
    )
    return Explanation("text-classification by hand", steps)


def _function(pipe: Any) -> str:
    """Which function the pipeline's postprocess applies to this model's logits (its own rule)."""
    config = pipe.model.config
    if config.problem_type == "regression":
        return "none"
    if config.problem_type == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    return "softmax"
