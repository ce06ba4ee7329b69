"""question-answering on AutoModelForQuestionAnswering, answering as transformers 4.57's pipeline did.

transformers 5 removed the pipeline; users know its answers, so this runner keeps its semantics (checked
against outputs recorded from 4.57.6 in tests/reference/v4_qa.json):

- Question and context are encoded as a pair (question first unless the tokenizer pads on the left) and a
  long context is cut into windows of `max_seq_len` tokens (default: the tokenizer's limit, at most 384)
  overlapping by `doc_stride` tokens (default: half a window, at most 128).
- Per window, start and end logits of tokens that cannot be in the answer (question, special tokens,
  padding) are set to -10000, but the [CLS] token is kept, so it takes part in the softmax; its
  probability is then set to 0 so that it is never picked. With `handle_impossible_answer`, the null
  answer ("", 0, 0) competes with the score P_start(CLS) * P_end(CLS), the smallest over the windows.
  A tokenizer that pads on the left puts the context first, and then v4 masked only padding: kept as is.
- A span scores P_start(s) * P_end(e) with s <= e < s + max_answer_len. Each window proposes its best
  `top_k` spans (2 * top_k + 10 when aligning to words, since alignment merges some); a span becomes
  characters through the window's own offsets, widened to whole words with `align_to_words` (the words
  as the window holds them). Proposals with the same text (case-insensitive) are one answer whose score
  is the sum; all windows' answers are ranked together and the best `top_k` kept.
v4's `max_question_len` only applied to slow (Python) tokenizers, which cannot give offsets; it is not a
setting here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.spans import (  # the span post-processing, shared with the question-answering finetune
    MASKED,
    Answer,
    best_spans,
    candidate_mask,
    probabilities,
    rank,
    span_chars,
)
from tui_hf.core.spans import Pick as _Pick
from tui_hf.core.tasks.base import Task
from tui_hf.core.tasks.common import Emit, Explanation, Step, check_cancel, tensor_text

MAX_SEQ_LEN = 384  # v4's cap on a window, whatever the tokenizer allows
MAX_STRIDE = 128
BATCH = 16  # windows per forward pass: a batch is faster than one by one, and cancel lands between batches


@dataclass
class QAResult:
    question: str
    context: str
    answers: list[Answer]
    windows: int
    warnings: list[str]
    explanation: Explanation | None = None  # under the hood, when asked for


@dataclass
class Settings:
    top_k: int
    max_answer_len: int
    max_seq_len: int
    doc_stride: int
    handle_impossible_answer: bool
    align_to_words: bool
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Question:
    """What preprocess hands on: the pair encoded in windows."""

    question: str
    context: str
    cfg: Settings
    question_first: bool
    enc: Any  # the tokenizer's windows (overflowing tokens), with offsets


@dataclass
class _Logits:
    """What forward hands on: each window's logits over its own tokens, and the spans they propose."""

    starts: list[Any]
    ends: list[Any]
    proposals: list[tuple[_Pick, int, int]]  # (pick, start char, end char), in v4's order
    null: float  # the smallest no-answer score over the windows


