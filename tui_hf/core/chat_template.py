"""A conversation as the model reads it: rendered through the tokenizer's chat template, its tokens, which of
them training would supervise, and what is wrong with the result.

Every check is made on what the template and the tokenizer produce for this conversation (its rendered text,
its ids with and without the tokenizer's own special tokens), never on the template's source text, except
for the `{% generation %}` tag that transformers itself looks for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tui_hf.core.tokens import TokenBreakdown, TokenizeSettings, breakdown

# The tag transformers' apply_chat_template looks for before it builds an assistant mask.
GENERATION_BLOCK = re.compile(r"\{%-?\s*generation\s*-?%\}")


@dataclass
class TemplateView:
    available: bool
    reason: str = ""  # why there is nothing to show (no template, no conversation, the template refused it)
    messages: list[dict[str, str]] = field(default_factory=list)
    text: str = ""  # the rendered conversation, special tokens as text
    add_generation_prompt: bool = False  # asked for: the conversation ends with the user's turn
    generation_prompt: str = ""  # what that added to the text ('' when it added nothing)
    # The rendered text's tokens as apply_chat_template(tokenize=True) makes them: the template writes the
    # special tokens, the tokenizer adds none of its own.
    breakdown: TokenBreakdown | None = None
    marks_generation: bool = False  # the template has {% generation %} blocks
    assistant_mask: list[int] | None = None  # 1 for each token training on replies only would supervise
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def supervised(self) -> int:
        return sum(self.assistant_mask or [])


def has_template(tok: Any) -> bool:
    return bool(getattr(tok, "chat_template", None))


def template_source(tok: Any) -> str:
    template = getattr(tok, "chat_template", None)
    if isinstance(template, dict):  # several named templates: the default one is what chat uses
        template = template.get("default") or next(iter(template.values()), "")
    return str(template or "")


def _render(tok: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    return str(tok.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False))


def render(tok: Any, messages: list[dict[str, str]], add_generation_prompt: bool | None = None) -> TemplateView:
    """`messages` through the tokenizer's template. By default the generation prompt is asked for when the
    conversation ends with the user's turn (what chat does before the model replies)."""
    if not has_template(tok):
        return TemplateView(
            False,
            f"{_name(tok)} has no chat template (its tokenizer_config.json sets no "
            "chat_template): chat models ship one, base models usually do not",
        )
    if not messages:
        return TemplateView(False, "no conversation yet: type a message")
    ask = messages[-1]["role"] == "user" if add_generation_prompt is None else add_generation_prompt
    try:
        text = _render(tok, messages, ask)
        plain = _render(tok, messages, False) if ask else text
    except Exception as exc:  # the template's own checks (raise_exception), e.g. roles that must alternate
        return TemplateView(False, f"the chat template refused this conversation: {exc}", list(messages))
    view = TemplateView(True, "", list(messages), text, ask)
    view.breakdown = breakdown(tok, [text], TokenizeSettings(add_special_tokens=False, padding="do_not_pad"))
    if ask:
        view.generation_prompt = text[len(plain) :] if text.startswith(plain) else ""
        if text == plain:
            view.warnings.append(
                "no generation prompt: the template adds nothing for add_generation_prompt=True, "
                "so nothing tells the model that the assistant's turn begins; it may go on "
                "with the user's message instead of answering"
            )
    view.warnings += _doubled(tok, text, view.breakdown.sequences[0].ids)
    view.marks_generation = bool(GENERATION_BLOCK.search(template_source(tok)))
    if view.marks_generation:
        enc = tok.apply_chat_template(
            messages, add_generation_prompt=ask, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        mask = list(enc["assistant_masks"])
        if len(mask) == len(view.breakdown.sequences[0].ids):
            view.assistant_mask = mask
        if not any(m["role"] == "assistant" for m in messages):
            view.notes.append("no assistant turn yet: nothing would be supervised")
    else:
        view.notes.append(
            "the template marks no {% generation %} blocks, so return_assistant_tokens_mask "
            "gives all zeros: training on the replies only (e.g. TRL's assistant_only_loss) "
            "needs a template that marks them"
        )
    return view


def _doubled(tok: Any, text: str, ids: list[int]) -> list[str]:
    """A BOS (or EOS) that the template writes and the tokenizer adds again when the rendered text is encoded
    with tokenizer(text), i.e. with its special tokens, as many training scripts do."""
    if not ids:
        return []
    added = list(tok(text)["input_ids"])
    out = []
    bos, eos = tok.bos_token_id, tok.eos_token_id
    if bos is not None and ids[0] == bos and added[:2] == [bos, bos]:
        out.append(
            f"doubled BOS: the template writes {tok.bos_token} and the tokenizer adds another when the "
            f"rendered text is encoded with tokenizer(text), so the model would read two {tok.bos_token} "
            "at the start; encode it with add_special_tokens=False (apply_chat_template(tokenize=True) "
            "does)"
        )
    if eos is not None and eos != bos and ids[-1] == eos and added[-2:] == [eos, eos]:
        out.append(
            f"doubled EOS: the template ends with {tok.eos_token} and tokenizer(text) appends another; "
            "encode the rendered text with add_special_tokens=False"
        )
    return out


def assistant_spans(tok: Any, messages: list[dict[str, str]], text: str) -> dict[int, tuple[int, int]]:
    """Where each assistant reply is in `text` (the rendered conversation), by its index in `messages`: from
    the end of the template's prompt for it to the end of its turn (the end-of-turn marks the model learns to
    write are included). A reply that cannot be found is left out.

    Found by rendering the conversation up to each reply, with and without it; where a template renders
    earlier turns differently once later ones follow (some drop the reasoning of old replies), the reply's own
    content is looked for instead."""
    spans: dict[int, tuple[int, int]] = {}
    searched = 0
    for k, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        try:
            before = _render(tok, messages[:k], True) if k else ""
            upto = _render(tok, messages[: k + 1], False)
        except Exception:
            before = upto = ""
        if upto and text.startswith(upto) and upto.startswith(before) and len(before) >= searched:
            spans[k] = (len(before), len(upto))
            searched = len(upto)
            continue
        at = text.find(m["content"], searched)
        if at < 0:
            continue
        spans[k] = (at, at + len(m["content"]))
        searched = at + len(m["content"])
    return spans


def _name(tok: Any) -> str:
    from tui_hf.core.tokens import tokenizer_name

    return tokenizer_name(tok)
