"""How probable a given text is under a causal model: one teacher-forced forward pass, each token's
log-probability given the tokens before it, and the perplexity exp(mean negative log-likelihood).

For a chat, the conversation is rendered through the model's template and only the assistant's replies are
scored (the tokens training would supervise), each given everything before it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.generation.trace import Alternative, Branch, Trace, TracedToken, token_texts
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import TRACE_TOP, Explanation, Step, check_cancel, tensor_text

ROWS = 256  # positions turned into probabilities at a time: a long text times a large vocabulary is gigabytes


@dataclass
class TurnScore:
    """One assistant reply of a scored chat."""

    message: int  # its index in the conversation
    content: str
    tokens: int
    nll: float
    perplexity: float


@dataclass
class ScoreResult:
    text: str  # what the model read: the text, or the rendered conversation
    trace: Trace  # every token; context tokens (not scored) have no probability
    tokens: int  # tokens scored
    nll: float  # mean negative log-likelihood per scored token, in nats
    perplexity: float  # exp(nll)
    total_logprob: float  # sum of the scored tokens' log-probabilities
    turns: list[TurnScore] = field(default_factory=list)  # a chat: each assistant reply on its own
    warnings: list[str] = field(default_factory=list)
    # A chat: the conversation as it was before scoring (scoring adds nothing to it).
    history: list[dict[str, str]] = field(default_factory=list)
    explanation: Explanation | None = None


def _forward(loaded: LoadedModel, ids: list[int], cancel: threading.Event | None) -> Any:
    import torch

    limit = loaded.info.max_positions
    if limit and len(ids) > limit:
        raise TaskInputError(f"the text is {len(ids)} tokens and this model reads at most {limit}: shorten it")
    check_cancel(cancel)
    inputs = torch.tensor([ids], device=loaded.model.device)
    with torch.inference_mode():
        logits = loaded.model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).logits[0]
    check_cancel(cancel)
    return logits


def score_ids(
    loaded: LoadedModel, ids: list[int], scored: list[bool], cancel: threading.Event | None = None, top: int = TRACE_TOP
) -> tuple[list[TracedToken], Any]:
    """Every token of `ids` with, where `scored` says so, its probability given the tokens before it, its rank
    and the top alternatives at that position. The first token has nothing before it and is never scored.
    Returns the tokens and the logits (for "under the hood")."""
    import torch

    tok = loaded.tokenizer
    logits = _forward(loaded, ids, cancel)
    targets = torch.tensor(ids[1:], device=logits.device)
    probability: list[float | None] = [None] * len(ids)
    ranks = [0] * len(ids)
    tops: list[list[tuple[int, float]]] = [[] for _ in ids]
    for start in range(0, len(ids) - 1, ROWS):  # position p predicts token p + 1
        rows = logits[start : min(start + ROWS, len(ids) - 1)].float().log_softmax(-1)
        target = targets[start : start + ROWS]
        chosen = rows.gather(-1, target[:, None])[:, 0]
        rank = (rows > chosen[:, None]).sum(-1) + 1
        values, alt = rows.topk(min(top, rows.shape[-1]), dim=-1)
        for k, (lp, r, v, a) in enumerate(zip(chosen.tolist(), rank.tolist(), values.exp().tolist(), alt.tolist())):
            at = start + k + 1
            if scored[at]:
                probability[at], ranks[at], tops[at] = math.exp(lp), r, list(zip(a, v))
    vocab = tok.convert_ids_to_tokens(ids + [i for t in tops for i, _p in t])
    texts = token_texts(tok, ids)
    special = set(getattr(tok, "all_special_ids", []) or [])
    tokens, at = [], len(ids)
    for k, token_id in enumerate(ids):
        alternatives = [Alternative(i, vocab[at + n], p) for n, (i, p) in enumerate(tops[k])]
        at += len(tops[k])
        tokens.append(
            TracedToken(token_id, vocab[k], texts[k], probability[k], ranks[k], alternatives, token_id in special)
        )
    return tokens, logits


def _summary(tokens: list[TracedToken]) -> tuple[int, float, float, float]:
    logprobs = [t.logprob for t in tokens if t.logprob is not None]
    if not logprobs:
        return 0, math.nan, math.nan, 0.0
    total = sum(logprobs)
    nll = -total / len(logprobs)
    return len(logprobs), nll, math.exp(nll) if nll < 700 else math.inf, total


def _trace(loaded: LoadedModel, tokens: list[TracedToken], options: dict[str, Any], task: str) -> Trace:
    from tui_hf.core.generation.trace import remember

    # A fork from a scored position generates up to the scored text's length.
    return Trace(
        "",
        [],
        [Branch(0, None, 0, tokens, "scored")],
        0,
        dict(options),
        task,
        len(tokens),
        remember(loaded),
        loaded.info.title,
    )


def score_text(
    loaded: LoadedModel,
    text: str,
    options: dict[str, Any] | None = None,
    cancel: threading.Event | None = None,
    *,
    explain: bool = False,
    top: int = TRACE_TOP,
) -> ScoreResult:
    """Teacher-forced log-probabilities of `text` as the model reads it (with the special tokens its tokenizer
    adds, e.g. a BOS that lets the first word be scored too); `top` alternatives are kept per position."""
    tok = loaded.tokenizer
    if not text.strip():
        raise TaskInputError("type the text to score")
    ids = list(tok(text)["input_ids"])
    if len(ids) < 2:
        raise TaskInputError("the text is a single token: nothing in it is predicted from what comes before")
    tokens, logits = score_ids(loaded, ids, [False] + [True] * (len(ids) - 1), cancel, top)
    count, nll, ppl, total = _summary(tokens)
    result = ScoreResult(
        text,
        _trace(loaded, tokens, options or {}, "text-generation"),
        count,
        nll,
        ppl,
        total,
        warnings=list(loaded.info.warnings),
    )
    if explain:
        result.explanation = explain_score(
            loaded, ids, logits, tokens, "scoring by hand", 'inputs = tokenizer(text, return_tensors="pt")'
        )
    return result


def score_chat(
    loaded: LoadedModel,
    messages: list[dict[str, str]],
    options: dict[str, Any] | None = None,
    cancel: threading.Event | None = None,
    *,
    explain: bool = False,
    history: list[dict[str, str]] | None = None,
) -> ScoreResult:
    """Teacher-forced log-probabilities of each assistant reply in `messages`, rendered through the model's
    chat template: the tokens the template marks with {% generation %} blocks where it has them, else each
    reply's own stretch of the rendered text (its content and the template's end-of-turn marks)."""
    from tui_hf.core.chat_template import assistant_spans, render

    if not any(m["role"] == "assistant" for m in messages):
        raise TaskInputError("no reply to score: a chat is scored on the assistant's turns")
    view = render(loaded.tokenizer, messages, add_generation_prompt=False)
    if not view.available:
        raise TaskInputError(view.reason)
    assert view.breakdown is not None
    seq = view.breakdown.sequences[0]
    ids = list(seq.ids)
    spans = assistant_spans(loaded.tokenizer, messages, view.text)
    if view.assistant_mask is not None:
        scored = [bool(m) for m in view.assistant_mask]
    elif seq.offsets is None:
        raise TaskInputError(
            "scoring a chat needs a fast tokenizer (its character offsets find the replies) or "
            "a chat template that marks them with {% generation %}"
        )
    else:
        scored = [any(s < b and a < e for a, b in spans.values()) for s, e in seq.offsets]
    scored[0] = False
    tokens, logits = score_ids(loaded, ids, scored, cancel)
    count, nll, ppl, total = _summary(tokens)
    turns = _turns(messages, spans, seq.offsets or [], tokens)
    result = ScoreResult(
        view.text,
        _trace(loaded, tokens, options or {}, "conversational"),
        count,
        nll,
        ppl,
        total,
        turns,
        list(loaded.info.warnings) + view.warnings,
        list(history or []),
    )
    if explain:
        result.explanation = explain_score(
            loaded,
            ids,
            logits,
            tokens,
            "scoring a chat by hand",
            "inputs = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True,"
            ' return_tensors="pt")',
        )
    return result


def _turns(
    messages: list[dict[str, str]],
    spans: dict[int, tuple[int, int]],
    offsets: list[tuple[int, int]],
    tokens: list[TracedToken],
) -> list[TurnScore]:
    out = []
    for index, (a, b) in spans.items():
        mine = [t for t, (s, e) in zip(tokens, offsets) if s < b and a < e and t.logprob is not None]
        count, nll, ppl, _total = _summary(mine)
        out.append(TurnScore(index, messages[index]["content"], count, nll, ppl))
    return out


def explain_score(
    loaded: LoadedModel, ids: list[int], logits: Any, tokens: list[TracedToken], title: str, first: str
) -> Explanation:
    import torch

    count, nll, ppl, _total = _summary(tokens)
    rows = []
    for k, t in enumerate(tokens[:40]):
        lp = "  (context)" if t.logprob is None else f"  log p={t.logprob:+.3f}  p={t.probability:.3f}  rank {t.rank}"
        rows.append(f"{k:>3} {t.token!r:<16}{lp}")
    if len(tokens) > 40:
        rows.append(f"... {len(tokens) - 40} more tokens")
    return Explanation(
        title,
        [
            Step(first, f"input_ids: {tensor_text(torch.tensor([ids]))}"),
            Step(
                "logits = model(**inputs).logits  # one row per position: position p predicts token p + 1",
                f"{tuple(logits.shape)} for {len(ids)} tokens",
            ),
            Step(
                "log_probs = logits[0, :-1].log_softmax(-1).gather(-1, input_ids[0, 1:, None])[:, 0]",
                "\n".join(rows),
                "teacher forcing: every position sees the real tokens before it, in one pass",
            ),
            Step(
                "nll = -log_probs[scored].mean(); perplexity = nll.exp()",
                f"{count} tokens scored · mean NLL {nll:.4f} nats · perplexity {ppl:.4f}",
            ),
        ],
    )