class QuestionAnswering(Task[_Question, _Logits, QAResult]):
    """Windows of the context, each window's best spans, all windows' answers ranked together (v4's rules)."""

    name = "question-answering"

    def preprocess(self, loaded: LoadedModel, texts: list[str], options: dict[str, Any]) -> _Question:
        question = " ".join(t.strip() for t in texts if t.strip())
        context = str(options.get("context") or "")
        if not question:
            raise TaskInputError("type a question")
        if not context.strip():
            raise TaskInputError("fill in the Context: the passage that holds the answer")
        tok = loaded.tokenizer
        if not getattr(tok, "is_fast", False):
            raise TaskInputError("question answering needs a fast tokenizer (one with tokenizer.json) for offsets")
        cfg = settings(options, tok, loaded.info.max_positions)
        question_first = tok.padding_side != "left"
        return _Question(question, context, cfg, question_first, encode(tok, question, context, cfg, question_first))

    def forward(
        self,
        loaded: LoadedModel,
        prepared: _Question,
        cancel: threading.Event | None,
        emit: Emit | None,
        keep: bool,
    ) -> _Logits:
        import torch

        tok, model, enc, cfg = loaded.tokenizer, loaded.model, prepared.enc, prepared.cfg
        windows = len(enc["input_ids"])
        names = [k for k in tok.model_input_names if k in enc]
        cls_id = tok.cls_token_id
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        found = _Logits([], [], [], 1_000_000.0)  # v4's starting point for null: any real null score is smaller
        forward_kwargs = {"use_cache": False} if _takes(model, "use_cache") else {}
        for lo in range(0, windows, BATCH):
            check_cancel(cancel)
            rows = range(lo, min(lo + BATCH, windows))
            batch = _batch(enc, names, rows, pad_id, model.device)
            with torch.inference_mode():
                out = model(**batch, **forward_kwargs)
            for i, w in enumerate(rows):
                n = len(enc["input_ids"][w])
                found.starts.append(out.start_logits[i, :n].float().cpu())
                found.ends.append(out.end_logits[i, :n].float().cpu())
            for w in rows:
                allowed = candidate_mask(enc, w, prepared.question_first, cls_id)
                p_start, p_end, (cls_start, cls_end) = probabilities(found.starts[w], found.ends[w], allowed)
                found.null = min(found.null, cls_start * cls_end)
                for s, e, score in best_spans(p_start, p_end, allowed, cfg):
                    sequence = 1 if prepared.question_first else 0
                    chars = span_chars(enc.encodings[w], s, e, sequence, cfg.align_to_words)
                    found.proposals.append((_Pick(w, s, e, score), *chars))
        return found

    def postprocess(self, loaded: LoadedModel, prepared: _Question, forwarded: _Logits) -> QAResult:
        answers = [a for a, _ in self._ranked(prepared, forwarded)[: prepared.cfg.top_k]]
        windows = len(prepared.enc["input_ids"])
        warnings = list(loaded.info.warnings) + prepared.cfg.warnings
        return QAResult(prepared.question, prepared.context, answers, windows, warnings)

    def explain(self, loaded: LoadedModel, prepared: _Question, forwarded: _Logits, result: QAResult) -> Explanation:
        ranked = self._ranked(prepared, forwarded)
        return explanation(
            loaded.tokenizer,
            prepared.enc,
            forwarded.starts,
            forwarded.ends,
            prepared.question_first,
            prepared.cfg,
            ranked,
            forwarded.null,
        )

    @staticmethod
    def _ranked(prepared: _Question, forwarded: _Logits) -> list[tuple[Answer, _Pick | None]]:
        null = forwarded.null if prepared.cfg.handle_impossible_answer else None
        return rank(prepared.context, forwarded.proposals, null)


run = QuestionAnswering()


def settings(opts: dict[str, Any], tok: Any, max_positions: int | None) -> Settings:
    """The run's settings: the registry's defaults (v4's) for those not given; window and stride by the model."""
    from tui_hf.core.tasks.registry import get_task

    opts = {**get_task("question-answering").defaults(), **{k: v for k, v in opts.items() if v is not None}}
    warnings: list[str] = []

    def integer(name: str) -> int | None:
        value = opts.get(name)
        return None if value is None or value == "" else int(value)

    top_k = integer("top_k") or 0
    max_answer_len = integer("max_answer_len") or 0
    if top_k < 1:
        raise TaskInputError(f"top_k must be at least 1 (got {top_k})")
    if max_answer_len < 1:
        raise TaskInputError(f"max_answer_len must be at least 1 (got {max_answer_len})")
    tokenizer_limit = tok.model_max_length if tok.model_max_length and tok.model_max_length < 1_000_000 else None
    max_seq_len = integer("max_seq_len") or min(tokenizer_limit or MAX_SEQ_LEN, MAX_SEQ_LEN)
    # Past the model's positions v4 failed inside the model; a window that fits is the useful reading.
    limit = min(x for x in (tokenizer_limit, max_positions, max_seq_len) if x)
    if max_seq_len > limit:
        warnings.append(f"max_seq_len {max_seq_len} is more than this model takes: windows of {limit} tokens")
        max_seq_len = limit
    doc_stride = integer("doc_stride")
    if doc_stride is None:
        doc_stride = min(max_seq_len // 2, MAX_STRIDE)
    if doc_stride > max_seq_len:
        raise TaskInputError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len})")
    if doc_stride < 0:
        raise TaskInputError(f"doc_stride must be 0 or more (got {doc_stride})")
    return Settings(
        top_k,
        max_answer_len,
        max_seq_len,
        doc_stride,
        bool(opts["handle_impossible_answer"]),
        bool(opts["align_to_words"]),
        warnings,
    )


