"""Extractive question answering (SQuAD, as run_qa.py and the course finetune it): a question, a passage and
the answers' texts with their character offsets in the passage. A long passage is cut into windows of
max_length tokens overlapping by doc_stride; each window trains towards the answer's first and last token,
or towards [CLS] when the answer is not inside it (or there is none: SQuAD v2's unanswerable questions).

An evaluation turns every window's start and end logits back into one answer per question with the span
post-processing the app's question answering uses (core/spans.py: one implementation), and scores it as the
official SQuAD script does: exact match and token F1 against the best of the gold answers, in percent; with
unanswerable questions in the validation data the null answer competes (v2) and HasAns / NoAns are reported.
"""

from __future__ import annotations

import collections
import json
import re
import string
from typing import Any, ClassVar

from tui_hf.core.errors import SpecError
from tui_hf.core.training.families.base import Family, clip

MAX_ANSWER_TOKENS = 30  # run_qa.py's max_answer_length
SOURCE_ROW = "source_row"  # the row's line in its file (data.SOURCE_ROW: families cannot import data.py)
OFFSETS = "offset_mapping"  # per window: each context token's characters, None for the rest
NO_ANSWER = "(no answer)"


# -- SQuAD's metric, as the official evaluation script computes it ------------------------------------------


def normalize_answer(text: str) -> str:
    """Lower case, punctuation and the articles a / an / the removed, white space collapsed (SQuAD's rule)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """F1 over the normalised words; an empty answer on either side scores 1 only against another empty one."""
    pred, truth = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not truth:
        return float(pred == truth)
    common = sum((collections.Counter(pred) & collections.Counter(truth)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(truth)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: list[str], golds: list[list[str]]) -> dict[str, float]:
    """exact_match and f1 in percent, each question scored against its best gold answer; a question without
    gold answers is unanswerable and only the empty prediction is right (v2). HasAns_* / NoAns_* when the
    questions are of both kinds, as squad_v2 reports them."""
    if not golds:
        return {}
    em, f1, has = [], [], []
    for prediction, given in zip(predictions, golds):
        answers = [a for a in given if normalize_answer(a)] or [""]
        em.append(max(exact_match(prediction, a) for a in answers))
        f1.append(max(token_f1(prediction, a) for a in answers))
        has.append(bool(given))  # as the official script splits HasAns / NoAns: by the answers given
    out = {"exact_match": 100 * sum(em) / len(em), "f1": 100 * sum(f1) / len(f1)}
    if any(has) and not all(has):
        for name, keep in (("HasAns", True), ("NoAns", False)):
            idx = [i for i, h in enumerate(has) if h == keep]
            out[f"{name}_exact_match"] = 100 * sum(em[i] for i in idx) / len(idx)
            out[f"{name}_f1"] = 100 * sum(f1[i] for i in idx) / len(idx)
    return out


# -- windows and their start / end positions ----------------------------------------------------------------


def gold_answers(cell: str) -> dict[str, list[Any]]:
    """A row's answers as the reader keeps them (JSON text: an Arrow column of empty lists has no type)."""
    value = json.loads(cell)
    return {"text": list(value["text"]), "answer_start": list(value["answer_start"])}


def check_questions(tokenizer: Any, questions: list[str], data: Any, where: list[Any]) -> None:
    """SpecError naming the first question that leaves a window no more context tokens than doc_stride repeats
    (the tokenizer panics on it). Preflight calls it too, so the refusal comes before a run exists."""
    room = data.max_length - tokenizer.num_special_tokens_to_add(pair=True)
    questions = [q.lstrip() for q in questions]
    for n, ids in enumerate(tokenizer(questions, add_special_tokens=False)["input_ids"]):
        if room - len(ids) <= data.doc_stride:
            raise SpecError(
                f"{where[n]}: the question is {len(ids)} tokens, which leaves {max(room - len(ids), 0)} of a "
                f"window of max_length {data.max_length} for the context, not more than doc_stride "
                f"{data.doc_stride}; raise max_length, lower doc_stride or shorten the question"
            )


def windows(
    tokenizer: Any, questions: list[str], contexts: list[str], data: Any, where: list[Any], **extra: Any
) -> Any:
    """Each (question, context) as windows of max_length tokens, question first, the context cut with a
    stride of doc_stride, with offsets (run_qa.py's tokenization). The question's leading spaces are dropped,
    as run_qa.py drops them: they would only take room."""
    questions = [q.lstrip() for q in questions]
    check_questions(tokenizer, questions, data, where)
    return tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=data.max_length,
        stride=data.doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        **extra,
    )


def answer_tokens(
    offsets: list[tuple[int, int]], sequence_ids: list[int | None], start_char: int, end_char: int
) -> tuple[int, int] | None:
    """The first and last token of the characters [start_char, end_char) in a window, or None when the
    window's context does not hold them whole (run_qa.py's rule)."""
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    if not context:
        return None
    first, last = context[0], context[-1]
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return None
    s = first
    while s <= last and offsets[s][0] <= start_char:
        s += 1
    e = last
    while e >= first and offsets[e][1] >= end_char:
        e -= 1
    return s - 1, e + 1


class QACollator:
    """Padding for the windows; the offsets stay in the dataset for the evaluation's post-processing."""

    def __init__(self, tokenizer: Any) -> None:
        from transformers import DataCollatorWithPadding

        self.inner = DataCollatorWithPadding(tokenizer)

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        return self.inner([{k: v for k, v in f.items() if k != OFFSETS} for f in features])


