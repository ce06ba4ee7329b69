"""Predictions during training: the same few validation examples, predicted at every evaluation.

Watching one example's prediction move from wrong to right says what a metric cannot. The first
`spec.predictions` validation rows are used (the same ones each time, so evaluations compare). Each item:

    {"text": ..., "gold": ..., "prediction": ..., "confidence": 0.0-1.0}

Classification: the predicted class and its probability. Token classification: the tag of each word's
first sub-token, confidence the mean over words. Causal LM: the first half of the text's words as a prompt,
a greedy continuation of up to 16 tokens, the gold being the text's own continuation; confidence the mean
probability of the generated tokens.
"""

from __future__ import annotations

from typing import Any

MAX_NEW_TOKENS = 16
MAX_CHARS = 300  # per field: an event line stays small


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def predict_examples(model: Any, tokenizer: Any, spec: Any, prep: Any, device: Any = None) -> list[dict[str, Any]]:
    """Predictions for the first `spec.predictions` validation rows; [] when there are none."""
    import torch

    rows = prep.eval_raw
    count = min(spec.predictions, len(rows)) if rows is not None else 0
    if count <= 0:
        return []
    rows = rows.select(range(count))
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            if spec.task == "text-classification":
                return _classify(model, tokenizer, rows, prep.labels, device, spec.data.max_length)
            if spec.task == "token-classification":
                return _tag(model, tokenizer, rows, prep.labels, device, spec.data.max_length)
            return _generate(model, tokenizer, rows, device)
    finally:
        if was_training:
            model.train()


def _classify(model: Any, tok: Any, rows: Any, labels: list[str], device: Any, max_length: int) -> list[dict[str, Any]]:
    enc = tok(list(rows["text"]), truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    probs = model(**{k: v.to(device) for k, v in enc.items()}).logits.float().softmax(-1).cpu()
    out = []
    for text, gold, p in zip(rows["text"], rows["label"], probs):
        i = int(p.argmax())
        out.append({"text": _clip(text), "gold": gold, "prediction": labels[i] if i < len(labels) else str(i),
                    "confidence": round(float(p[i]), 4)})
    return out


def _tag(model: Any, tok: Any, rows: Any, labels: list[str], device: Any, max_length: int) -> list[dict[str, Any]]:
    out = []
    for words, tags in zip(rows["tokens"], rows["tags"]):
        enc = tok(words, is_split_into_words=True, truncation=True, max_length=max_length, return_tensors="pt")
        probs = model(**{k: v.to(device) for k, v in enc.items()}).logits.float().softmax(-1)[0].cpu()
        predicted, confidence, previous = [], [], None
        for position, word in enumerate(enc.word_ids(0)):
            if word is not None and word != previous:
                i = int(probs[position].argmax())
                predicted.append(labels[i] if i < len(labels) else str(i))
                confidence.append(float(probs[position][i]))
            previous = word
        out.append({"text": _clip(" ".join(words)), "gold": _clip(" ".join(tags[: len(predicted)])),
                    "prediction": _clip(" ".join(predicted)),
                    "confidence": round(sum(confidence) / len(confidence), 4) if confidence else 0.0})
    return out


def _generate(model: Any, tok: Any, rows: Any, device: Any) -> list[dict[str, Any]]:
    out = []
    for text in rows["text"]:
        words = text.split()
        cut = max(1, len(words) // 2)
        prompt, gold = " ".join(words[:cut]), " ".join(words[cut:])
        enc = tok(prompt, return_tensors="pt").to(device)
        result = model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, output_scores=True,
                                return_dict_in_generate=True, pad_token_id=tok.pad_token_id)
        new = result.sequences[0, enc["input_ids"].shape[1]:]
        probs = [float(score[0].float().softmax(-1)[t]) for score, t in zip(result.scores, new)]
        out.append({"text": _clip(prompt), "gold": _clip(gold),
                    "prediction": _clip(tok.decode(new, skip_special_tokens=True)),
                    "confidence": round(sum(probs) / len(probs), 4) if probs else 0.0})
    return out
