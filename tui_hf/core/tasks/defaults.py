"""A task's settings for a loaded model, and where each value comes from: the one place that decides them.

Runners call these; the UI form and the command line read them through `forms.task_settings`. A registry
field whose default is None means "the model's": its value comes from the model's `generation_config`, its
`task_specific_params`, its tokenizer, or the pipeline transformers runs for the task, in the order
transformers applies them.

Sequence-to-sequence tasks follow the transformers 4.57 pipelines (removed in 5): their defaults of 4 beams and
256 new tokens; the model's generation_config for every key those defaults leave unset; the model's own
`max_length` instead of the 256 new tokens when it sets one; then `task_specific_params[task]` on top (a CNN
summariser's 4 beams, min_length 56, max_length 142, length_penalty 2.0, no_repeat_ngram_size 3); then the
user's values. Text generation and chat follow the transformers 5 text-generation pipeline: the model's
generation_config, then the pipeline's defaults (256 new tokens, sampling at temperature 0.7) for what it
leaves unset.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tui_hf.core import seq2seq_io
from tui_hf.core.models import LoadedModel

if TYPE_CHECKING:
    from tui_hf.core.tasks.registry import TaskSpec

GIVEN = "given"  # the user set it
MODEL = "model"  # the model's generation_config (or its tokenizer/config, for languages)
TASK_PARAMS = "task_specific_params"  # config.task_specific_params[task]
PIPELINE = "pipeline default"  # the transformers pipeline's own default for the task
LIBRARY = "library default"  # GenerationConfig's default when nothing else sets it
TUI_HF = "tui-hf default"

SEQ2SEQ = ("summarization", "translation", "text2text-generation")
CAUSAL = ("text-generation", "conversational")

# transformers 4.57 Text2TextGenerationPipeline._default_generation_config (Summarization and Translation
# inherit it); the seq2seq pipelines are gone from transformers 5, so the numbers are recorded here.
V4_SEQ2SEQ_DEFAULTS: dict[str, Any] = {"max_new_tokens": 256, "num_beams": 4}
_V4_DEFAULT_MAX_LENGTH = 20


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # GIVEN, MODEL, TASK_PARAMS, PIPELINE, LIBRARY or TUI_HF
    note: str = ""  # e.g. "max_length 142": what the shown value was derived from

    def describe(self) -> str:
        return f"{self.value} ({self.source}{': ' + self.note if self.note else ''})"


@dataclass
class Generation:
    """The generation config a seq2seq/causal run passes to generate, and the form's view of it."""

    config: Any  # transformers.GenerationConfig
    settings: dict[str, Setting]
    sources: dict[str, str] = field(default_factory=dict)  # generation key -> source, for every key set


def given(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options the user actually set: None means "not given, use the model's"."""
    return {k: v for k, v in (options or {}).items() if v is not None and v != ""}


def static_settings(spec: TaskSpec, user: dict[str, Any]) -> dict[str, Setting]:
    return {f.name: Setting(user[f.name], GIVEN) if f.name in user else Setting(f.default, TUI_HF) for f in spec.fields}


def _library_defaults() -> dict[str, Any]:
    from transformers import GenerationConfig

    return GenerationConfig._get_default_generation_params()


def _model_set(loaded: LoadedModel) -> dict[str, Any]:
    """The generation keys the model's generation_config sets (a value other than the library's unset)."""
    from transformers import GenerationConfig

    model_cfg = getattr(loaded.model, "generation_config", None)
    if model_cfg is None:
        return {}
    unset = GenerationConfig().to_dict()
    return {
        k: v
        for k, v in model_cfg.to_dict().items()
        if not k.startswith("_") and k != "transformers_version" and v is not None and v != unset.get(k)
    }


def task_params(loaded: LoadedModel, key: str) -> dict[str, Any]:
    return seq2seq_io.task_params(loaded.model.config, key)  # one implementation, shared with seq2seq training


def seq2seq_generation(
    spec: TaskSpec, loaded: LoadedModel, params_key: str, options: Mapping[str, Any] | None = None
) -> Generation:
    """The GenerationConfig a transformers 4.57 seq2seq pipeline would have used, plus the user's values."""
    from transformers import GenerationConfig

    library = _library_defaults()
    values: dict[str, Any] = dict(V4_SEQ2SEQ_DEFAULTS)
    sources = dict.fromkeys(values, PIPELINE)
    model_set = _model_set(loaded)
    for key, value in model_set.items():
        # 4.57 copied a model value only where its pipeline default still held the library's value
        if values.get(key, library.get(key)) == library.get(key):
            values[key], sources[key] = value, MODEL
    if model_set.get("max_length") not in (None, _V4_DEFAULT_MAX_LENGTH) and "max_new_tokens" not in model_set:
        del values["max_new_tokens"], sources["max_new_tokens"]  # 4.57 honoured the model's max_length
    for key, value in task_params(loaded, params_key).items():
        if key != "prefix":
            values[key], sources[key] = value, TASK_PARAMS
    user = {k: v for k, v in given(options).items() if k in _GENERATION_FIELDS}
    _apply_user(values, sources, user)
    tok = loaded.tokenizer
    if values.get("pad_token_id") is None and getattr(tok, "pad_token_id", None) is not None:
        values["pad_token_id"] = tok.pad_token_id
    config = (
        copy.deepcopy(loaded.model.generation_config)
        if getattr(loaded.model, "generation_config", None)
        else GenerationConfig()
    )
    for key in ("max_new_tokens", "num_beams"):  # decided above, not the model's
        setattr(config, key, values.get(key))
    _lengths(config, values, library)
    config.update(**values)
    settings = _form_view(spec, values, sources, library, encoder_decoder=True)
    return Generation(config, settings, sources)


