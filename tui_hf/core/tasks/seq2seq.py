"""summarization, translation and text2text-generation on AutoModelForSeq2SeqLM + generate.

transformers 5 removed these pipelines; this keeps their transformers 4.57 behaviour: the prefix from
`config.task_specific_params` (T5's "summarize: "), generation settings from the model (tasks/defaults.py),
and for multilingual models the tokenizer's own translation inputs with a forced target-language token
(tasks/translation.py). Inputs longer than the model reads are cut with a warning, and new tokens are capped
to the decoder's positions. Outputs stream as the decoder writes them (under beam search, each input's best
candidate so far).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.seq2seq_io import config_prefix
from tui_hf.core.tasks.base import Task
from tui_hf.core.tasks.common import (
    Emit,
    Explanation,
    ScoreRecorder,
    Step,
    cancel_criteria,
    check_cancel,
    clean_texts,
    fit_inputs,
    steps_text,
    tensor_text,
)
from tui_hf.core.tasks.defaults import Generation, seq2seq_generation, shown, task_params
from tui_hf.core.tasks.limits import fits, input_limit, model_positions, token_count, truncation_warning
from tui_hf.core.tasks.registry import get_task


@dataclass
class Generated:
    input: str
    output: str


@dataclass
class Seq2SeqResult:
    task: str
    items: list[Generated]
    prefix: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # the generation values used, beyond the library's
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where its value came from
    src_lang: str = ""  # translation: the codes used, in the model's spelling
    tgt_lang: str = ""
    forced_token: str = ""  # translation on a multilingual model: the target token forced first
    explanation: Explanation | None = None  # under the hood, when asked for


@dataclass
class _Encoded:
    inputs: dict[str, Any]
    warnings: list[str]
    call: str  # how the tokenizer was called, for "under the hood"


def _encode(loaded: LoadedModel, texts: list[str], prefix: str, translation: Any = None) -> _Encoded:
    tok, model = loaded.tokenizer, loaded.model
    limit = input_limit(loaded)
    warnings = []
    if limit is not None:
        budget = limit - tok.num_special_tokens_to_add(pair=False)
        for i, text in enumerate(texts):
            if not fits(tok, prefix + text, budget):
                warnings.append(truncation_warning(i, len(texts), token_count(tok, prefix + text), budget))
    sized = {"truncation": True, "max_length": limit} if limit is not None else {}
    padding = len(texts) > 1
    if translation is not None and translation.forced_token:
        enc = tok._build_translation_inputs(
            [prefix + t for t in texts],
            return_tensors="pt",
            padding=padding,
            src_lang=translation.src_lang,
            tgt_lang=translation.tgt_lang,
            **sized,
        )
        enc.pop("forced_bos_token_id", None)  # the plan put it in the generation config
        call = (
            f"tokenizer.src_lang = {translation.src_lang!r}\n"
            f'inputs = tokenizer(texts, return_tensors="pt"{", truncation=True" if sized else ""})'
        )
    else:
        if padding and tok.pad_token_id is None:
            raise TaskInputError(
                "this tokenizer has no padding token, so it cannot take several inputs at once: run one line at a time"
            )
        enc = tok([prefix + t for t in texts], return_tensors="pt", padding=padding, **sized)
        call = (
            f'inputs = tokenizer([{prefix!r} + text for text in texts], return_tensors="pt"'
            f"{', padding=True' if padding else ''}{', truncation=True' if sized else ''})"
        )
    return _Encoded(fit_inputs(model, enc), warnings, call)


def _cap_new_tokens(loaded: LoadedModel, generation: Generation, warnings: list[str]) -> None:
    """Keep the decoder within its position table (learned positions end in an IndexError past it)."""
    positions = model_positions(loaded.model)
    if positions is None:
        return
    config = generation.config
    room = positions - 1  # the decoder start token takes the first position
    wanted = config.max_new_tokens if config.max_new_tokens is not None else (config.max_length or 20) - 1
    if wanted > room:
        warnings.append(f"max_new_tokens cut from {wanted} to {room}: the decoder has {positions} positions")
        config.max_new_tokens, config.max_length = room, None
        if config.min_new_tokens is not None and config.min_new_tokens > room:
            config.min_new_tokens = room
        if config.min_length is not None and config.min_length > positions:
            config.min_length = positions


@dataclass
class _Source:
    """What a seq2seq task's preprocess hands on."""

    texts: list[str]
    prefix: str
    generation: Generation
    translation: Any = None  # translation: the plan (tasks/translation.py)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Decoded:
    """What forward hands on: the result, and with `keep` what "under the hood" shows."""

    result: Seq2SeqResult
    encoded: _Encoded
    out: Any = None  # generate's output (return_dict_in_generate when kept)
    recorder: ScoreRecorder | None = None


