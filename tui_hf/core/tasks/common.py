"""What every task runner shares: results as plain data, cancellation, pipelines built once per model."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tui_hf.core.errors import Cancelled, TaskInputError

if TYPE_CHECKING:
    from tui_hf.core.models import LoadedModel

Emit = Callable[[Any], None]  # receives partial results while a run streams (the UI redraws at its own pace)


EXPLAIN_LIMIT = 8  # inputs beyond which "under the hood" is skipped (its tensors would not fit a screen)


class Runner(Protocol):
    """A task's runner: every task object is one (tasks/base.py `Task`, whose call walks its stages). With
    `explain`, the result's `explanation` holds the explicit PyTorch path for the same inputs, built from the
    run's own forward pass where the task allows it."""

    def __call__(
        self,
        loaded: LoadedModel,
        texts: list[str],
        options: dict[str, Any] | None = None,
        cancel: threading.Event | None = None,
        emit: Emit | None = None,
        *,
        explain: bool = False,
    ) -> Any: ...


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
    return Explanation(
        f"{task} by hand",
        [],
        f"skipped: {inputs} inputs; under the hood shows at most {EXPLAIN_LIMIT} (run fewer lines to see the tensors)",
    )


def tensor_text(t: Any, precision: int = 4) -> str:
    import torch

    with torch.no_grad():
        torch.set_printoptions(precision=precision, threshold=200, edgeitems=4, linewidth=100, sci_mode=False)
        try:
            return f"{tuple(t.shape)} {t.dtype}\n{t.detach().cpu()!r}"
        finally:
            torch.set_printoptions(profile="default")