_GENERATION_FIELDS = {
    "max_new_tokens",
    "min_new_tokens",
    "num_beams",
    "length_penalty",
    "no_repeat_ngram_size",
    "do_sample",
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "early_stopping",
}


def _lengths(config: Any, values: dict[str, Any], library: dict[str, Any]) -> None:
    """Total lengths as decided: unset (None) where a new-token length rules (it takes precedence in generate),
    else the chosen value or the library's, never a None that generate would fill from the model's config."""
    for total, new in (("max_length", "max_new_tokens"), ("min_length", "min_new_tokens")):
        setattr(config, total, None if values.get(new) is not None else values.get(total, library[total]))


def _apply_user(values: dict[str, Any], sources: dict[str, str], user: dict[str, Any]) -> None:
    for key, value in user.items():
        values[key], sources[key] = value, GIVEN
    # A length the user gives in new tokens replaces the model's total lengths, so that a smaller min or a
    # larger max than the model's is honoured rather than silently combined with it.
    if "max_new_tokens" in user:
        values.pop("max_length", None), sources.pop("max_length", None)
    if "min_new_tokens" in user:
        values.pop("min_length", None), sources.pop("min_length", None)


def _form_view(
    spec: TaskSpec, values: dict[str, Any], sources: dict[str, str], library: dict[str, Any], *, encoder_decoder: bool
) -> dict[str, Setting]:
    """The form's fields as the run will use them. Total lengths (max_length, min_length) show as new tokens:
    an encoder-decoder's decoder starts with one start token, a decoder-only model's with the prompt."""
    out: dict[str, Setting] = {}
    for f in spec.fields:
        name = f.name
        if name == "max_new_tokens" and name in values and "max_length" in values:
            out[name] = Setting(
                values[name],
                sources[name],
                f"takes precedence over max_length "
                f"{values['max_length']} from {sources['max_length']}, as in transformers 4.57",
            )
        elif name in values:
            out[name] = Setting(values[name], sources[name])
        elif name == "max_new_tokens" and "max_length" in values:
            total = values["max_length"]
            out[name] = Setting(
                total - 1 if encoder_decoder else total,
                sources["max_length"],
                f"max_length {total}" + ("" if encoder_decoder else " including the prompt"),
            )
        elif name == "min_new_tokens" and values.get("min_length"):
            total = values["min_length"]
            out[name] = Setting(
                max(total - 1, 0) if encoder_decoder else total,
                sources["min_length"],
                f"min_length {total}" + ("" if encoder_decoder else " including the prompt"),
            )
        elif name == "max_new_tokens":
            total = library["max_length"]
            out[name] = Setting(total - 1 if encoder_decoder else total, LIBRARY, f"max_length {total}")
        elif name == "min_new_tokens":
            out[name] = Setting(0, LIBRARY)
        elif name in library and library[name] is not None:
            out[name] = Setting(library[name], LIBRARY)
        else:
            out[name] = Setting(f.default, TUI_HF)
    return out


def causal_generation(spec: TaskSpec, loaded: LoadedModel, options: Mapping[str, Any] | None = None) -> Generation:
    """What the transformers 5 text-generation pipeline would use: the user's values, then the model's
    generation_config, then the pipeline's defaults (sampling ones only when sampling)."""
    from transformers import GenerationConfig
    from transformers.pipelines.text_generation import TextGenerationPipeline

    library = _library_defaults()
    values = _model_set(loaded)
    sources = dict.fromkeys(values, MODEL)
    user = {k: v for k, v in given(options).items() if k in _GENERATION_FIELDS}
    _apply_user(values, sources, user)
    pipeline_defaults = TextGenerationPipeline._default_generation_config.to_diff_dict()
    pipeline_defaults.pop("transformers_version", None)
    sampling = values.get("do_sample", pipeline_defaults.get("do_sample", library["do_sample"]))
    for key, value in pipeline_defaults.items():
        if key in values or (key == "max_new_tokens" and "max_length" in values):
            continue
        if not sampling and key in _SAMPLING:
            continue
        values[key], sources[key] = value, PIPELINE
    tok = loaded.tokenizer
    if values.get("pad_token_id") is None:
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id  # GPT-2 has no pad token
        if pad is not None:
            values["pad_token_id"] = pad
    config = (
        copy.deepcopy(loaded.model.generation_config)
        if getattr(loaded.model, "generation_config", None)
        else GenerationConfig()
    )
    _lengths(config, values, library)
    config.update(**values)
    settings = _form_view(spec, values, sources, library, encoder_decoder=False)
    for f in spec.fields:  # seed, num_return_sequences, system: not generation_config values
        if f.name not in _GENERATION_FIELDS:
            user_value = given(options).get(f.name)
            if user_value is not None:
                settings[f.name] = Setting(user_value, GIVEN)
            elif f.default is not None:
                settings[f.name] = Setting(f.default, TUI_HF)
    return Generation(config, settings, sources)


_SAMPLING = {"temperature", "top_k", "top_p", "min_p", "top_h", "typical_p", "epsilon_cutoff", "eta_cutoff"}


def shown(generation: Generation) -> dict[str, Any]:
    """The generation values worth showing with a result: what is set, without token ids."""
    config = generation.config
    keys = [k for k in generation.sources if not k.endswith("token_id")]
    return {k: getattr(config, k) for k in keys if isinstance(getattr(config, k, None), (int, float, str, bool))}
