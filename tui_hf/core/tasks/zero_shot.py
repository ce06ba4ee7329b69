"""zero-shot-classification: candidate labels scored by an NLI model's entailment, via the v5 pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.classification import Classified, LabelScore
from tui_hf.core.tasks.common import Explanation, Step, pipeline_for, tensor_text
from tui_hf.core.tasks.pipeline import Forwarded, PipelineTask, Read, Stages


@dataclass
class ZeroShotResult:
    items: list[Classified]
    multi_label: bool
    hypothesis_template: str
    warnings: list[str]
    explanation: Explanation | None = None  # under the hood, when asked for


def parse_labels(raw: Any) -> list[str]:
    labels = raw if isinstance(raw, list) else str(raw).split(",")
    out = [str(label).strip() for label in labels if str(label).strip()]
    if not out:
        raise TaskInputError("give at least one candidate label (comma-separated)")
    return out


@dataclass
class _Settings:
    labels: list[str]
    template: str
    multi_label: bool
    reserved: int  # tokens the longest hypothesis takes beside the text


class ZeroShot(PipelineTask[_Settings, Classified, ZeroShotResult]):
    """Each candidate label scored by the NLI model's entailment of "the text, so: <label hypothesis>"."""

    name = pipeline = "zero-shot-classification"
    defaults = {"candidate_labels": "", "multi_label": False, "hypothesis_template": "This example is {}."}

    def settings(self, loaded: LoadedModel, texts: list[str], opts: dict[str, Any]) -> _Settings:
        labels = parse_labels(opts["candidate_labels"])
        template = str(opts["hypothesis_template"])
        if "{}" not in template:
            raise TaskInputError("the hypothesis template needs a {} where the label goes")
        label2id = getattr(loaded.model.config, "label2id", None) or {}
        if not any(str(k).lower().startswith("entail") for k in label2id):
            raise TaskInputError(
                f"{loaded.info.title} is not an NLI model (its labels have no 'entailment'); "
                "zero-shot needs one, e.g. facebook/bart-large-mnli"
            )
        tok = loaded.tokenizer
        # the text is the premise of each (text, hypothesis) pair: it gets what the longest hypothesis leaves
        longest = max(len(tok(template.format(label), add_special_tokens=False)["input_ids"]) for label in labels)
        pair_extra = tok.num_special_tokens_to_add(pair=True) - tok.num_special_tokens_to_add(pair=False)
        return _Settings(labels, template, bool(opts["multi_label"]), longest + pair_extra)

    def reserved(self, loaded: LoadedModel, settings: _Settings) -> int:
        return settings.reserved

    def call(self, settings: _Settings) -> dict[str, Any]:
        return {
            "candidate_labels": settings.labels,
            "multi_label": settings.multi_label,
            "hypothesis_template": settings.template,
        }

    def item(self, text: str, read: str, stages: Stages, settings: _Settings) -> Classified:
        raw = stages.output
        return Classified(text, [LabelScore(lbl, float(s)) for lbl, s in zip(raw["labels"], raw["scores"])])

    def postprocess(
        self, loaded: LoadedModel, prepared: Read[_Settings], forwarded: Forwarded[Classified]
    ) -> ZeroShotResult:
        settings = prepared.settings
        return ZeroShotResult(forwarded.items, settings.multi_label, settings.template, prepared.warnings)

    def by_hand(self, loaded: LoadedModel, kept: list[Stages], settings: _Settings) -> Explanation:
        pipe = pipeline_for(loaded, self.pipeline)
        return explain_path(pipe, kept[0], settings.template, settings.multi_label)


run = ZeroShot()


def entailment_scores(logits: Any, entailment_id: int, multi_label: bool) -> Any:
    """Scores from NLI logits [labels, classes] as the zero-shot pipeline computes them: entailment against
    contradiction per label (multi-label, or a single label), or entailment softmaxed across labels."""
    logits = logits.float()
    if multi_label or logits.shape[0] == 1:
        contradiction_id = -1 if entailment_id == 0 else 0
        return logits[:, [contradiction_id, entailment_id]].softmax(-1)[:, 1]
    return logits[:, entailment_id].softmax(-1)


def explain_path(pipe: Any, first: Stages, template: str, multi_label: bool) -> Explanation:
    """From the run's forward passes (the first input's): one (text, hypothesis) pair per label -> NLI logits ->
    entailment."""
    import torch

    tok = pipe.tokenizer
    chunks, outputs = first.model_inputs, first.model_outputs
    labels = [o["candidate_label"] for o in outputs]
    logits = torch.cat([o["logits"] for o in outputs])
    classes = dict(pipe.model.config.id2label)
    entail = pipe.entailment_id
    scores = entailment_scores(logits, entail, multi_label)
    ranked = sorted(zip(labels, scores.tolist()), key=lambda x: -x[1])
    first = outputs[0]
    pairs = "\n".join(f"({first['sequence'][:40]!r}, {template.format(label)!r})" for label in labels)
    if multi_label or len(labels) == 1:
        code = (
            f"contradiction, entailment = logits[:, {-1 if entail == 0 else 0}], logits[:, {entail}]\n"
            "scores = torch.stack([contradiction, entailment], -1).softmax(-1)[:, 1]"
        )
        note = "each label on its own: entailment against contradiction, so scores need not sum to 1"
    else:
        code = f"scores = logits[:, {entail}].softmax(-1)  # entailment, across the labels"
        note = "one label is right: the entailment logits compete, so the scores sum to 1"
    steps = [
        Step(
            f"pairs = [(text, {template!r}.format(label)) for label in labels]",
            pairs,
            "zero-shot asks an NLI model whether the text entails each hypothesis",
        ),
        Step(
            "inputs = tokenizer(*pair, truncation='only_first', return_tensors='pt')  # per pair",
            f"tokens of the first pair: {tok.convert_ids_to_tokens(chunks[0]['input_ids'][0].tolist())[:64]}",
        ),
        Step(
            "logits = model(**inputs).logits  # one row per label",
            tensor_text(logits),
            f"classes: {classes}; entailment is column {entail}",
        ),
        Step(code, "\n".join(f"{label:<20} {score:.4f}" for label, score in ranked), note),
    ]
    return Explanation("zero-shot-classification by hand", steps)
