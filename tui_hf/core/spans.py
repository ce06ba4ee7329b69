"""Extractive answers from start and end logits: one implementation for the app's question answering and
for scoring a question-answering finetune (core/tasks/qa.py and core/training/families import it; neither
may import the other).

The semantics are transformers 4.57's question-answering pipeline (see core/tasks/qa.py, which is checked
against its recorded outputs): per window, start and end logits of tokens that cannot be in the answer are
set to MASKED but [CLS] is kept in the softmax and then zeroed; a span scores P_start(s) * P_end(e) with
s <= e < s + max_answer_len; spans become characters through the window's offsets; the same text found in
several windows is one answer whose score is the sum; the null answer competes with the smallest
P_start(CLS) * P_end(CLS) over the windows when unanswerable questions are allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MASKED = -10000.0  # the logit v4 gave to tokens that cannot be in the answer


class SpanSettings(Protocol):
    top_k: int
    max_answer_len: int
    align_to_words: bool


@dataclass
class Answer:
    text: str
    score: float
    start: int  # character span in the context
    end: int


@dataclass
class Pick:
    """One window's proposal, kept for "under the hood"."""

    window: int
    start_token: int
    end_token: int
    score: float


def candidate_mask(enc: Any, window: int, question_first: bool, cls_id: int | None) -> Any:
    """Tokens that may start or end an answer: the context's, and [CLS] (the null answer's token)."""
    import torch

    if question_first:
        allowed = torch.tensor([sid == 1 for sid in enc.sequence_ids(window)])
    else:
        allowed = torch.ones(len(enc["input_ids"][window]), dtype=torch.bool)
    if cls_id is not None:
        allowed |= torch.tensor(enc["input_ids"][window]) == cls_id
    if "attention_mask" in enc:
        allowed &= torch.tensor(enc["attention_mask"][window], dtype=torch.bool)
    return allowed


def probabilities(start_logits: Any, end_logits: Any, allowed: Any) -> tuple[Any, Any, tuple[float, float]]:
    """Start and end probabilities over the allowed tokens, [CLS] included in the normalisation then zeroed;
    and the first token's two probabilities before zeroing (their product is the window's null score)."""
    import torch

    masked = torch.tensor(MASKED)
    p_start = torch.where(allowed, start_logits, masked).softmax(-1)
    p_end = torch.where(allowed, end_logits, masked).softmax(-1)
    first = (float(p_start[0]), float(p_end[0]))
    p_start[0] = p_end[0] = 0.0
    return p_start, p_end, first


def best_spans(p_start: Any, p_end: Any, allowed: Any, cfg: SpanSettings) -> list[tuple[int, int, float]]:
    """The window's best spans (start <= end, at most max_answer_len tokens), best first."""
    import torch

    scores = torch.outer(p_start, p_end).triu().tril(cfg.max_answer_len - 1).flatten()
    wanted = cfg.top_k * 2 + 10 if cfg.align_to_words else cfg.top_k
    if wanted == 1:
        indices = [int(scores.argmax())]  # the first of equal best, as v4's argmax
    else:
        indices = torch.topk(scores, min(wanted, scores.numel())).indices.tolist()
    n = p_start.shape[0]
    # v4 filtered the proposals against a mask whose first position always passed (a quirk of its array
    # shapes); it only lets zero-score spans through, kept for the same ranking.
    ok = allowed.clone()
    ok[0] = True
    spans = []
    for index in indices:
        s, e = divmod(index, n)
        if ok[s] and ok[e]:
            spans.append((s, e, float(scores[index])))
    return spans


def span_chars(encoding: Any, s: int, e: int, sequence: int, align_to_words: bool) -> tuple[int, int]:
    """Token span -> character span in the context, through this window's own offsets and words."""
    if align_to_words:
        start_word, end_word = encoding.token_to_word(s), encoding.token_to_word(e)
        first = encoding.word_to_chars(start_word, sequence) if start_word is not None else None
        last = encoding.word_to_chars(end_word, sequence) if end_word is not None else None
        if first is not None and last is not None:
            return first[0], last[1]
        # special tokens have no word: v4 fell back to the offsets
    return encoding.offsets[s][0], encoding.offsets[e][1]


def rank(context: str, proposals: list[tuple[Pick, int, int]], null: float | None) -> list[tuple[Answer, Pick | None]]:
    """All windows' proposals as answers (same text, ignoring case, summed), best first, each with the pick
    that found it first; the null answer (no pick) among them when it takes part."""
    answers: list[Answer] = []
    first_pick: list[Pick] = []
    by_text: dict[str, int] = {}
    for pick, start, end in proposals:
        text = context[start:end]
        key = text.lower()
        if key in by_text:
            answers[by_text[key]].score += pick.score
        else:
            by_text[key] = len(answers)
            answers.append(Answer(text, pick.score, start, end))
            first_pick.append(pick)
    pairs: list[tuple[Answer, Pick | None]] = list(zip(answers, first_pick))
    if null is not None:
        pairs.append((Answer("", null, 0, 0), None))
    pairs.sort(key=lambda ap: -ap[0].score)  # stable: equal scores keep the order they were found in
    return pairs


@dataclass
class Spans:
    """The settings a finetune's evaluation scores with: the best answer, offsets as they are (run_qa.py)."""

    max_answer_len: int = 30
    top_k: int = 1
    align_to_words: bool = False


class _Offsets:
    """A window's offsets in the shape span_chars reads (a tokenizers Encoding's .offsets)."""

    def __init__(self, offsets: Sequence[Any]) -> None:
        self.offsets = [tuple(o) if o is not None else (0, 0) for o in offsets]


def best_answer(
    context: str,
    windows: Sequence[tuple[Any, Any, Sequence[Any]]],
    max_answer_len: int = 30,
    allow_null: bool = False,
) -> Answer:
    """The answer to one question from its windows' (start logits, end logits, offsets), where an offset is
    None for a token outside the context; a window's first token is its [CLS]. Longer logits (padding) are
    cut to the window's offsets. Without a span in any window the answer is empty."""
    import torch

    cfg = Spans(max_answer_len=max_answer_len)
    proposals: list[tuple[Pick, int, int]] = []
    null = 1_000_000.0  # v4's starting point: any real null score is smaller
    for w, (start_logits, end_logits, offsets) in enumerate(windows):
        n = len(offsets)
        starts = torch.as_tensor(start_logits[:n], dtype=torch.float32)
        ends = torch.as_tensor(end_logits[:n], dtype=torch.float32)
        allowed = torch.tensor([o is not None for o in offsets])
        allowed[0] = True  # [CLS]: in the softmax, never picked
        p_start, p_end, (cls_start, cls_end) = probabilities(starts, ends, allowed)
        null = min(null, cls_start * cls_end)
        encoding = _Offsets(offsets)
        for s, e, score in best_spans(p_start, p_end, allowed, cfg):
            if offsets[s] is None or offsets[e] is None:
                continue  # a zero-score pick outside the context (see best_spans)
            proposals.append((Pick(w, s, e, score), *span_chars(encoding, s, e, 1, False)))
    ranked = rank(context, proposals, null if allow_null else None)
    return ranked[0][0] if ranked else Answer("", 0.0, 0, 0)
