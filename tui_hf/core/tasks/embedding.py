"""feature-extraction: token vectors from the pipeline, pooled per input, compared by cosine similarity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import Explanation, Step, tensor_text
from tui_hf.core.tasks.limits import input_limit
from tui_hf.core.tasks.pipeline import Forwarded, PipelineTask, Read, Stages


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


class FeatureExtraction(PipelineTask[dict[str, Any], tuple[Embedded, Any], EmbeddingResult]):
    """The pipeline's token vectors, pooled per input and compared; settings: pooling and normalize."""

    name = pipeline = "feature-extraction"
    defaults = {"pooling": "mean", "normalize": True}

    def settings(self, loaded: LoadedModel, texts: list[str], opts: dict[str, Any]) -> dict[str, Any]:
        limit = input_limit(loaded)
        return {**opts, "tokenize": {"truncation": True, **({"max_length": limit} if limit else {})}}

    def call(self, settings: dict[str, Any]) -> dict[str, Any]:
        # One text per call, through the pipeline's own stages: unpadded inputs mean pooling needs no mask,
        # and the tensors stay at hand for "under the hood".
        return {"return_tensors": True, "tokenize_kwargs": settings["tokenize"]}

    def item(self, text: str, read: str, stages: Stages, settings: dict[str, Any]) -> tuple[Embedded, Any]:
        hidden = stages.output[0].float()
        vec = pool(hidden, settings["pooling"])
        return Embedded(text, hidden.shape[0], hidden.shape[1], float(vec.norm()), vec[:8].tolist()), vec

    def postprocess(
        self, loaded: LoadedModel, prepared: Read[dict[str, Any]], forwarded: Forwarded[tuple[Embedded, Any]]
    ) -> EmbeddingResult:
        import torch

        opts = prepared.settings
        items = [item for item, _ in forwarded.items]
        unit = torch.nn.functional.normalize(torch.stack([vec for _, vec in forwarded.items]), dim=-1)
        if opts["normalize"]:
            for item, v in zip(items, unit):
                item.preview = v[:8].tolist()
        sim = (unit @ unit.T).tolist()
        return EmbeddingResult(items, opts["pooling"], bool(opts["normalize"]), sim, prepared.warnings)

    def by_hand(self, loaded: LoadedModel, kept: list[Stages], settings: dict[str, Any]) -> Explanation:
        return explain_path(loaded, [(s.model_inputs[0], s.output[0].float()) for s in kept], settings["pooling"])


run = FeatureExtraction()


_POOL_CODE = {"mean": "hidden.mean(dim=0)", "cls": "hidden[0]", "max": "hidden.max(dim=0).values"}


def explain_path(loaded: LoadedModel, seen: list[tuple[Any, Any]], pooling: str) -> Explanation:
    """The run's own tensors: each input's token vectors, pooled, normalised, compared (every input's: "under
    the hood" is shown for a few inputs only)."""
    import torch

    pooled = torch.stack([pool(hidden, pooling) for _, hidden in seen])
    unit = torch.nn.functional.normalize(pooled, dim=-1)
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
            f"pooled = {_POOL_CODE.get(pooling, _POOL_CODE['mean'])}  # per input, stacked",
            tensor_text(pooled),
            f"{pooling} pooling turns the token vectors into one vector",
        ),
        Step(
            "unit = torch.nn.functional.normalize(pooled, dim=-1)\nunit @ unit.T",
            tensor_text(unit @ unit.T),
            "cosine similarity of every pair of inputs",
        ),
    ]
    return Explanation("feature-extraction by hand", steps)
