"""text-generation: the v5 pipeline, streamed token by token from generate's own thread (tasks/common.py
`cancel_criteria`).

Settings start from the model's generation_config and the pipeline's own defaults (tasks/defaults.py).
A logits processor records each step's next-token distribution as the run goes (core/generation/trace.py: each token's
probability, rank and top alternatives), for the coloured text, the token cursor and under the hood.
With `score`, the prompt is scored instead (core/generation/scoring.py); with `second_model`, another model runs the
same prompt with the same settings and its result comes beside this one's.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.generation.scoring import ScoreResult
from tui_hf.core.generation.settings import fit_to_context, generation_settings
from tui_hf.core.generation.trace import Trace
from tui_hf.core.models import LoadedModel
from tui_hf.core.tasks.base import R, Task
from tui_hf.core.tasks.common import (
    Emit,
    Explanation,
    Step,
    StepRecorder,
    cancel_criteria,
    check_cancel,
    pipeline_for,
    steps_text,
    tensor_text,
)
from tui_hf.core.tasks.defaults import Generation, shown


@dataclass
class GenerationResult:
    prompt: str
    sequences: list[str]  # continuations (the prompt not repeated)
    done: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where its value came from
    traces: list[Trace] = field(default_factory=list)  # each sequence token by token
    model: str = ""  # which model wrote it
    beside: GenerationResult | None = None  # the same prompt and settings on a second model
    explanation: Explanation | None = None  # under the hood, when asked for


@dataclass
class Prompt:
    """What a generating task's preprocess hands on."""

    input: Any  # the prompt (text generation); the history and the messages it sends (chat)
    opts: dict[str, Any]  # the run's settings, score and second_model taken out
    score: bool  # score the text instead of writing
    second: str  # the model that runs beside, if any


@dataclass
class Written:
    """What a generating task's forward hands on: the result, and with `keep` what "under the hood" shows."""

    result: Any
    recorder: StepRecorder | None = None  # the first sequence's decode steps
    generation: Generation | None = None
    first: Step | None = None  # how the prompt became input ids


def opening(options: dict[str, Any], defaults: dict[str, Any]) -> tuple[dict[str, Any], bool, str]:
    """The options over the defaults, with score and second_model taken out."""
    opts = {**defaults, **{k: v for k, v in options.items() if v is not None}}
    return opts, bool(opts.pop("score", False)), str(opts.pop("second_model", "") or "").strip()


class Generating(Task[Prompt, Written, R]):
    """What text generation and chat share: the input scored instead of written, or written (streamed, recorded
    token by token) with a second model beside it; "under the hood" from the recorded steps."""

    title: str  # "under the hood"'s title

    @abstractmethod
    def score(self, loaded: LoadedModel, prepared: Prompt, cancel: threading.Event | None, keep: bool) -> ScoreResult:
        """The input scored (core/generation/scoring.py), which explains its own pass."""

    @abstractmethod
    def write(
        self, loaded: LoadedModel, prepared: Prompt, cancel: threading.Event | None, emit: Emit | None, keep: bool
    ) -> Written:
        """The model's output for the input, with the settings in `prepared.opts`."""

    @abstractmethod
    def written_text(self, result: Any) -> str:
        """The text written (the first sequence), as under the hood's last step shows it."""

    def forward(
        self, loaded: LoadedModel, prepared: Prompt, cancel: threading.Event | None, emit: Emit | None, keep: bool
    ) -> Written:
        if prepared.score:
            return Written(self.score(loaded, prepared, cancel, keep))
        written = self.write(loaded, prepared, cancel, emit, keep)
        if prepared.second:
            from tui_hf.core.generation.side_by_side import run_beside

            run_beside(
                written.result,
                prepared.second,
                loaded,
                self.name,
                prepared.opts,
                emit,
                # the second model with the first's settings
                lambda model, options, partial: (
                    self.write(model, replace(prepared, opts=options), cancel, partial, False).result
                ),
            )
        return written

    def explain(self, loaded: LoadedModel, prepared: Prompt, forwarded: Written, result: R) -> Explanation | None:
        if isinstance(result, ScoreResult):
            return result.explanation
        return explain_steps(loaded, self.written_text(result), forwarded, self.title)


class TextGeneration(Generating[GenerationResult | ScoreResult]):
    """The prompt continued, or scored."""

    name, title = "text-generation", "text-generation by hand"

    def preprocess(self, loaded: LoadedModel, texts: list[str], options: dict[str, Any]) -> Prompt:
        opts, score, second = opening(options, {"num_return_sequences": 1, "seed": 0})
        return Prompt("\n".join(texts).strip("\n"), opts, score, second)

    def score(self, loaded: LoadedModel, prepared: Prompt, cancel: threading.Event | None, keep: bool) -> ScoreResult:
        from tui_hf.core.generation.scoring import score_text

        return score_text(loaded, prepared.input, prepared.opts, cancel, explain=keep)

    def write(
        self, loaded: LoadedModel, prepared: Prompt, cancel: threading.Event | None, emit: Emit | None, keep: bool
    ) -> Written:
        return generate(loaded, prepared.input, prepared.opts, cancel, emit, keep=keep)

    def written_text(self, result: GenerationResult) -> str:
        return result.sequences[0]

    def postprocess(self, loaded: LoadedModel, prepared: Prompt, forwarded: Written) -> GenerationResult | ScoreResult:
        return forwarded.result  # type: ignore[no-any-return]


