"""zero-shot-classification: candidate labels scored by an NLI model's entailment, via the v5 pipeline."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.classification import Classified, LabelScore
from tui_hf.core.tasks.common import (
    Emit,
    Explanation,
    check_cancel,
    clean_texts,
    pipeline_for,
)


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


def run(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
        cancel: threading.Event | None = None, emit: Emit | None = None, *,
        explain: bool = False) -> ZeroShotResult:
    opts = {"candidate_labels": "", "multi_label": False, "hypothesis_template": "This example is {}.",
            **(options or {})}
    texts = clean_texts(texts)
    labels = parse_labels(opts["candidate_labels"])
    template = str(opts["hypothesis_template"])
    if "{}" not in template:
        raise TaskInputError("the hypothesis template needs a {} where the label goes")
    label2id = getattr(loaded.model.config, "label2id", None) or {}
    if not any(str(k).lower().startswith("entail") for k in label2id):
        raise TaskInputError(f"{loaded.info.title} is not an NLI model (its labels have no 'entailment'); "
                             "zero-shot needs one, e.g. facebook/bart-large-mnli")
    pipe = pipeline_for(loaded, "zero-shot-classification")
    items = []
    for text in texts:
        check_cancel(cancel)
        raw = pipe(text, candidate_labels=labels, multi_label=bool(opts["multi_label"]),
                   hypothesis_template=template)
        items.append(Classified(text, [LabelScore(lbl, float(s)) for lbl, s in zip(raw["labels"], raw["scores"])]))
    return ZeroShotResult(items, bool(opts["multi_label"]), template, list(loaded.info.warnings))
