"""Generation settings for the tasks that write text token by token (text generation, chat, branching): the
model's generation_config with the pipeline's defaults and the user's values on top (tasks/defaults.py), checked,
and cut to the model's positions. Declared once here so every generating path reads the same rules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.defaults import Generation, causal_generation
from tui_hf.core.tasks.registry import get_task


def check_given(opts: Mapping[str, Any]) -> None:
    """The user's own values, before transformers sees them (its checks raise ValueError from inside a run, and
    it accepts some values no run can use: an infinite temperature, zero sequences)."""
    given = {k: v for k, v in opts.items() if v is not None and v != ""}
    for key, label in (("max_new_tokens", "Max new tokens"), ("num_return_sequences", "Sequences")):
        if key in given and not (isinstance(given[key], int) and given[key] >= 1):
            raise TaskInputError(f"{label} must be a whole number, at least 1 (not {given[key]!r})")
    for key, label in (
        ("temperature", "Temperature"),
        ("top_p", "Top p"),
        ("repetition_penalty", "Repetition penalty"),
    ):
        value = given.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            raise TaskInputError(f"{label} must be a finite number (not {value})")
    seed = given.get("seed")
    if seed is not None and not (isinstance(seed, int) and 0 <= seed < 2**32):
        raise TaskInputError(f"Seed must be a whole number from 0 to {2**32 - 1:,} (not {seed!r})")


def generation_settings(
    loaded: LoadedModel, opts: Mapping[str, Any] | None, task: str = "text-generation"
) -> Generation:
    """The generation config for a causal run (model first, the user's values on top), checked."""
    check_given(opts or {})
    generation = causal_generation(get_task(task), loaded, opts)
    config = generation.config
    if config.max_new_tokens is not None and config.max_new_tokens < 1:
        raise TaskInputError("Max new tokens must be at least 1")
    if config.do_sample:
        if config.temperature is not None and not 0 < config.temperature < math.inf:
            raise TaskInputError("Temperature must be above 0 when sampling (turn Sample off for greedy)")
        if config.top_p is not None and not 0 < config.top_p <= 1:
            raise TaskInputError("Top p must be in (0, 1]")
    return generation


def fit_to_context(loaded: LoadedModel, prompt_tokens: int, generation: Generation, warnings: list[str]) -> int:
    """Keep prompt + new tokens within the model's positions: a clear message, not an index error. Returns
    how many new tokens the run may write."""
    config = generation.config
    wanted = config.max_new_tokens if config.max_new_tokens is not None else (config.max_length or 20) - prompt_tokens
    limit = loaded.info.max_positions
    if not limit:
        return wanted
    if prompt_tokens >= limit:
        raise TaskInputError(
            f"the prompt is {prompt_tokens} tokens and this model reads at most {limit}: "
            "shorten it (or start a new chat)"
        )
    room = limit - prompt_tokens
    if wanted > room:
        warnings.append(f"max_new_tokens cut from {wanted} to {room}: the model reads at most {limit} positions")
        config.max_new_tokens, config.max_length = room, None
        return room
    return wanted