def encode(tok: Any, question: str, context: str, cfg: Settings, question_first: bool) -> Any:
    """The pair cut into overlapping windows, unpadded (each window keeps its own length and offsets)."""
    room = (
        cfg.max_seq_len
        - tok.num_special_tokens_to_add(pair=True)
        - len(tok(question, add_special_tokens=False)["input_ids"])
    )
    if room < 1:
        raise TaskInputError(
            f"the question leaves no room for the context in a window of {cfg.max_seq_len} "
            "tokens: shorten it or raise max_seq_len"
        )
    # The tokenizer cannot overlap windows by as much as a window holds (it panics); it only cuts windows when
    # the pair is too long, so count the context only then.
    if cfg.doc_stride >= room and room < len(tok(context, add_special_tokens=False)["input_ids"]):
        raise TaskInputError(
            f"doc_stride ({cfg.doc_stride}) must be less than the {room} context tokens a "
            f"window of {cfg.max_seq_len} holds beside this question"
        )
    pair = (question, context) if question_first else (context, question)
    return tok(
        *pair,
        truncation="only_second" if question_first else "only_first",
        max_length=cfg.max_seq_len,
        stride=cfg.doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )


def _takes(model: Any, name: str) -> bool:
    import inspect

    return name in inspect.signature(model.forward).parameters


def _batch(enc: Any, names: list[str], rows: range, pad_id: int, device: Any) -> dict[str, Any]:
    """Windows padded on the right into one tensor per input: the real tokens keep the positions they have
    alone, so their logits are the ones v4 got window by window."""
    import torch

    width = max(len(enc["input_ids"][w]) for w in rows)
    batch = {}
    for name in names:
        fill = pad_id if name == "input_ids" else 0
        t = torch.full((len(rows), width), fill, dtype=torch.long)
        for i, w in enumerate(rows):
            values = enc[name][w]
            t[i, : len(values)] = torch.tensor(values, dtype=torch.long)
        batch[name] = t.to(device)
    return batch


def explanation(
    tok: Any,
    enc: Any,
    starts: list[Any],
    ends: list[Any],
    question_first: bool,
    cfg: Settings,
    ranked: list[tuple[Answer, _Pick | None]],
    null: float,
) -> Explanation:
    """The path by hand for the window that holds the best span, from the run's own logits."""
    import torch

    windows = len(starts)
    best_answer, best = next(((a, p) for a, p in ranked if p is not None), (None, None))
    w = best.window if best is not None else 0
    tokens = enc.tokens(w)
    allowed = candidate_mask(enc, w, question_first, tok.cls_token_id)
    p_start, p_end, first = probabilities(starts[w], ends[w], allowed)
    pair = "question, context" if question_first else "context, question"
    shown = "the one that holds the best span" if best is not None else "no window holds a span"
    steps = [
        Step(
            f'enc = tokenizer({pair}, truncation="only_{"second" if question_first else "first"}", '
            f"max_length={cfg.max_seq_len}, stride={cfg.doc_stride}, return_overflowing_tokens=True, "
            "return_offsets_mapping=True)",
            f"{windows} window{'s' if windows > 1 else ''} of {[len(x) for x in enc['input_ids']]} tokens\n"
            + "\n".join(f"{k}[{w}]: {tensor_text(torch.tensor(enc[k][w]))}" for k in tok.model_input_names if k in enc),
            f"showing window {w} of 0..{windows - 1}, {shown}"
            + ("" if windows == 1 else f"; consecutive windows share {cfg.doc_stride} tokens"),
        )
    ]
    steps.append(
        Step(
            "out = model(**windows)  # start_logits, end_logits: one score per token",
            f"start_logits[{w}]: {tensor_text(starts[w])}\nend_logits[{w}]: {tensor_text(ends[w])}",
            f"windows run {BATCH} at a time, padded on the right; each keeps its own positions ({len(tokens)} here)",
        )
    )
    null_note = f"null score P_start(CLS) * P_end(CLS) = {first[0] * first[1]:.6f} here"
    if cfg.handle_impossible_answer and windows > 1:
        null_note += f", {null:.6f} at the smallest over the windows"
    steps.append(
        Step(
            f"keep = context tokens | [CLS]; p_start = where(keep, start_logits, {MASKED:g}).softmax(-1)  # same for end",
            _token_table(tokens, starts[w], ends[w], allowed, p_start, p_end, first, best),
            f"[CLS] takes part in the normalisation, then its probability is set to 0 so it is never picked; {null_note}",
        )
    )
    top = ranked[0][0] if ranked else None
    if best is None or best_answer is None or top is None:
        steps.append(
            Step(
                "scores = outer(p_start, p_end).triu().tril(max_answer_len - 1)",
                "no span in the context" + (": the answer is empty (null)" if ranked else ""),
                "",
            )
        )
        return Explanation("question-answering by hand", steps)
    s, e = best.start_token, best.end_token
    steps.append(
        Step(
            f"scores = outer(p_start, p_end).triu().tril({cfg.max_answer_len - 1}); s, e = best",
            f"s = {s} ({tokens[s]!r}), e = {e} ({tokens[e]!r}): p_start[s] * p_end[e] = "
            f"{float(p_start[s]):.6f} * {float(p_end[e]):.6f} = {best.score:.6f}",
            f"start <= end, at most {cfg.max_answer_len} tokens",
        )
    )
    encoding = enc.encodings[w]
    offsets = (encoding.offsets[s][0], encoding.offsets[e][1])
    chars = span_chars(encoding, s, e, 1 if question_first else 0, cfg.align_to_words)
    how = (
        f"whole words: enc.word_to_chars(enc.token_to_word(s))[0], ...(e)[1] -> {chars}"
        if cfg.align_to_words
        else "align_to_words off: the offsets as they are"
    )
    value = (
        f"offsets {offsets} -> {how}\ncontext[{best_answer.start}:{best_answer.end}] = {best_answer.text!r}"
        f"  score {best_answer.score:.6f}"
    )
    if top is not best_answer:
        value += f"\nthe null answer wins: its score {top.score:.6f} beats the best span's"
    steps.append(
        Step(
            "start, end = enc.offset_mapping[s][0], enc.offset_mapping[e][1]  # characters in the context",
            value,
            "an answer's score is the sum over every window and span that gave the same text (ignoring case)",
        )
    )
    return Explanation("question-answering by hand", steps)


