"""text-generation: the v5 pipeline, streamed token by token through TextIteratorStreamer."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.common import (
    Emit,
    Explanation,
    cancel_criteria,
    check_cancel,
    pipeline_for,
    stream_text,
)


@dataclass
class GenerationResult:
    prompt: str
    sequences: list[str]  # continuations (the prompt not repeated)
    done: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    explanation: Explanation | None = None  # under the hood, when asked for


def generation_settings(loaded: LoadedModel, opts: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {"max_new_tokens": max(int(opts.get("max_new_tokens", 40)), 1),
                                "do_sample": bool(opts.get("do_sample", True))}
    if settings["do_sample"]:
        temperature = float(opts.get("temperature", 1.0))
        if temperature <= 0:
            raise TaskInputError("Temperature must be above 0 when sampling (turn Sample off for greedy)")
        top_p = float(opts.get("top_p", 1.0))
        if not 0 < top_p <= 1:
            raise TaskInputError("Top p must be in (0, 1]")
        settings.update(temperature=temperature, top_p=top_p)
    tok = loaded.tokenizer
    if tok.pad_token_id is None and tok.eos_token_id is not None:
        settings["pad_token_id"] = tok.eos_token_id  # GPT-2 style models have no pad token
    return settings


def fit_to_context(loaded: LoadedModel, prompt_tokens: int, settings: dict[str, Any], warnings: list[str]) -> None:
    """Keep prompt + new tokens within the model's positions: a clear message, not an index error."""
    limit = loaded.info.max_positions
    if not limit:
        return
    if prompt_tokens >= limit:
        raise TaskInputError(f"the prompt is {prompt_tokens} tokens and this model reads at most {limit}: "
                             "shorten it (or start a new chat)")
    room = limit - prompt_tokens
    if settings["max_new_tokens"] > room:
        warnings.append(f"max_new_tokens cut from {settings['max_new_tokens']} to {room}: the model reads at "
                        f"most {limit} positions")
        settings["max_new_tokens"] = room


def run(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
        cancel: threading.Event | None = None, emit: Emit | None = None, *,
        explain: bool = False) -> GenerationResult:
    from transformers import set_seed

    opts = {"num_return_sequences": 1, "seed": 0, **(options or {})}
    prompt = "\n".join(texts).strip("\n")
    if not prompt.strip():
        raise TaskInputError("type a prompt")
    n = max(int(opts["num_return_sequences"]), 1)
    settings = generation_settings(loaded, opts)
    if n > 1 and not settings["do_sample"]:
        raise TaskInputError("greedy decoding gives the same sequence every time: turn on Sample for several")
    warnings = list(loaded.info.warnings)
    fit_to_context(loaded, len(loaded.tokenizer(prompt)["input_ids"]), settings, warnings)
    pipe = pipeline_for(loaded, "text-generation")
    sequences: list[str] = []
    shown = {k: v for k, v in settings.items() if k != "pad_token_id"}
    for i in range(n):  # one sequence at a time: streaming works at batch size 1 only
        check_cancel(cancel)
        set_seed(int(opts["seed"]) + i)

        def progress(text: str) -> None:
            if emit is not None:
                emit(GenerationResult(prompt, sequences + [text], False, shown))

        out = stream_text(loaded.tokenizer, lambda streamer: pipe(
            prompt, return_full_text=False, streamer=streamer, stopping_criteria=cancel_criteria(cancel),
            **settings), cancel, progress)
        sequences.append(out[0]["generated_text"])
    return GenerationResult(prompt, sequences, True, shown, warnings)
