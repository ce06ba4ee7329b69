"""The training families, by task name: one module per family (see base.Family for what each provides)."""

from __future__ import annotations

from tui_hf.core.training.families import (
    causal_lm,
    masked_lm,
    question_answering,
    seq2seq,
    text_classification,
    token_classification,
)
from tui_hf.core.training.families.base import Family

FAMILIES: dict[str, Family] = {
    f.task: f
    for f in (
        text_classification.FAMILY,
        token_classification.FAMILY,
        masked_lm.FAMILY,
        causal_lm.FAMILY,
        seq2seq.FAMILY,
        question_answering.FAMILY,
    )
}


def family(task: str) -> Family:
    """The family of a task name (KeyError for a name spec.problems would have refused)."""
    return FAMILIES[task]
