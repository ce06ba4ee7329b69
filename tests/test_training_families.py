"""Training families: each scored the way its field scores it, against the field's own libraries."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tui_hf.core.training.families import FAMILIES, family

NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def ids(tags: list[str]) -> list[int]:
    return [NER.index(t) for t in tags]


def test_ner_is_scored_by_entity_as_seqeval_scores_it() -> None:
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    gold = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]
    pred = ["B-PER", "I-PER", "O", "B-LOC", "O", "O"]  # the person right, the place's boundary wrong
    # As the model sees them: CLS, a word split in two (its second piece -100), SEP, padding.
    labels = np.array([[-100] + ids(gold[:1]) + [-100] + ids(gold[1:]) + [-100, -100]])
    preds = np.array([[0] + ids(pred[:1]) + [2] + ids(pred[1:]) + [0, 0]])
    got = family("token-classification").score([preds], [labels], NER)
    # Two gold entities, two predicted, one of them matching: P = R = F1 = 1/2; five of six tags right.
    assert got == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "accuracy": 5 / 6})
    assert got["f1"] == pytest.approx(f1_score([gold], [pred]))
    assert got["precision"] == pytest.approx(precision_score([gold], [pred]))
    assert got["recall"] == pytest.approx(recall_score([gold], [pred]))
    assert got["accuracy"] == pytest.approx(accuracy_score([gold], [pred]))


def test_ner_rows_from_several_batches_of_other_widths_are_scored_together() -> None:
    from seqeval.metrics import f1_score

    gold = [["B-LOC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["B-LOC", "O"], ["B-PER", "O", "O"]]
    batches = [(np.array([ids(p)]), np.array([ids(g)])) for p, g in zip(pred, gold)]
    got = family("token-classification").score([p for p, _ in batches], [g for _, g in batches], NER)
    assert got["f1"] == pytest.approx(f1_score(gold, pred)) == pytest.approx(0.5)


def test_two_classes_report_the_f1_of_class_1_as_glue_mrpc_does_more_report_macro_f1() -> None:
    from sklearn.metrics import f1_score

    fam = family("text-classification")
    labels, preds = np.array([1, 1, 1, 0]), np.array([1, 1, 0, 0])
    got = fam.score([preds], [labels], ["not_equivalent", "equivalent"])
    assert got["accuracy"] == pytest.approx(0.75)
    assert got["f1"] == pytest.approx(0.8) == pytest.approx(f1_score(labels, preds))  # 2 TP, 1 FN
    three = np.array([0, 1, 2, 2]), np.array([0, 2, 2, 1])
    got = fam.score([three[1]], [three[0]], ["contradiction", "neutral", "entailment"])
    assert got["f1"] == pytest.approx(f1_score(three[0], three[1], average="macro"))


def test_language_models_report_perplexity_from_the_loss() -> None:
    for task in ("causal-lm",):
        metrics = {"eval_loss": 2.5}
        FAMILIES[task].from_loss(metrics)
        assert metrics["eval_perplexity"] == pytest.approx(math.exp(2.5))
        assert "eval_perplexity" in FAMILIES[task].metrics


@pytest.mark.parametrize("task", sorted(FAMILIES))
def test_every_family_names_what_the_app_needs(task: str) -> None:
    import transformers

    fam: Any = FAMILIES[task]
    assert fam.task == task and fam.metrics[0] == "eval_loss"
    assert hasattr(transformers, "AutoModelFor" + fam.head)
