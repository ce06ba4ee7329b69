"""A second model for the same prompt (a base model beside its finetuned run, say): loaded once, on the first
model's device and dtype, with the same safety defaults (safetensors only, no remote code), and kept for the
next run while the same one is asked for."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tui_hf.core.models import LoadedModel

R = TypeVar("R")  # a run's result: it has `settings`, `done` and `beside` (GenerationResult, ChatResult)

_lock = threading.Lock()
_kept: dict[tuple[str, str, str, str], LoadedModel] = {}


def second_model(reference: str, like: LoadedModel, task: str) -> LoadedModel:
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.tasks.registry import get_task

    resolved = resolve(parse_ref(reference))
    key = (resolved.source, task, like.info.device, like.info.dtype)
    with _lock:
        found = _kept.get(key)
        if found is None:
            found = load(resolved, get_task(task), like.info.device, like.info.dtype)
            _kept.clear()  # one second model at a time: they can be large
            _kept[key] = found
        return found


def run_beside(
    result: R,
    reference: str,
    like: LoadedModel,
    task: str,
    options: dict[str, Any],
    emit: Callable[[Any], None] | None,
    run: Callable[[LoadedModel, dict[str, Any], Callable[[R], None]], R],
) -> None:
    """Run the same input on the model `reference` with `result`'s settings and keep its answer in
    `result.beside`; while it streams, `emit` gets `result` with the partial answer beside it.
    `run(model, options, emit)` is the task's own run on the first model's input."""
    other = second_model(reference, like, task)

    def partial(beside: R) -> None:
        if emit is not None:
            emit(dataclasses.replace(result, done=False, beside=beside))  # type: ignore[type-var]

    result.beside = run(other, same_settings(result.settings, options), partial)  # type: ignore[attr-defined]


def same_settings(shown: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The first model's run settings as explicit options, so the second runs with the same values and not
    with its own generation_config's."""
    return {**{k: v for k, v in shown.items() if k in _PASSED}, **options}


_PASSED = {
    "max_new_tokens",
    "min_new_tokens",
    "do_sample",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "num_beams",
    "no_repeat_ngram_size",
}