run = TextGeneration()


def generate(
    loaded: LoadedModel,
    prompt: str,
    opts: dict[str, Any],
    cancel: threading.Event | None = None,
    emit: Emit | None = None,
    *,
    keep: bool = False,
) -> Written:
    import torch
    from transformers import LogitsProcessorList, set_seed

    from tui_hf.core.generation.trace import Branch, Every, TokenBuilder, eos_ids, remember, stop_reason

    if not prompt.strip():
        raise TaskInputError("type a prompt")
    n = max(int(opts["num_return_sequences"]), 1)
    generation = generation_settings(loaded, opts)
    if n > 1 and not generation.config.do_sample:
        raise TaskInputError("greedy decoding gives the same sequence every time: turn on Sample for several")
    warnings = list(loaded.info.warnings)
    prompt_ids = list(loaded.tokenizer(prompt)["input_ids"])
    budget = fit_to_context(loaded, len(prompt_ids), generation, warnings)
    config = generation.config
    pipe = pipeline_for(loaded, "text-generation")
    sequences: list[str] = []
    settings = shown(generation)
    key, title, ends = remember(loaded), loaded.info.title, eos_ids(loaded, config)
    traces: list[Trace] = []

    def trace_of(tokens: list[Any], stop: str = "") -> Trace:
        return Trace(
            prompt, prompt_ids, [Branch(0, None, 0, tokens, stop)], 0, dict(opts), "text-generation", budget, key, title
        )

    recorders = []
    for i in range(n):  # one sequence at a time: streaming works at batch size 1 only
        check_cancel(cancel)
        set_seed(int(opts["seed"]) + i)
        recorder, builder = StepRecorder(), TokenBuilder(loaded.tokenizer, prompt_ids)
        recorders.append(recorder)

        def on_token(
            input_ids: Any, recorder: StepRecorder = recorder, builder: TokenBuilder = builder, due: Every = Every()
        ) -> None:
            recorder.see(input_ids)
            if emit is not None and due():
                tokens = builder.update(recorder.decoded())
                emit(
                    GenerationResult(
                        prompt,
                        sequences + [partial_text(loaded.tokenizer, tokens)],
                        False,
                        settings,
                        traces=traces + [trace_of(tokens)],
                        model=title,
                    )
                )

        criteria = cancel_criteria(cancel, on_token=on_token)
        # The pipeline runs under no_grad; inference mode also skips autograd's per-tensor bookkeeping, some
        # microseconds per operation: at a few hundred operations per token, 3-5 % of a small model's step.
        with torch.inference_mode():
            out = pipe(
                prompt,
                return_full_text=False,
                stopping_criteria=criteria,
                generation_config=config,
                logits_processor=LogitsProcessorList([recorder.processor]),
            )
        check_cancel(cancel)
        sequences.append(out[0]["generated_text"])
        tokens = builder.update(recorder.decoded())
        traces.append(trace_of(tokens, stop_reason(tokens, ends, budget)))
    result = GenerationResult(prompt, sequences, True, settings, warnings, dict(generation.sources), traces, title)
    if not keep:
        return Written(result)
    first = Step(
        'inputs = tokenizer(prompt, return_tensors="pt")',
        f"tokens: {loaded.tokenizer.convert_ids_to_tokens(prompt_ids)[:64]}\n"
        f"input_ids: {tensor_text(_tensor(prompt_ids))}",
    )
    return Written(result, recorders[0], generation, first)


def partial_text(tok: Any, tokens: list[Any]) -> str:
    """The text of the tokens so far, decoded as the finished run decodes them (a character still waiting for
    its last bytes left out)."""
    return str(tok.decode([t.id for t in tokens], skip_special_tokens=True)).rstrip("\ufffd")


def _tensor(ids: list[int]) -> Any:
    import torch

    return torch.tensor([ids])


def explain_steps(loaded: LoadedModel, continuation: str, written: Written, title: str) -> Explanation:
    """The prompt, then each step's next-token distribution and choice, as recorded during the run."""
    recorder, generation = written.recorder, written.generation
    assert recorder is not None and generation is not None and written.first is not None  # kept for explaining
    settings = ", ".join(f"{k}={v!r}" for k, v in shown(generation).items())
    sampling = bool(generation.config.do_sample)
    return Explanation(
        title,
        [
            written.first,
            Step(
                "logits = model(**inputs).logits[:, -1, :]  # the last position predicts the next token",
                f"one score per vocabulary entry: {loaded.info.vocab_size} values",
                "repeated once per new token, "
                "with the past keys/values cached so each step reads only the newest token",
            ),
            Step(
                f"model.generate(**inputs, {settings})",
                steps_text(loaded.tokenizer, recorder.decoded()),
                (
                    "each step: the token drawn, its probability under the model (before temperature and top-p reshape "
                    "the distribution for drawing), and the top 5"
                    if sampling
                    else "greedy: each step takes the most probable token (its probability, and the top 5)"
                ),
            ),
            Step("tokenizer.decode(new_tokens, skip_special_tokens=True)", repr(continuation)),
        ],
    )
