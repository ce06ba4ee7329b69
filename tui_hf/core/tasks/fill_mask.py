"""fill-mask: the model's candidates for each mask token, with scores and the filled sentence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import Explanation, Step, tensor_text
from tui_hf.core.tasks.limits import input_limit
from tui_hf.core.tasks.pipeline import Forwarded, PipelineTask, Read, Stages


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


@dataclass
class _Settings:
    top_k: int
    mask: str


class FillMask(PipelineTask[_Settings, Filled, FillMaskResult]):
    """The pipeline's candidates for each mask, and the text with the best ones put in."""

    name = pipeline = "fill-mask"
    defaults = {"top_k": 5}

    def settings(self, loaded: LoadedModel, texts: list[str], opts: dict[str, Any]) -> _Settings:
        mask = loaded.tokenizer.mask_token
        if mask is None:
            raise TaskInputError(
                f"{loaded.info.title} has no mask token: fill-mask needs a masked language model "
                "such as distilbert/distilroberta-base"
            )
        missing = [t for t in texts if mask not in t]
        if missing:
            raise TaskInputError(f"put this model's mask token {mask} in every input; none in: {missing[0][:60]!r}")
        return _Settings(max(int(opts["top_k"]), 1), mask)

    def preprocess(self, loaded: LoadedModel, texts: list[str], options: dict[str, Any]) -> Read[_Settings]:
        prepared = super().preprocess(loaded, texts, options)
        lost = [i for i, t in enumerate(prepared.read) if prepared.settings.mask not in t]
        if lost:
            raise TaskInputError(
                f"the mask in input {lost[0] + 1} is past the {input_limit(loaded)} tokens this model "
                "reads: move it nearer the start"
            )
        return prepared

    def call(self, settings: _Settings) -> dict[str, Any]:
        return {"top_k": settings.top_k}

    def item(self, text: str, read: str, stages: Stages, settings: _Settings) -> Filled:
        raw = stages.output
        groups = raw if raw and isinstance(raw[0], list) else [raw]  # one list per mask
        masks = [
            [Candidate(str(c["token_str"]), int(c["token"]), float(c["score"]), str(c["sequence"])) for c in group]
            for group in groups
        ]
        filled = read
        for candidates in masks:
            filled = filled.replace(settings.mask, candidates[0].token.strip() if candidates else "", 1)
        return Filled(text, masks, filled)

    def postprocess(
        self, loaded: LoadedModel, prepared: Read[_Settings], forwarded: Forwarded[Filled]
    ) -> FillMaskResult:
        return FillMaskResult(forwarded.items, prepared.settings.mask, prepared.warnings)

    def by_hand(self, loaded: LoadedModel, kept: list[Stages], settings: _Settings) -> Explanation:
        return explain_path(loaded, [s.model_outputs[0] for s in kept], settings.top_k)


run = FillMask()


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
