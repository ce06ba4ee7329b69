"""text-classification (sentiment-analysis): every label with its score, and the explicit PyTorch path."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import Emit, Explanation, Step, check_cancel, pipeline_for, tensor_text
from tui_hf.core.tasks.limits import input_limit
from tui_hf.core.tasks.pipeline import Forwarded, PipelineTask, Read, Stages


@dataclass
class LabelScore:
    label: str
    score: float


@dataclass
class Classified:
    text: str
    labels: list[LabelScore]  # every label, best first; scores sum to 1
    text_pair: str | None = None  # the second text it was read with (a sentence pair), if any

    @property
    def top(self) -> LabelScore:
        return self.labels[0]


@dataclass
class ClassificationResult:
    items: list[Classified]
    warnings: list[str]
    explanation: Explanation | None = None  # under the hood, when asked for


class TextClassification(PipelineTask[dict[str, Any], Classified, ClassificationResult]):
    """The text-classification pipeline's answer (its postprocess: softmax, or sigmoid for multi-label and
    single-output heads), from batched forward passes that "under the hood" shows as they were."""

    name = pipeline = "text-classification"

    def forward(
        self,
        loaded: LoadedModel,
        prepared: Read[dict[str, Any]],
        cancel: threading.Event | None,
        emit: Emit | None,
        keep: bool,
    ) -> Forwarded[Classified]:
        pipe = pipeline_for(loaded, self.pipeline)
        limit = input_limit(loaded)
        # A sentence pair: the pipeline's {"text": ..., "text_pair": ...}, the same second text for every input
        pair = str(prepared.settings.get("text_pair") or "").strip() or None
        forwarded: Forwarded[Classified] = Forwarded([])
        for start in range(0, len(prepared.read), BATCH):
            check_cancel(cancel)
            chunk = prepared.read[start : start + BATCH]
            # what the pipeline's preprocess and batch collation make: one padded batch
            inputs = loaded.tokenizer(
                chunk,
                [pair] * len(chunk) if pair is not None else None,
                return_tensors="pt",
                padding=True,
                truncation=True,
                **({"max_length": limit} if limit else {}),
            )
            outputs = pipe.forward(inputs)
            for i, text in enumerate(prepared.texts[start : start + BATCH]):
                rows = pipe.postprocess({"logits": outputs["logits"][i : i + 1]}, top_k=None, _legacy=False)
                forwarded.items.append(self.item(text, chunk[i], Stages([], [], rows), prepared.settings))
            if keep and start == 0:
                forwarded.kept.append(Stages([inputs], [outputs["logits"]]))
        check_cancel(cancel)
        return forwarded

    def item(self, text: str, read: str, stages: Stages, settings: dict[str, Any]) -> Classified:
        pair = str(settings.get("text_pair") or "").strip() or None
        return Classified(text, [LabelScore(r["label"], float(r["score"])) for r in stages.output], pair)

    def postprocess(
        self, loaded: LoadedModel, prepared: Read[dict[str, Any]], forwarded: Forwarded[Classified]
    ) -> ClassificationResult:
        return ClassificationResult(forwarded.items, prepared.warnings)

    def by_hand(self, loaded: LoadedModel, kept: list[Stages], settings: dict[str, Any]) -> Explanation:
        pipe = pipeline_for(loaded, self.pipeline)
        pair = str(settings.get("text_pair") or "").strip() or None
        return explain_path(loaded, pipe, kept[0].model_inputs[0], kept[0].model_outputs[0], pair)


run = TextClassification()
BATCH = 16
PAIR_NOTE = "; a pair is one sequence: the separator between, token_type_ids (where the model has them) 1 on the second"


def explain_path(loaded: LoadedModel, pipe: Any, inputs: Any, logits: Any, pair: str | None = None) -> Explanation:
    """The path the Hugging Face notes take by hand, on the run's own tensors:
    tokenizer -> model -> logits -> softmax (or sigmoid) -> argmax -> label."""
    import torch

    model = loaded.model
    call = "texts, [text_pair] * len(texts)" if pair is not None else "texts"
    steps = [
        Step(
            f'inputs = tokenizer({call}, padding=True, truncation=True, return_tensors="pt")',
            "\n".join(f"{k}: {tensor_text(v)}" for k, v in inputs.items()),
            "padding makes one rectangular batch; the attention mask marks real tokens with 1"
            + (PAIR_NOTE if pair else ""),
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
