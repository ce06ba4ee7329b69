"""What every task runner shares: results as plain data, cancellation, pipelines built once per model."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Protocol

from tui_hf.core.errors import Cancelled, TaskInputError
from tui_hf.core.models import LoadedModel

Emit = Callable[[Any], None]  # receives partial results while a run streams (the UI redraws at its own pace)


EXPLAIN_LIMIT = 8  # inputs beyond which "under the hood" is skipped (its tensors would not fit a screen)


class Runner(Protocol):
    """A task's runner. With `explain`, the result's `explanation` holds the explicit PyTorch path for the
    same inputs, built from the run's own forward pass where the task allows it."""

    def __call__(self, loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
                 cancel: threading.Event | None = None, emit: Emit | None = None, *,
                 explain: bool = False) -> Any: ...


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


def pipeline_for(loaded: LoadedModel, task: str, **kwargs: Any) -> Any:
    """The transformers pipeline for `task` over the already loaded model, built once and reused."""
    if task not in loaded.pipelines:
        from transformers import pipeline

        loaded.pipelines[task] = pipeline(
            task, model=loaded.model, tokenizer=loaded.tokenizer, device=loaded.model.device, **kwargs
        )
    return loaded.pipelines[task]


def clean_texts(texts: list[str]) -> list[str]:
    cleaned = [t for t in (t.strip() for t in texts) if t]
    if not cleaned:
        raise TaskInputError("type some text first")
    return cleaned


@dataclass
class Step:
    """One line of the explicit PyTorch path and what it produced."""

    code: str
    value: str
    note: str = ""


@dataclass
class Explanation:
    title: str
    steps: list[Step] = field(default_factory=list)
    note: str = ""  # e.g. why it was skipped, or that it was computed in a second pass


def skipped_explanation(task: str, inputs: int) -> Explanation:
    """What "under the hood" says for a batch too large to show, instead of keeping the previous one."""
    return Explanation(f"{task} by hand", [], f"skipped: {inputs} inputs; under the hood shows at most "
                                             f"{EXPLAIN_LIMIT} (run fewer lines to see the tensors)")


def tensor_text(t: Any, precision: int = 4) -> str:
    import torch

    with torch.no_grad():
        torch.set_printoptions(precision=precision, threshold=200, edgeitems=4, linewidth=100, sci_mode=False)
        try:
            return f"{tuple(t.shape)} {t.dtype}\n{t.detach().cpu()!r}"
        finally:
            torch.set_printoptions(profile="default")


def cancel_criteria(cancel: threading.Event | None) -> Any:
    """A StoppingCriteriaList that ends `generate` as soon as `cancel` is set (checked every step)."""
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Cancel(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
            return cancel is not None and cancel.is_set()

    return StoppingCriteriaList([_Cancel()])


def stream_text(tokenizer: Any, generate: Callable[[Any], Any], cancel: threading.Event | None,
                on_text: Callable[[str], None]) -> Any:
    """Run `generate(streamer)` in a thread and hand the growing decoded text to `on_text` as it arrives.

    Returns what `generate` returned; re-raises its exception. TextIteratorStreamer is the documented way to
    stream; its timeout lets us notice a generate thread that died without ending the stream.
    """
    import queue

    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=0.1)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = generate(streamer)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc
            streamer.end()

    thread = threading.Thread(target=target, name="generate", daemon=True)
    thread.start()
    text = ""
    while True:
        try:
            piece = next(streamer)
        except StopIteration:
            break
        except queue.Empty:
            if not thread.is_alive():
                break
            continue
        if piece:
            text += piece
            on_text(text)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    check_cancel(cancel)
    return outcome.get("value")


def fit_inputs(model: Any, encoding: Any) -> dict[str, Any]:
    """The encoding's tensors that the model's forward takes, on its device.

    A tokenizer can return more than a model accepts (token_type_ids from a BERT tokenizer put in front
    of T5 or GPT-2), and `generate` rejects unknown keyword arguments.
    """
    import inspect

    accepted = inspect.signature(model.forward).parameters
    return {k: v.to(model.device) for k, v in encoding.items() if k in accepted}