class QuestionAnswering(Family):
    task = "question-answering"
    title = "question answering (extractive, SQuAD)"
    head = "QuestionAnswering"
    inference_task = "question-answering"
    labelled = False
    columns = ("question", "answers")
    metrics: ClassVar[tuple[str, ...]] = ("eval_loss", "eval_exact_match", "eval_f1")
    per_position = True
    scores_logits = False
    scores_outputs = True
    xray_mark = "ANSWER"
    xray_note = (
        "token/ANSWER: the answer's tokens, from the start to the end position; [CLS]/ANSWER: the answer is "
        "not in this window"
    )

    def encode(self, tokenizer: Any, batch: dict[str, list[Any]], index: dict[str, int], data: Any) -> dict[str, Any]:
        lines = batch.get(SOURCE_ROW) or [f"row {i + 1}" for i in range(len(batch["question"]))]
        enc = windows(tokenizer, batch["question"], batch["context"], data, [f"line {n}" for n in lines])
        mapping = enc.pop("overflow_to_sample_mapping")
        starts, ends, offsets_out, rows = [], [], [], []
        cls_id = tokenizer.cls_token_id
        for w, offsets in enumerate(enc.pop("offset_mapping")):
            example = mapping[w]
            sequence = enc.sequence_ids(w)
            ids = enc["input_ids"][w]
            cls = ids.index(cls_id) if cls_id in ids else 0
            span = None
            answers = gold_answers(batch["answers"][example])
            if answers["answer_start"]:  # the first answer trains, as in run_qa.py
                start = answers["answer_start"][0]
                span = answer_tokens(offsets, sequence, start, start + len(answers["text"][0]))
            s, e = span if span is not None else (cls, cls)
            starts.append(s)
            ends.append(e)
            offsets_out.append([list(o) if sequence[k] == 1 else None for k, o in enumerate(offsets)])
            if SOURCE_ROW in batch:
                rows.append(batch[SOURCE_ROW][example])
        enc["start_positions"], enc["end_positions"], enc[OFFSETS] = starts, ends, offsets_out
        if SOURCE_ROW in batch:
            enc[SOURCE_ROW] = rows  # each window keeps its question's line (the X-ray, the evaluation)
        return enc

    def collator(self, tokenizer: Any, spec: Any) -> Any:
        return QACollator(tokenizer)

    def eval_outputs(self, output: Any) -> tuple[Any, Any]:
        return output.start_logits, output.end_logits

    def score_outputs(self, outputs: list[Any], prep: Any) -> dict[str, float]:
        """SQuAD scores of the validation questions from every window's (start, end) logits, in the order of
        prep.eval; `outputs` holds one (start, end) pair of arrays per batch."""
        import numpy as np

        features, raw = prep.eval, prep.eval_raw
        if features is None or raw is None or not outputs:
            return {}
        start_rows = [row for s, _ in outputs for row in np.asarray(s)]
        end_rows = [row for _, e in outputs for row in np.asarray(e)]
        by_line = {line: i for i, line in enumerate(raw[SOURCE_ROW])}
        per_question: dict[int, list[Any]] = collections.defaultdict(list)
        for w, (line, offsets) in enumerate(zip(features[SOURCE_ROW], features[OFFSETS])):
            per_question[by_line[line]].append((start_rows[w], end_rows[w], offsets))
        golds = [gold_answers(cell)["text"] for cell in raw["answers"]]
        allow_null = any(not g for g in golds)
        predictions = [
            self.answer(raw[i]["context"], per_question.get(i, []), allow_null).text for i in range(len(raw))
        ]
        return squad_scores(predictions, golds)

    @staticmethod
    def answer(context: str, windows: list[Any], allow_null: bool) -> Any:
        from tui_hf.core.spans import best_answer

        return best_answer(context, windows, MAX_ANSWER_TOKENS, allow_null)

    def xray_labels(self, batch: Any) -> Any:
        """Per position: the answer's tokens (start to end position) trained towards, the rest -100."""
        import torch

        ids = batch["input_ids"]
        positions = torch.arange(ids.shape[1]).unsqueeze(0)
        start, end = batch["start_positions"].unsqueeze(1), batch["end_positions"].unsqueeze(1)
        return torch.where((positions >= start) & (positions <= end), ids, torch.full_like(ids, -100))

    def predict(
        self, model: Any, tokenizer: Any, rows: Any, labels: list[str], device: Any, spec: Any
    ) -> list[dict[str, Any]]:
        """Each question's answer from its windows against the gold answers."""
        import torch

        golds = [gold_answers(cell)["text"] for cell in rows["answers"]]
        allow_null = any(not g for g in golds)
        out = []
        for n, (question, context) in enumerate(zip(rows["question"], rows["context"])):
            enc = windows(tokenizer, [question], [context], spec.data, [f"row {n + 1}"], padding=True)
            names = [k for k in ("input_ids", "token_type_ids", "attention_mask") if k in enc]
            batch = {k: torch.tensor(enc[k], device=device) for k in names}
            result = model(**batch)
            found = []
            for w, offsets in enumerate(enc["offset_mapping"]):
                sequence = enc.sequence_ids(w)
                found.append(
                    (
                        result.start_logits[w].float().cpu(),
                        result.end_logits[w].float().cpu(),
                        [o if sequence[k] == 1 else None for k, o in enumerate(offsets)],
                    )
                )
            answer = self.answer(context, found, allow_null)
            out.append(
                {
                    "text": clip(question),
                    "gold": clip(" | ".join(golds[n]) or NO_ANSWER),
                    "prediction": clip(answer.text or NO_ANSWER),
                    "confidence": round(float(answer.score), 4),
                }
            )
        return out


FAMILY = QuestionAnswering()
