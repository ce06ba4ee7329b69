"""Text classification, one text or a pair of texts per row (GLUE's MRPC, as the course finetunes it)."""

from __future__ import annotations

from typing import Any, ClassVar

from tui_hf.core.training.families.base import Family, clip


def accuracy_f1(preds: Any, labels: Any, classes: int) -> dict[str, float]:
    """Accuracy, and F1 as GLUE reports it: of class 1 for two classes (MRPC's "equivalent"), macro otherwise
    (over the classes in the gold or the predictions, as sklearn's f1_score averages)."""
    import numpy as np

    preds, labels = np.asarray(preds), np.asarray(labels)
    if labels.size == 0:
        return {}

    def f1(c: int) -> float:
        tp = float(((preds == c) & (labels == c)).sum())
        fp, fn = float(((preds == c) & (labels != c)).sum()), float(((preds != c) & (labels == c)).sum())
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0

    score = f1(1) if classes == 2 else float(np.mean([f1(int(c)) for c in np.unique(np.concatenate([labels, preds]))]))
    return {"accuracy": float((preds == labels).mean()), "f1": score}


class TextClassification(Family):
    task = "text-classification"
    title = "text classification (one text or a pair)"
    head = "SequenceClassification"
    inference_task = "text-classification"
    metrics: ClassVar[tuple[str, ...]] = ("eval_loss", "eval_accuracy", "eval_f1")
    xray_note = ""

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]], index: dict[str, int], data: Any) -> dict[str, Any]:
        pairs = batch.get("text_pair")
        enc = tokenizer(batch["text"], pairs, truncation=True, max_length=data.max_length)
        enc["labels"] = [index[v] for v in batch["label"]]
        return enc

    def collator(self, tokenizer: Any, spec: Any) -> Any:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def score(self, preds: list[Any], labels: list[Any], names: list[str]) -> dict[str, float]:
        import numpy as np

        p, gold = (
            np.concatenate([np.asarray(x).reshape(-1) for x in preds]),
            np.concatenate([np.asarray(x).reshape(-1) for x in labels]),
        )
        keep = gold != -100
        return accuracy_f1(p[keep], gold[keep], len(names))

    def predict(
        self, model: Any, tokenizer: Any, rows: Any, labels: list[str], device: Any, spec: Any
    ) -> list[dict[str, Any]]:
        texts = list(rows["text"])
        pairs = list(rows["text_pair"]) if "text_pair" in rows.column_names else None
        enc = tokenizer(
            texts, pairs, truncation=True, max_length=spec.data.max_length, padding=True, return_tensors="pt"
        )
        probs = model(**{k: v.to(device) for k, v in enc.items()}).logits.float().softmax(-1).cpu()
        out = []
        for n, (text, gold, p) in enumerate(zip(texts, rows["label"], probs)):
            i = int(p.argmax())
            shown = f"{text} ‖ {pairs[n]}" if pairs is not None else text
            out.append(
                {
                    "text": clip(shown),
                    "gold": gold,
                    "prediction": labels[i] if i < len(labels) else str(i),
                    "confidence": round(float(p[i]), 4),
                }
            )
        return out


FAMILY = TextClassification()