def _token_table(
    tokens: list[str],
    start_logits: Any,
    end_logits: Any,
    allowed: Any,
    p_start: Any,
    p_end: Any,
    first: tuple[float, float],
    best: _Pick | None,
) -> str:
    """One row per token: logits, whether it may be in the answer, probabilities; long windows are cut to
    [CLS] and the tokens around the chosen span."""
    n = len(tokens)
    if n <= 48:
        shown = list(range(n))
    elif best is None:
        shown = list(range(48))
    else:
        lo, hi = max(1, best.start_token - 12), min(n, best.end_token + 13)
        shown = [0, *range(lo, hi)]
    lines = [f"{'#':>4} {'token':<16} {'start':>8} {'end':>8} {'P(start)':>9} {'P(end)':>9}"]
    previous = -1
    for i in shown:
        if i != previous + 1:
            lines.append(f"{'…':>4} ({i - previous - 1} tokens not shown)")
        previous = i
        mark = ""
        if best is not None and i == best.start_token:
            mark += " <- start"
        if best is not None and i == best.end_token:
            mark += " <- end"
        if i == 0 and bool(allowed[0]):
            lines.append(
                f"{i:>4} {tokens[i][:16]:<16} {float(start_logits[i]):>8.3f} {float(end_logits[i]):>8.3f} "
                f"{first[0]:>9.5f} {first[1]:>9.5f} -> 0 (kept in the softmax, never picked)"
            )
        elif not bool(allowed[i]):
            lines.append(
                f"{i:>4} {tokens[i][:16]:<16} {float(start_logits[i]):>8.3f} {float(end_logits[i]):>8.3f} "
                f"{'masked':>9} {'masked':>9}"
            )
        else:
            lines.append(
                f"{i:>4} {tokens[i][:16]:<16} {float(start_logits[i]):>8.3f} {float(end_logits[i]):>8.3f} "
                f"{float(p_start[i]):>9.5f} {float(p_end[i]):>9.5f}{mark}"
            )
    if previous < n - 1:
        lines.append(f"{'…':>4} ({n - 1 - previous} tokens not shown)")
    return "\n".join(lines)