class Seq2Seq(Task[_Source, _Decoded, Seq2SeqResult]):
    """The shared run of the seq2seq tasks: encode (cut to what the model reads), generate (streamed), decode as
    the transformers 4 pipelines did."""

    def inputs(self, prepared: _Source) -> int:
        return len(prepared.texts)

    def _source(self, loaded: LoadedModel, source: _Source) -> _Source:
        config = source.generation.config
        if (
            config.min_new_tokens is not None
            and config.max_new_tokens is not None
            and config.min_new_tokens > config.max_new_tokens
        ):
            raise TaskInputError("Min new tokens is larger than Max new tokens")
        source.warnings = list(loaded.info.warnings) + source.warnings
        return source

    def forward(
        self, loaded: LoadedModel, prepared: _Source, cancel: threading.Event | None, emit: Emit | None, keep: bool
    ) -> _Decoded:
        import torch
        from transformers import LogitsProcessorList

        from tui_hf.core.generation.trace import Every

        tok, model = loaded.tokenizer, loaded.model
        texts, generation, translation = prepared.texts, prepared.generation, prepared.translation
        warnings = list(prepared.warnings)
        config = generation.config
        check_cancel(cancel)
        encoded = _encode(loaded, texts, prepared.prefix, translation)
        warnings += encoded.warnings
        _cap_new_tokens(loaded, generation, warnings)
        extra: dict[str, Any] = {}
        recorder = None
        if keep:
            beams = int(config.num_beams or 1)
            recorder = ScoreRecorder(beams, max(5, 2 * beams))
            extra = {"return_dict_in_generate": True, "logits_processor": LogitsProcessorList([recorder.processor])}
        due = Every()

        def result_of(sequences: Any) -> Seq2SeqResult:
            # as the transformers 4 pipelines decoded: special tokens dropped, spaces not "cleaned up"
            outputs = tok.batch_decode(sequences, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            made = Seq2SeqResult(
                self.name,
                [Generated(t, o) for t, o in zip(texts, outputs)],
                prepared.prefix,
                shown(generation),
                warnings,
                dict(generation.sources),
            )
            if translation is not None:
                made.src_lang, made.tgt_lang = translation.src_lang, translation.tgt_lang
                made.forced_token = translation.forced_token
            return made

        def progress(input_ids: Any) -> None:
            # Beam search hands the criteria its candidates, best first per input: the first is shown.
            if emit is not None and due():
                emit(result_of(input_ids[:: input_ids.shape[0] // len(texts)]))

        criteria = cancel_criteria(cancel, on_token=progress if emit is not None else None)
        with torch.inference_mode():
            out = model.generate(**encoded.inputs, generation_config=config, stopping_criteria=criteria, **extra)
        check_cancel(cancel)
        return _Decoded(result_of(out.sequences if keep else out), encoded, out, recorder)

    def postprocess(self, loaded: LoadedModel, prepared: _Source, forwarded: _Decoded) -> Seq2SeqResult:
        return forwarded.result

    def explain(
        self, loaded: LoadedModel, prepared: _Source, forwarded: _Decoded, result: Seq2SeqResult
    ) -> Explanation:
        return _explain(
            loaded,
            self.name,
            forwarded.encoded,
            forwarded.out,
            forwarded.recorder,
            prepared.generation,
            prepared.translation,
        )


def _explain(
    loaded: LoadedModel, task: str, encoded: _Encoded, out: Any, recorder: Any, generation: Generation, translation: Any
) -> Explanation:
    tok, model = loaded.tokenizer, loaded.model
    ids = encoded.inputs["input_ids"]
    steps = [
        Step(
            encoded.call,
            "\n".join(
                [f"tokens[0]: {tok.convert_ids_to_tokens(ids[0].tolist())[:64]}", f"input_ids: {tensor_text(ids)}"]
            ),
            "the encoder reads the whole input once; the decoder then writes one token per step",
        )
    ]
    d_model = getattr(model.config, "d_model", None) or getattr(model.config, "hidden_size", "?")
    steps.append(
        Step(
            "encoder_hidden = model.get_encoder()(**inputs).last_hidden_state",
            f"shape ({ids.shape[0]}, {ids.shape[1]}, {d_model})",
            "one vector per input token, read by every decoder step through cross-attention",
        )
    )
    config = generation.config
    start = int(config.decoder_start_token_id) if config.decoder_start_token_id is not None else None
    settings = ", ".join(f"{k}={v!r}" for k, v in shown(generation).items())
    forced = ""
    if translation is not None and translation.forced_token:
        forced = (
            f"\nforced_bos_token_id={translation.forced_token_id} ({translation.forced_token}): the first "
            "generated token is the target language"
        )
    steps.append(
        Step(
            f"out = model.generate(**inputs, {settings},\n    return_dict_in_generate=True)",
            f"decoder starts from {tok.convert_ids_to_tokens([start]) if start is not None else '?'}{forced}",
            "num_beams > 1 keeps several candidates per step and returns the best",
        )
    )
    beam_indices = getattr(out, "beam_indices", None)
    decode = recorder.steps(out.sequences[0], 1, None if beam_indices is None else beam_indices[0])
    steps.append(
        Step(
            "probs = scores.softmax(-1)  # each step, as the generation processors left it",
            steps_text(tok, decode),
            "each step: the chosen token, its probability after the generation processors, and the top 5",
        )
    )
    steps.append(
        Step(
            "tokenizer.batch_decode(out.sequences, skip_special_tokens=True)",
            repr(tok.decode(out.sequences[0], skip_special_tokens=True)),
        )
    )
    return Explanation(f"{task} by hand", steps)


class _Prefixed(Seq2Seq):
    """Summarization and text2text: the task's settings, its prefix (task_specific_params, else the config's)."""

    def preprocess(self, loaded: LoadedModel, texts: list[str], options: dict[str, Any]) -> _Source:
        generation = seq2seq_generation(get_task(self.name), loaded, self.name, options)
        prefix = str(task_params(loaded, self.name).get("prefix", "") or _config_prefix(loaded))
        return self._source(loaded, _Source(clean_texts(texts), prefix, generation))


class Summarize(_Prefixed):
    name = "summarization"


class Text2Text(_Prefixed):
    name = "text2text-generation"


class Translate(Seq2Seq):
    """T5's prefixes, or a multilingual model's language codes and its forced first token (tasks/translation.py)."""

    name = "translation"

    def preprocess(self, loaded: LoadedModel, texts: list[str], options: dict[str, Any]) -> _Source:
        from tui_hf.core.tasks.translation import plan_translation

        texts = clean_texts(texts)
        plan = plan_translation(loaded, options)
        prefix = plan.prefix if plan.prefix or plan.forced_token else _config_prefix(loaded)
        return self._source(loaded, _Source(texts, prefix, plan.generation, plan, list(plan.warnings)))


summarize, text2text, translate = Summarize(), Text2Text(), Translate()


def _config_prefix(loaded: LoadedModel) -> str:
    return config_prefix(loaded.model.config)  # one implementation, shared with seq2seq training