def cancel_criteria(cancel: threading.Event | None, *more: Any, on_token: Callable[[Any], None] | None = None) -> Any:
    """A StoppingCriteriaList that ends `generate` as soon as `cancel` is set (checked every step), with `more`
    criteria (a StepRecorder's) before it.

    With `on_token`, a streamed or recorded run: it is called with `input_ids` after each new token (after `more`
    has seen it) on generate's own thread, unless the run is cancelled. No second thread and no queue: handing
    each token to a reader thread costs a wake-up and a GIL hand-off per token (issue 21 measured that path at
    2.5x bare generate on an idle machine). `on_token` hands results on at its own pace (core/generation/trace.py
    `Every`): most calls must return at once.
    """
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Watch(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
            if cancel is not None and cancel.is_set():
                return True
            if on_token is not None:
                on_token(input_ids)
            return False

    return StoppingCriteriaList([*more, _Watch()])


def fit_inputs(model: Any, encoding: Any) -> dict[str, Any]:
    """The encoding's tensors that the model's forward takes, on its device.

    A tokenizer can return more than a model accepts (token_type_ids from a BERT tokenizer put in front
    of T5 or GPT-2), and `generate` rejects unknown keyword arguments.
    """
    import inspect

    accepted = inspect.signature(model.forward).parameters
    return {k: v.to(model.device) for k, v in encoding.items() if k in accepted}


def run_stages(pipe: Any, inputs: Any, **kwargs: Any) -> tuple[list[Any], list[Any], Any]:
    """Run a transformers pipeline on one input through its own stages (preprocess, forward, postprocess),
    as `pipe(inputs, **kwargs)` does, and keep the tensors for "under the hood".

    Returns (model inputs and model outputs, one per chunk: a chunk pipeline such as NER or zero-shot makes
    several; the pipeline's result).
    """
    from transformers.pipelines.base import ChunkPipeline

    pre, fwd, post = pipe._sanitize_parameters(**kwargs)
    pre = {**pipe._preprocess_params, **pre}
    fwd = {**pipe._forward_params, **fwd}
    post = {**pipe._postprocess_params, **post}
    if isinstance(pipe, ChunkPipeline):
        chunks = list(pipe.preprocess(inputs, **pre))
        outputs = [pipe.forward(chunk, **fwd) for chunk in chunks]
        return chunks, outputs, pipe.postprocess(outputs, **post)
    model_inputs = pipe.preprocess(inputs, **pre)
    output = pipe.forward(model_inputs, **fwd)
    return [model_inputs], [output], pipe.postprocess(output, **post)


TOP_STEPS = 5  # alternatives shown per generated token in "under the hood"
TRACE_TOP = 10  # alternatives kept per generated token for the token cursor (core/generation/trace.py)


@dataclass
class DecodeStep:
    """One generated token: the distribution it was chosen from (top alternatives) and the choice."""

    token_id: int
    probability: float
    top: list[tuple[int, float]]  # (token id, probability), best first
    rank: int = 0  # the chosen token's place in that distribution, 1 = most probable; 0 when not known


class StepRecorder:
    """Keeps, for the first sequence of a `generate` call, each step's top alternatives of the model's
    next-token distribution, the token chosen, its probability and its rank.

    `generate` runs custom logits processors after its own processors (repetition penalty, minimum length,
    forced tokens...) and before the sampling warpers (temperature, top-k, top-p): so the distribution kept is
    the model's under the run's constraints, before sampling reshapes it, and for greedy decoding exactly the
    one the token is picked from. `see` reads the chosen token once generate has appended it: `criteria` (a
    stopping criterion that never stops) calls it, or a streamed run's own per-token hook does (`cancel_criteria`'s
    `on_token`: one criterion, not two). Nothing vocabulary-sized outlives its step.

    Per step: one softmax and one top-k over the vocabulary, most of the cost (~60 us for 30k entries on one CPU
    core alone, ~120 us between a model's forward passes, which leave the caches cold: fewer tensor operations
    beat cleverer ones there; a blockwise top-k twice as fast alone was slower here). The chosen token's rank is
    read off the top-k when it is there (always, greedy) and only else counted over the whole distribution.
    Reading the chosen token waits for the device, which `generate`'s own stop check does every step anyway (on
    CUDA and CPU; transformers 5.25 defers it on MPS only).
    """

    def __init__(self) -> None:
        import torch
        from transformers import LogitsProcessor, StoppingCriteria

        self.steps: list[DecodeStep] = []
        self._last: Any = None  # this step's (probabilities, top values, top ids), 1 x n, until its choice is known
        recorder = self

        class _Processor(LogitsProcessor):
            def __call__(self, input_ids: Any, scores: Any) -> Any:
                # Every tensor operation counts here: no slice for a batch of one, no cast of float32 scores.
                first = scores if scores.shape[0] == 1 else scores[:1]
                probs = (first if first.dtype == torch.float32 else first.float()).softmax(-1)
                recorder._last = (probs, *probs.topk(min(TRACE_TOP, probs.shape[-1])))
                return scores

        class _Chosen(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                recorder.see(input_ids)
                return False

        self.processor = _Processor()
        self.criteria = _Chosen()

    def see(self, input_ids: Any) -> None:
        """Record this step's choice: the last token of the first sequence in `input_ids`."""
        if self._last is not None:
            probs, values, ids = self._last
            self._last = None
            self.steps.append(_step(int(input_ids[0, -1]), probs, values.tolist()[0], ids.tolist()[0]))

    def decoded(self) -> list[DecodeStep]:
        """The steps whose token is chosen."""
        return list(self.steps)


def _step(chosen: int, probs: Any, values: list[float], ids: list[int]) -> DecodeStep:
    """A DecodeStep from its distribution (1 x vocabulary) and top-k (best first)."""
    if chosen in ids:
        p = values[ids.index(chosen)]
        rank = 1 + sum(v > p for v in values)  # every token more probable than a top-k one is in the top-k
    else:
        at = probs[0, chosen]
        p, rank = float(at), int((probs > at).sum()) + 1
    return DecodeStep(chosen, p, list(zip(ids, values)), rank)


class ScoreRecorder:
    """Keeps, per generate step, the top alternatives of each row of the first input (its beams) as the
    processors left them: enough to show the decoder steps of the returned sequence without holding
    `output_scores` (steps x beams x vocabulary floats, gigabytes for a 256k vocabulary).

    Beam search picks each row's next token among that row's best 2 x num_beams, so keeping that many per
    row always includes the token kept.
    """

    def __init__(self, rows: int, keep: int) -> None:
        from transformers import LogitsProcessor

        self.records: list[tuple[list[list[int]], list[list[float]]]] = []
        recorder = self

        class _Processor(LogitsProcessor):
            def __call__(self, input_ids: Any, scores: Any) -> Any:
                probs = scores[:rows].float().softmax(-1)
                values, ids = probs.topk(min(keep, probs.shape[-1]), dim=-1)
                recorder.records.append((ids.tolist(), values.tolist()))
                return scores

        self.processor = _Processor()

    def steps(self, sequence: Any, start: int, beam_indices: Any = None) -> list[DecodeStep]:
        """Decode steps of `sequence` (its tokens from `start`); `beam_indices` says which row (beam) each
        kept token came from."""
        out = []
        for t, (ids, probs) in enumerate(self.records):
            if start + t >= len(sequence):
                break
            row = 0 if beam_indices is None else int(beam_indices[t])
            if row < 0:
                break
            chosen = int(sequence[start + t])
            pairs = list(zip(ids[row], probs[row]))
            prob = next((p for i, p in pairs if i == chosen), -1.0)
            out.append(DecodeStep(chosen, prob, pairs[:TOP_STEPS]))
        return out


def steps_text(tok: Any, steps: list[DecodeStep], shown: int = 40) -> str:
    """The decode steps as a table: step, chosen token and its probability, the top alternatives."""
    wanted = sorted({i for s in steps[:shown] for i in (s.token_id, *(a for a, _p in s.top[:TOP_STEPS]))})
    texts = dict(zip(wanted, tok.batch_decode([[i] for i in wanted]))) if wanted else {}  # one call, not 6 a row

    def piece(i: int) -> str:
        return repr(texts[i])

    lines = []
    for n, s in enumerate(steps[:shown]):
        alts = "  ".join(f"{piece(i)} {p:.3f}" for i, p in s.top[:TOP_STEPS])
        prob = f"{s.probability:.3f}" if s.probability >= 0 else "?"  # sampled from outside the kept top
        lines.append(f"{n + 1:>3}  {piece(s.token_id):<14} p={prob}   top: {alts}")
    if len(steps) > shown:
        lines.append(f"... {len(steps) - shown} more steps")
    return "\n".join(lines) if lines else "(no tokens generated)"
