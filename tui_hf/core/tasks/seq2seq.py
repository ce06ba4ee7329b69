"""summarization, translation and text2text-generation on AutoModelForSeq2SeqLM + generate.

transformers 5 removed these pipelines; this keeps their transformers 4 behaviour: the prefix from
`config.task_specific_params` (T5's "summarize: ", "translate English to French: "), its generation
settings as defaults, and for multilingual models the tokenizer's source language plus a forced
target-language token (mBART, NLLB, M2M100).
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
    cancel_criteria,
    check_cancel,
    clean_texts,
    fit_inputs,
)

LANGUAGES = {"en": "English", "fr": "French", "de": "German", "ro": "Romanian", "es": "Spanish", "it": "Italian",
             "pt": "Portuguese", "nl": "Dutch", "ru": "Russian", "zh": "Chinese", "ja": "Japanese"}


@dataclass
class Generated:
    input: str
    output: str


@dataclass
class Seq2SeqResult:
    task: str
    items: list[Generated]
    prefix: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    explanation: Explanation | None = None  # under the hood, when asked for


def _task_params(loaded: LoadedModel, key: str) -> dict[str, Any]:
    params = getattr(loaded.model.config, "task_specific_params", None) or {}
    return dict(params.get(key) or {})


def _generate(loaded: LoadedModel, task: str, texts: list[str], prefix: str, settings: dict[str, Any],
              cancel: threading.Event | None) -> Seq2SeqResult:
    import torch

    tok, model = loaded.tokenizer, loaded.model
    check_cancel(cancel)
    enc = fit_inputs(model, tok([prefix + t for t in texts], return_tensors="pt", padding=True, truncation=True))
    with torch.inference_mode():
        out = model.generate(**enc, **settings, stopping_criteria=cancel_criteria(cancel))
    check_cancel(cancel)
    outputs = tok.batch_decode(out, skip_special_tokens=True)
    shown = {k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool))}
    return Seq2SeqResult(task, [Generated(t, o.strip()) for t, o in zip(texts, outputs)], prefix, shown,
                         list(loaded.info.warnings))


def _beams_and_lengths(opts: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    beams = int(opts.get("num_beams") or defaults.get("num_beams") or 1)
    settings["num_beams"] = max(beams, 1)
    settings["max_new_tokens"] = max(int(opts.get("max_new_tokens") or 60), 1)
    if opts.get("min_new_tokens"):
        settings["min_new_tokens"] = int(opts["min_new_tokens"])
        if settings["min_new_tokens"] > settings["max_new_tokens"]:
            raise TaskInputError("Min new tokens is larger than Max new tokens")
    for key in ("length_penalty", "no_repeat_ngram_size", "early_stopping"):
        if key in defaults:
            settings[key] = defaults[key]
    return settings


def summarize(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
              cancel: threading.Event | None = None, emit: Emit | None = None, *,
              explain: bool = False) -> Seq2SeqResult:
    opts = options or {}
    params = _task_params(loaded, "summarization")
    return _generate(loaded, "summarization", clean_texts(texts), params.get("prefix", ""),
                     _beams_and_lengths(opts, params), cancel)


def text2text(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
              cancel: threading.Event | None = None, emit: Emit | None = None, *,
              explain: bool = False) -> Seq2SeqResult:
    return _generate(loaded, "text2text-generation", clean_texts(texts), "", _beams_and_lengths(options or {}, {}),
                     cancel)


def _language_code(tok: Any, lang: str) -> str | None:
    """The tokenizer's own code for `lang` ("fr" -> "fr_XX" for mBART, "fra_Latn" for NLLB), if it has codes."""
    codes: list[str] = [t for t in getattr(tok, "additional_special_tokens", None) or [] if isinstance(t, str)]
    codes += list(getattr(tok, "lang_code_to_id", {}) or {})
    if lang in codes:
        return lang
    for code in codes:
        bare = code.strip("_")
        if bare.split("_")[0] == lang or bare.startswith(lang + "_"):
            return code
    return None


def translate(loaded: LoadedModel, texts: list[str], options: dict[str, Any] | None = None,
              cancel: threading.Event | None = None, emit: Emit | None = None, *,
              explain: bool = False) -> Seq2SeqResult:
    opts = {"src_lang": "en", "tgt_lang": "fr", **(options or {})}
    src, tgt = str(opts["src_lang"]).strip(), str(opts["tgt_lang"]).strip()
    tok, model = loaded.tokenizer, loaded.model
    texts = clean_texts(texts)
    src_code, tgt_code = _language_code(tok, src), _language_code(tok, tgt)
    if src_code is not None or tgt_code is not None:  # a multilingual model: language tokens, no prefix
        if src_code is None or tgt_code is None:
            raise TaskInputError(f"this model does not know language {src if src_code is None else tgt!r}; "
                                 "use its own codes (e.g. fr_XX for mBART, fra_Latn for NLLB)")
        if hasattr(tok, "src_lang"):
            tok.src_lang = src_code
        settings = _beams_and_lengths(opts, {})
        settings["forced_bos_token_id"] = tok.convert_tokens_to_ids(tgt_code)
        return _generate(loaded, "translation", texts, "", settings, cancel)
    src_name, tgt_name = LANGUAGES.get(src, src.title()), LANGUAGES.get(tgt, tgt.title())
    params = _task_params(loaded, f"translation_{src}_to_{tgt}")
    if params.get("prefix") is not None:
        prefix = params["prefix"]
    elif getattr(model.config, "model_type", "") in ("t5", "mt5", "umt5", "longt5"):
        prefix = f"translate {src_name} to {tgt_name}: "  # how T5 was trained to be asked
    else:
        prefix = ""  # a single-pair model (Marian opus-mt-en-fr...): the direction is in the weights
    return _generate(loaded, "translation", texts, prefix, _beams_and_lengths(opts, params), cancel)
