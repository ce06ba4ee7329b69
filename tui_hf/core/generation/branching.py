"""Choosing another token: a new branch takes a trace's tokens up to a position, the alternative chosen there,
and what the model generates from it with the run's own settings (greedy stays greedy; sampling samples
again from the run's seed).

A trace is plain data; the model that wrote it is kept here, weakly, under `Trace.model_key`, so a branch can
only be continued by that model while it is still loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.generation.trace import (
    Branch,
    Every,
    TokenBuilder,
    Trace,
    TracedToken,
    eos_ids,
    model_of,
    stop_reason,
    token_texts,
)


def fork(trace: Trace, branch_id: int, position: int, token_id: int) -> Branch:
    """The start of a new branch: `branch_id`'s tokens before `position`, then `token_id` (one of the
    alternatives recorded there, with its probability and rank). `grow` generates the rest."""
    base = trace.branch(branch_id)
    if not 0 <= position < len(base.tokens):
        raise TaskInputError(f"no token at position {position} (the branch has {len(base.tokens)})")
    at = base.tokens[position]
    if at.probability is None:
        raise TaskInputError(
            "that token is context (the prompt, or a turn that was not scored): nothing was "
            "predicted there to choose from"
        )
    choice = next(((rank, alt) for rank, alt in enumerate(at.top, 1) if alt.id == token_id), None)
    if choice is None:
        raise TaskInputError(f"token {token_id} is not among the alternatives recorded at position {position}")
    rank, alt = choice
    tok = model_of(trace).tokenizer
    before = [replace(t) for t in base.tokens[:position]]
    text = token_texts(tok, [alt.id], trace.prompt_ids + [t.id for t in before])[0]
    special = alt.id in set(getattr(tok, "all_special_ids", []) or [])
    chosen = TracedToken(alt.id, alt.token, text, alt.probability, rank, list(at.top), special)
    return Branch(-1, base.id, position, before + [chosen])


def grow(
    trace: Trace, branch: Branch, cancel: threading.Event | None = None, emit: Callable[[Branch], None] | None = None
) -> Branch:
    """Generate the rest of `branch` (its last token is the alternative chosen) with the trace's model and
    settings, up to the trace's length; returns the finished branch as a new object, and hands partial copies
    to `emit` as tokens arrive."""
    import torch
    from transformers import LogitsProcessorList, StoppingCriteria, set_seed

    from tui_hf.core.generation.settings import generation_settings
    from tui_hf.core.tasks.common import StepRecorder, cancel_criteria

    loaded = model_of(trace)
    tok = loaded.tokenizer
    generation = generation_settings(loaded, trace.options, trace.task)
    config = generation.config
    ends = eos_ids(loaded, config)
    start = [replace(t) for t in branch.tokens]
    prefix = trace.prompt_ids + [t.id for t in start]
    remaining = trace.max_new_tokens - len(start)
    limit = loaded.info.max_positions
    if limit:
        remaining = min(remaining, limit - len(prefix))
    if start[-1].id in ends or remaining <= 0:
        return Branch(branch.id, branch.parent, branch.fork, start, "eos" if start[-1].id in ends else "length")
    config.max_new_tokens, config.max_length = remaining, None
    seed = trace.options.get("seed")
    if config.do_sample:
        set_seed(int(seed) if seed is not None else 0)
    recorder = StepRecorder()
    builder = TokenBuilder(tok, prefix)
    state, due = {"sent": 0}, Every()

    class _Emit(StoppingCriteria):
        """Never stops: after each token, the branch so far goes to `emit`."""

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            if emit is not None and len(recorder.steps) > state["sent"] and due():
                steps = recorder.decoded()
                state["sent"] = len(steps)
                emit(Branch(branch.id, branch.parent, branch.fork, start + builder.update(steps)))
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    inputs = torch.tensor([prefix], device=loaded.model.device)
    with torch.inference_mode():
        loaded.model.generate(
            input_ids=inputs,
            attention_mask=torch.ones_like(inputs),
            generation_config=config,
            logits_processor=LogitsProcessorList([recorder.processor]),
            stopping_criteria=cancel_criteria(cancel, recorder.criteria, _Emit()),
        )
    tokens = start + builder.update(recorder.decoded())
    cancelled = cancel is not None and cancel.is_set()
    return Branch(
        branch.id, branch.parent, branch.fork, tokens, stop_reason(tokens, ends, trace.max_new_tokens, cancelled)
    )
