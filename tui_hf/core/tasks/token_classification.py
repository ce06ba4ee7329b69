"""token-classification (ner): entities with type, score and character span, from the v5 pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import Explanation, Step, tensor_text
from tui_hf.core.tasks.pipeline import Forwarded, PipelineTask, Read, Stages


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


class TokenClassification(PipelineTask[str, Tagged, TokenClassificationResult]):
    """The pipeline's entities; its setting is the aggregation strategy."""

    name = pipeline = "token-classification"
    defaults = {"aggregation_strategy": "simple"}

    def settings(self, loaded: LoadedModel, texts: list[str], opts: dict[str, Any]) -> str:
        strategy = str(opts["aggregation_strategy"])
        if strategy != "none" and not getattr(loaded.tokenizer, "is_fast", False):
            raise TaskInputError("grouping sub-words into entities needs a fast tokenizer; set Aggregation to none")
        return strategy

    def call(self, settings: str) -> dict[str, Any]:
        return {"aggregation_strategy": settings}

    def item(self, text: str, read: str, stages: Stages, settings: str) -> Tagged:
        return Tagged(text, entities(stages.output))

    def postprocess(
        self, loaded: LoadedModel, prepared: Read[str], forwarded: Forwarded[Tagged]
    ) -> TokenClassificationResult:
        return TokenClassificationResult(forwarded.items, prepared.settings, prepared.warnings)

    def by_hand(self, loaded: LoadedModel, kept: list[Stages], settings: str) -> Explanation:
        return explain_path(loaded, kept[0], settings)


run = TokenClassification()


def entities(raw: list[dict[str, Any]]) -> list[Entity]:
    """The pipeline's entities as plain data (a span the pipeline does not know is -1, -1)."""
    return [
        Entity(
            str(e.get("word", "")),
            str(e.get("entity_group") or e.get("entity")),
            float(e["score"]),
            int(e["start"]) if e.get("start") is not None else -1,
            int(e["end"]) if e.get("end") is not None else -1,
        )
        for e in raw
    ]


_STRATEGY = {
    "none": "no grouping: every token whose label is not O is an entity, with its own label and score",
    "simple": "adjacent tokens with the same entity type (B-X then I-X) merge; the score is their mean",
    "first": "a word takes the label of its first sub-word token; then words merge as in simple",
    "average": "a word takes the label with the best score averaged over its sub-word tokens; then words merge",
    "max": "a word takes the label of its highest-scoring sub-word token; then words merge",
}


def explain_path(loaded: LoadedModel, first: Stages, strategy: str) -> Explanation:
    """From the run's forward pass (the first input's): per-token logits -> softmax -> argmax -> labels ->
    aggregation."""
    tok = loaded.tokenizer
    id2label = loaded.model.config.id2label
    chunk, output, found = first.model_inputs[0], first.model_outputs[0], entities(first.output)
    ids = output.get("input_ids", chunk.get("input_ids"))
    logits = output["logits"]
    probs = logits[0].float().softmax(-1)
    best, labels = probs.max(-1)
    tokens = tok.convert_ids_to_tokens(ids[0].tolist())
    special = output.get("special_tokens_mask")
    rows = []
    for i, (token, label, score) in enumerate(zip(tokens, labels.tolist(), best.tolist())):
        if special is not None and int(special[0][i]):
            continue
        rows.append(f"{token:<16} {id2label[label]:<10} {score:.4f}")
    steps = [
        Step(
            'inputs = tokenizer(text, return_tensors="pt", return_offsets_mapping=True)',
            f"tokens: {tokens[:64]}\ninput_ids: {tensor_text(ids)}",
            "offsets map each token back to characters, for the entity spans",
        ),
        Step(
            "logits = model(**inputs).logits",
            tensor_text(logits),
            "[batch, tokens, labels]: a score for every label at every token",
        ),
        Step(
            "probs = logits.softmax(-1); score, label = probs.max(-1)  # model.config.id2label[label]",
            "\n".join(rows[:80]) + ("\n..." if len(rows) > 80 else ""),
            f"special tokens skipped; id2label = {dict(id2label)}",
        ),
        Step(
            f"pipeline(..., aggregation_strategy={strategy!r})",
            "\n".join(f"{e.word!r:<20} {e.type:<8} {e.score:.4f}  chars {e.start}:{e.end}" for e in found)
            or "(no entities: every token is O)",
            _STRATEGY.get(strategy, ""),
        ),
    ]
    return Explanation("token-classification by hand", steps)
