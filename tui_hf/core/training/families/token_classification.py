"""Token classification (NER, POS): a list of words and a tag per word; scored by entity, as seqeval does."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from tui_hf.core.training.families.base import Family, clip


def tag_sequences(preds: list[Any], labels: list[Any], names: list[str]) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted tag names per row, over the positions that carry a word's tag (label not -100)."""
    import numpy as np

    gold_rows, pred_rows = [], []
    for p_batch, l_batch in zip(preds, labels):
        for p_row, l_row in zip(np.asarray(p_batch), np.asarray(l_batch)):
            keep = l_row != -100
            gold_rows.append([names[int(i)] for i in l_row[keep]])
            pred_rows.append([names[int(i)] if 0 <= int(i) < len(names) else "O" for i in p_row[keep]])
    return gold_rows, pred_rows


def seqeval_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Entity-level precision, recall and F1 and token accuracy, as run_ner.py reports them (seqeval's
    default, lenient IOB matching), computed in-process."""
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    if not any(gold):
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on tags without a B-/I- prefix, once per tag per call
        return {
            "precision": float(precision_score(gold, predicted, zero_division=0)),
            "recall": float(recall_score(gold, predicted, zero_division=0)),
            "f1": float(f1_score(gold, predicted, zero_division=0)),
            "accuracy": float(accuracy_score(gold, predicted)),
        }


def continuation_ids(index: dict[str, int]) -> dict[int, int]:
    """The id a word's later sub-tokens train on, by the word's tag id: B-X's I-X when the labels have it (run_ner.py's
    b_to_i_label), else the tag itself."""
    return {i: index.get("I-" + name[2:], i) if name.startswith("B-") else i for name, i in index.items()}


class TokenClassification(Family):
    task = "token-classification"
    title = "token classification (NER)"
    head = "TokenClassification"
    inference_task = "token-classification"
    columns = ("tokens", "ner_tags")
    metrics: ClassVar[tuple[str, ...]] = ("eval_loss", "eval_precision", "eval_recall", "eval_f1", "eval_accuracy")
    per_position = True

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]], index: dict[str, int], data: Any) -> dict[str, Any]:
        enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=data.max_length)
        every = getattr(data, "label_all_tokens", False)
        after_first = continuation_ids(index) if every else {}
        all_labels = []
        for i, tags in enumerate(batch["tags"]):
            previous, row = None, []
            for word in enc.word_ids(i):
                if word is None:
                    row.append(-100)
                elif word != previous:
                    row.append(index[tags[word]])
                else:
                    # A word's later sub-tokens: ignored by the loss, or (label_all_tokens) trained on the word's tag
                    # with B- turned into I-, as run_ner.py's b_to_i_label does.
                    row.append(after_first[index[tags[word]]] if every else -100)
                previous = word
            all_labels.append(row)
        enc["labels"] = all_labels
        return enc

    def collator(self, tokenizer: Any, spec: Any) -> Any:
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer)

    def score(self, preds: list[Any], labels: list[Any], names: list[str]) -> dict[str, float]:
        return seqeval_scores(*tag_sequences(preds, labels, names))

    def predict(
        self, model: Any, tokenizer: Any, rows: Any, labels: list[str], device: Any, spec: Any
    ) -> list[dict[str, Any]]:
        out = []
        for words, tags in zip(rows["tokens"], rows["tags"]):
            enc = tokenizer(
                words, is_split_into_words=True, truncation=True, max_length=spec.data.max_length, return_tensors="pt"
            )
            probs = model(**{k: v.to(device) for k, v in enc.items()}).logits.float().softmax(-1)[0].cpu()
            predicted, confidence, previous = [], [], None
            for position, word in enumerate(enc.word_ids(0)):
                if word is not None and word != previous:
                    i = int(probs[position].argmax())
                    predicted.append(labels[i] if i < len(labels) else str(i))
                    confidence.append(float(probs[position][i]))
                previous = word
            out.append(
                {
                    "text": clip(" ".join(words)),
                    "gold": clip(" ".join(tags[: len(predicted)])),
                    "prediction": clip(" ".join(predicted)),
                    "confidence": round(sum(confidence) / len(confidence), 4) if confidence else 0.0,
                }
            )
        return out


FAMILY = TokenClassification()
