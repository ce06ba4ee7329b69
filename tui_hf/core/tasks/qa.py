"""question-answering on AutoModelForQuestionAnswering (transformers 5 removed its pipeline).

Follows what the transformers 4 pipeline did, since that is what users know: question and context are
encoded as a pair, a long context is cut into overlapping windows (max_seq_len 384, doc_stride), start and
end logits outside the context are masked, softmax-normalised per window, and the best spans with
start <= end and at most max_answer_len tokens are mapped back to characters through the offsets.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import Emit, Explanation, check_cancel

MAX_SEQ_LEN = 384


@dataclass
class Answer:
    text: str
    score: float
    start: int  # character span in the context
    end: int


@dataclass
class QAResult:
    question: str
    context: str
    answers: list[Answer]
    windows: int
    warnings: list[str]
    explanation: Explanation | None = None  # under the hood, when asked for


def run(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
        cancel: threading.Event | None = None, emit: Emit | None = None, *,
        explain: bool = False) -> QAResult:
    import torch

    opts = {"context": "", "top_k": 1, "doc_stride": 128, "max_answer_len": 15, **(options or {})}
    question = " ".join(t.strip() for t in texts if t.strip())
    context = str(opts["context"])
    if not question:
        raise TaskInputError("type a question")
    if not context.strip():
        raise TaskInputError("fill in the Context: the passage that holds the answer")
    top_k, max_answer_len = max(int(opts["top_k"]), 1), max(int(opts["max_answer_len"]), 1)
    tok, model = loaded.tokenizer, loaded.model
    if not getattr(tok, "is_fast", False):
        raise TaskInputError("question answering needs a fast tokenizer (one with tokenizer.json) for offsets")
    max_len = min(MAX_SEQ_LEN, loaded.info.max_positions or MAX_SEQ_LEN, tok.model_max_length or MAX_SEQ_LEN)
    stride = min(int(opts["doc_stride"]), max_len // 2)
    question_first = tok.padding_side == "right"
    pair = (question, context) if question_first else (context, question)
    context_id = 1 if question_first else 0
    try:
        enc = tok(*pair, truncation="only_second" if question_first else "only_first", max_length=max_len,
                  stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True, padding=True,
                  return_tensors="pt")
    except Exception as exc:  # the tokenizer refuses when the question leaves no room for the context
        raise TaskInputError(f"the question is too long for this model's {max_len} tokens: {exc}") from exc
    offsets = enc.pop("offset_mapping")
    enc.pop("overflow_to_sample_mapping", None)
    model_inputs = {k: v.to(model.device) for k, v in enc.items() if k in ("input_ids", "attention_mask",
                                                                          "token_type_ids")}
    windows = model_inputs["input_ids"].shape[0]
    starts, ends = [], []
    with torch.inference_mode():
        for i in range(0, windows, 16):  # a very long context: many windows, in chunks so cancel can land
            check_cancel(cancel)
            out = model(**{k: v[i:i + 16] for k, v in model_inputs.items()})
            starts.append(out.start_logits.float().cpu())
            ends.append(out.end_logits.float().cpu())
    start_logits, end_logits = torch.cat(starts), torch.cat(ends)
    candidates: dict[tuple[int, int], float] = {}
    for w in range(windows):
        in_context = torch.tensor([sid == context_id for sid in enc.sequence_ids(w)])
        in_context &= enc["attention_mask"][w].bool()
        start = torch.where(in_context, start_logits[w], torch.tensor(-10000.0)).softmax(-1)
        end = torch.where(in_context, end_logits[w], torch.tensor(-10000.0)).softmax(-1)
        scores = torch.triu(start[:, None] * end[None, :])  # start <= end
        scores = torch.tril(scores, diagonal=max_answer_len - 1)  # at most max_answer_len tokens
        flat = scores.flatten()
        best = torch.topk(flat, min(top_k * 2, flat.numel()))
        n = scores.shape[1]
        for score, index in zip(best.values.tolist(), best.indices.tolist()):
            s, e = divmod(index, n)
            if not (in_context[s] and in_context[e]):
                continue
            span = (int(offsets[w][s][0]), int(offsets[w][e][1]))
            candidates[span] = max(score, candidates.get(span, 0.0))
    ranked = sorted(candidates.items(), key=lambda kv: -kv[1])[:top_k]
    answers = [Answer(context[s:e], score, s, e) for (s, e), score in ranked]
    return QAResult(question, context, answers, windows, list(loaded.info.warnings))
