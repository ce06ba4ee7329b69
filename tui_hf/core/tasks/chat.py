"""conversational: chat over the model's own chat template (the v4 pipeline was removed in 4.42).

The history is plain data the caller keeps and passes back (options["history"]), so the core stays
stateless and a chat can be saved, replayed or reset by whoever holds it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import (
    Emit,
    Explanation,
    Step,
    StepRecorder,
    cancel_criteria,
    fit_inputs,
    stream_text,
    tensor_text,
)
from tui_hf.core.tasks.defaults import shown
from tui_hf.core.tasks.generation import explain_steps, fit_to_context, generation_settings


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
    explanation: Explanation | None = None  # under the hood, when asked for

    @property
    def history(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in self.messages]


def run(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
        cancel: threading.Event | None = None, emit: Emit | None = None, *,
        explain: bool = False) -> ChatResult:
    import torch

    opts = {"system": "", "history": [], **{k: v for k, v in (options or {}).items() if v is not None}}
    tok, model = loaded.tokenizer, loaded.model
    if not getattr(tok, "chat_template", None):
        raise TaskInputError(f"{loaded.info.title} has no chat template, so it cannot chat; pick an instruct/chat "
                             "model such as HuggingFaceTB/SmolLM3-3B")
    text = "\n".join(texts).strip()
    if not text:
        raise TaskInputError("type a message")
    history = [dict(m) for m in opts["history"] or []]
    if opts["system"] and not any(m["role"] == "system" for m in history):
        history.insert(0, {"role": "system", "content": str(opts["system"])})
    history.append({"role": "user", "content": text})
    try:
        enc = tok.apply_chat_template(history, add_generation_prompt=True, tokenize=True, return_dict=True,
                                      return_tensors="pt")
    except Exception as exc:  # a template that rejects a role (some have no system turn)
        raise TaskInputError(f"the chat template refused this conversation: {exc}") from exc
    enc = fit_inputs(model, enc)
    generation = generation_settings(loaded, opts, "conversational")
    warnings = list(loaded.info.warnings)
    fit_to_context(loaded, enc["input_ids"].shape[1], generation, warnings)
    recorder = StepRecorder() if explain else None
    messages = [ChatMessage(m["role"], m["content"]) for m in history]

    def progress(reply: str) -> None:
        if emit is not None:
            emit(ChatResult(messages + [ChatMessage("assistant", reply)], False))

    def generate(streamer: Any) -> Any:
        from transformers import LogitsProcessorList

        watch = {"logits_processor": LogitsProcessorList([recorder.processor])} if recorder is not None else {}
        criteria = cancel_criteria(cancel, *([recorder.criteria] if recorder is not None else []))
        with torch.inference_mode():
            return model.generate(**enc, generation_config=generation.config, streamer=streamer,
                                  stopping_criteria=criteria, **watch)

    out = stream_text(tok, generate, cancel, progress)
    prompt_len = enc["input_ids"].shape[1]
    reply = tok.decode(out[0][prompt_len:], skip_special_tokens=True).strip()
    result = ChatResult(messages + [ChatMessage("assistant", reply)], True, prompt_len, warnings, shown(generation),
                        dict(generation.sources))
    if recorder is not None:
        rendered = tok.apply_chat_template(history, add_generation_prompt=True, tokenize=False)
        result.explanation = explain_steps(loaded, reply, recorder, generation, "chat by hand", Step(
            "prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)\n"
            "inputs = tokenizer(prompt, return_tensors=\"pt\")",
            f"prompt: {rendered!r}\ninput_ids: {tensor_text(enc['input_ids'])}",
            "the chat template turns the conversation into the one text the model was trained on"))
    return result
