"""What every training family provides, with the defaults most share.

A family is the recipe for one kind of finetuning: the columns it reads, how a batch of rows becomes model
inputs, the collator, the head class, the metrics its field reports, the predictions shown at each
evaluation and how the X-ray marks what the loss sees. Both engines, the data preparation, the dialog and
the CLI read it here; nothing else branches on the task name.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

MAX_CHARS = 300  # per prediction field: an event line stays small


def clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def perplexity(loss: float) -> float:
    """exp(loss), as run_clm.py / run_mlm.py report it; capped below float overflow (an event holds no inf)."""
    return math.exp(min(loss, 700.0))


class Family:
    task: ClassVar[str]
    title: ClassVar[str]  # as the New job dialog lists it
    head: ClassVar[str]  # transformers' AutoModelFor<head>
    inference_task: ClassVar[str]  # what "Try model" opens on a finished run
    labelled: ClassVar[bool] = True  # learns classes named in a label column
    columns: ClassVar[tuple[str, str]] = ("text", "label")  # the usual (input, label) column names
    metrics: ClassVar[tuple[str, ...]] = ("eval_loss",)  # what each evaluation reports
    per_position: ClassVar[bool] = False  # labels per token (X-ray counts positions, not rows)
    shifted: ClassVar[bool] = False  # the model shifts labels itself: position 0 is never trained towards
    scores_logits: ClassVar[bool] = True  # evaluation needs the argmax of the logits
    generates: ClassVar[bool] = False  # evaluation generates (predict_with_generate): scored by score_generated
    decodes: ClassVar[bool] = False  # labels are a decoder's target tokens, not the input's positions
    scores_outputs: ClassVar[bool] = False  # evaluation needs whole outputs and the examples (score_outputs)
    xray_mark: ClassVar[str | None] = None  # the X-ray marks a supervised position with this, not its label

    def inference_task_for(self, spec: Any) -> str:
        """What "Try model" opens for a run of this spec (a seq2seq run with languages: translation)."""
        return self.inference_task

    def encoding_data(self, spec: Any, tokenizer: Any) -> Any:
        """The data settings encode sees (a seq2seq family resolves the model's prefix here)."""
        return spec.data

    def prepare_model(self, model: Any, tokenizer: Any, spec: Any) -> None:
        """Set what the model needs for this run once built (a forced target language when generating)."""

    def generation_kwargs(self, model: Any, spec: Any) -> dict[str, Any]:
        """How evaluation generates (generates only): the same for both engines."""
        return {}

    def score_generated(self, tokenizer: Any, preds: list[Any], labels: list[Any]) -> dict[str, float]:
        """Metrics (without the eval_ prefix) from per-batch generated ids and labels (generates only)."""
        return {}

    def prepare_tokenizer(self, tokenizer: Any) -> None:
        """Fix what the tokenizer lacks for this family (a pad token for a causal LM)."""

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]], index: dict[str, int], data: Any) -> dict[str, Any]:
        raise NotImplementedError

    def collator(self, tokenizer: Any, spec: Any) -> Any:
        raise NotImplementedError

    def group(self, encoded: dict[str, list[Any]], data: Any) -> dict[str, list[Any]]:
        """Rows after tokenization: the same ones (most families), or the text cut into blocks (language models)."""
        return encoded

    @property
    def groups(self) -> bool:
        return type(self).group is not Family.group

    def score(self, preds: list[Any], labels: list[Any], names: list[str]) -> dict[str, float]:
        """Metrics (without the eval_ prefix) from per-batch argmax predictions and labels (-100: not scored)."""
        return {}

    def from_loss(self, metrics: dict[str, float]) -> None:
        """Metrics that follow from the evaluation loss alone (perplexity), added in place."""

    def eval_outputs(self, output: Any) -> tuple[Any, ...]:
        """What score_outputs needs of one evaluation batch's model output (the tensors, in batch order)."""
        return ()

    def score_outputs(self, outputs: list[Any], prep: Any) -> dict[str, float]:
        """Metrics (without the eval_ prefix) from eval_outputs per batch, as numpy arrays, in the order of
        prep.eval (its rows, with prep.eval_raw's examples); for families whose score needs more than argmax."""
        return {}

    def xray_labels(self, batch: Any) -> Any:
        """Per row or position, what the loss trains towards in a collated batch (-100: nothing)."""
        return batch["labels"]

    def predict(
        self, model: Any, tokenizer: Any, rows: Any, labels: list[str], device: Any, spec: Any
    ) -> list[dict[str, Any]]:
        return []

    xray_note: ClassVar[str] = (
        "(token) is not trained on (label -100); token/TAG shows the tag a token is trained towards"
    )
