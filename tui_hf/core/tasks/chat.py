"""conversational: chat over the model's own chat template (the v4 pipeline was removed in 4.42).

The history is plain data the caller keeps and passes back (options["history"]), so the core stays
stateless and a chat can be saved, replayed or reset by whoever holds it. The reply is recorded token by
token (core/generation/trace.py). With `score`, the conversation's replies are scored instead of a new one written
(core/generation/scoring.py); with `second_model`, another model answers the same conversation beside this one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.generation.scoring import ScoreResult
from tui_hf.core.generation.settings import fit_to_context, generation_settings
from tui_hf.core.generation.trace import Trace
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import (
    Emit,
    Explanation,
    Step,
    StepRecorder,
    cancel_criteria,
    check_cancel,
    fit_inputs,
    tensor_text,
)
from tui_hf.core.tasks.defaults import shown
from tui_hf.core.tasks.generation import Generating, Prompt, Written, opening, partial_text


@dataclass
class ChatMessage:
    role: str
    content: str


@dataclass
class ChatResult:
    messages: list[ChatMessage]  # the whole conversation, the new reply last
    done: bool = True
    prompt_tokens: int = 0
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # the generation values used
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where its value came from
    trace: Trace | None = None  # the reply token by token
    model: str = ""  # which model replied
    beside: ChatResult | None = None  # a second model's reply to the same conversation
    explanation: Explanation | None = None  # under the hood, when asked for

    @property
    def history(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]


def conversation(history: list[dict[str, str]], system: str, texts: list[str], score: bool) -> list[dict[str, str]]:
    """The messages a run sends: the system prompt (unless the history has one), the history, then the new text.

    Chatting, the texts are one message from the user. Scoring, each text is a turn of its own, the roles
    alternating from the one after the history's last (`"Hi" "Hello!"` is a question and its reply)."""
    messages = [dict(m) for m in history]
    if system and not any(m["role"] == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": system})
    if not score:
        text = "\n".join(texts).strip()
        return messages + ([{"role": "user", "content": text}] if text else [])
    role = "assistant" if messages and messages[-1]["role"] == "user" else "user"
    for text in (t.strip() for t in texts):
        if text:
            messages.append({"role": role, "content": text})
            role = "user" if role == "assistant" else "assistant"
    return messages


class Chat(Generating[ChatResult | ScoreResult]):
    """A reply to the conversation, or its replies scored."""

    name, title = "conversational", "chat by hand"

    def preprocess(self, loaded: LoadedModel, texts: list[str], options: dict[str, Any]) -> Prompt:
        opts, score, second = opening(options, {"system": "", "history": []})
        history = [dict(m) for m in opts.pop("history") or []]
        if not getattr(loaded.tokenizer, "chat_template", None):
            raise TaskInputError(
                f"{loaded.info.title} has no chat template, so it cannot chat; pick an instruct/chat "
                "model such as HuggingFaceTB/SmolLM3-3B"
            )
        messages = conversation(history, str(opts["system"] or ""), texts, score)
        if not score and (not messages or messages[-1]["role"] != "user"):
            raise TaskInputError("type a message")
        return Prompt((history, messages), opts, score, second)

    def score(self, loaded: LoadedModel, prepared: Prompt, cancel: threading.Event | None, keep: bool) -> ScoreResult:
        from tui_hf.core.generation.scoring import score_chat

        history, messages = prepared.input
        return score_chat(loaded, messages, prepared.opts, cancel, explain=keep, history=history)

    def write(
        self, loaded: LoadedModel, prepared: Prompt, cancel: threading.Event | None, emit: Emit | None, keep: bool
    ) -> Written:
        return reply(loaded, prepared.input[1], prepared.opts, cancel, emit, keep=keep)

    def written_text(self, result: ChatResult) -> str:
        return result.messages[-1].content

    def postprocess(self, loaded: LoadedModel, prepared: Prompt, forwarded: Written) -> ChatResult | ScoreResult:
        return forwarded.result  # type: ignore[no-any-return]


run = Chat()


def reply(
    loaded: LoadedModel,
    history: list[dict[str, str]],
    opts: dict[str, Any],
    cancel: threading.Event | None = None,
    emit: Emit | None = None,
    *,
    keep: bool = False,
) -> Written:
    """The model's reply to `history` (which ends with the user's message), streamed and recorded; with `keep`,
    what "under the hood" shows."""
    import torch
    from transformers import LogitsProcessorList

    from tui_hf.core.generation.trace import Branch, Every, TokenBuilder, eos_ids, remember, stop_reason

    tok, model = loaded.tokenizer, loaded.model
    try:
        enc = tok.apply_chat_template(
            history, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        )
    except Exception as exc:  # a template that rejects a role (some have no system turn)
        raise TaskInputError(f"the chat template refused this conversation: {exc}") from exc
    enc = fit_inputs(model, enc)
    generation = generation_settings(loaded, opts, "conversational")
    warnings = list(loaded.info.warnings)
    budget = fit_to_context(loaded, enc["input_ids"].shape[1], generation, warnings)
    config = generation.config
    prompt_ids = enc["input_ids"][0].tolist()
    recorder, builder = StepRecorder(), TokenBuilder(tok, prompt_ids)
    messages = [ChatMessage(m["role"], m["content"]) for m in history]
    key, title, ends = remember(loaded), loaded.info.title, eos_ids(loaded, config)
    rendered = tok.decode(prompt_ids)

    def trace_of(tokens: list[Any], stop: str) -> Trace:
        return Trace(
            rendered,
            prompt_ids,
            [Branch(0, None, 0, tokens, stop)],
            0,
            dict(opts),
            "conversational",
            budget,
            key,
            title,
        )

    due = Every()

    def on_token(input_ids: Any) -> None:
        recorder.see(input_ids)
        if emit is not None and due():
            tokens = builder.update(recorder.decoded())
            text = partial_text(tok, tokens).strip()
            emit(
                ChatResult(messages + [ChatMessage("assistant", text)], False, trace=trace_of(tokens, ""), model=title)
            )

    criteria = cancel_criteria(cancel, on_token=on_token)
    with torch.inference_mode():
        out = model.generate(
            **enc,
            generation_config=config,
            stopping_criteria=criteria,
            logits_processor=LogitsProcessorList([recorder.processor]),
        )
    check_cancel(cancel)
    prompt_len = enc["input_ids"].shape[1]
    text = tok.decode(out[0][prompt_len:], skip_special_tokens=True).strip()
    tokens = builder.update(recorder.decoded())
    result = ChatResult(
        messages + [ChatMessage("assistant", text)],
        True,
        prompt_len,
        warnings,
        shown(generation),
        dict(generation.sources),
        trace_of(tokens, stop_reason(tokens, ends, budget)),
        title,
    )
    if not keep:
        return Written(result)
    shown_prompt = tok.apply_chat_template(history, add_generation_prompt=True, tokenize=False)
    first = Step(
        "prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)\n"
        'inputs = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")',
        f"prompt: {shown_prompt!r}\ninput_ids: {tensor_text(enc['input_ids'])}",
        "the chat template turns the conversation into the one text the model was trained on; it writes the "
        "special tokens itself, so the tokenizer adds none (apply_chat_template(tokenize=True) does the same)",
    )
    return Written(result, recorder, generation, first)
