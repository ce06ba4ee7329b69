"""How a translation model is asked for a language pair, per family.

- mBART / mBART-50 / NLLB / M2M100: the tokenizer's own translation inputs (`_build_translation_inputs`, what
  the transformers 4 pipeline called): the source code as a special token, the target forced as the first
  generated token (`forced_bos_token_id`).
- Marian: a single pair fixed by its weights (refused when the request contradicts its tokenizer or name),
  or a multi-target model asked with a `>>fra<<` token in front of the text.
- T5: a prefix from `task_specific_params["translation_en_to_fr"]` ("translate English to French: ").
- Other models: a single pair by training; checked against `config.langs` (FSMT) or the name when known.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tui_hf.core.errors import TaskInputError
from tui_hf.core.models import LoadedModel
from tui_hf.core.seq2seq_io import forced_language_token
from tui_hf.core.seq2seq_io import language_codes as _tok_codes
from tui_hf.core.tasks import languages
from tui_hf.core.tasks.defaults import (
    GIVEN,
    MODEL,
    TASK_PARAMS,
    TUI_HF,
    Generation,
    Setting,
    given,
    seq2seq_generation,
)

T5_FAMILY = {"t5", "mt5", "umt5", "longt5", "t5gemma", "switch_transformers"}
_PAIR_IN_NAME = re.compile(r"(?:opus-mt-(?:tc-(?:big|base)-)?|wmt\d\d-)([a-z]{2,3})-([a-z]{2,3})(?:$|[^a-z])")
DEFAULT_SOURCE, DEFAULT_TARGET = "en", "fr"  # when neither the user nor the model says


@dataclass
class TranslationPlan:
    family: str  # "language tokens", "marian", "marian multi-target", "t5 prefix", "single pair"
    src_lang: str  # the code used, in the model's spelling ("fr_XX", "fra_Latn", "fr", "en")
    tgt_lang: str
    generation: Generation
    prefix: str = ""  # put before each text (a T5 prefix, a Marian >>fra<< token)
    forced_token: str = ""  # the target-language token forced first (multilingual models)
    forced_token_id: int | None = None
    params_key: str = ""  # task_specific_params key whose settings apply, if any
    warnings: list[str] = field(default_factory=list)


def _names(loaded: LoadedModel) -> list[str]:
    return [
        str(n)
        for n in (loaded.resolved.ref.name, getattr(loaded.model.config, "_name_or_path", ""), loaded.info.source)
        if n
    ]


def known_pair(loaded: LoadedModel) -> tuple[str, str, str] | None:
    """(source, target, where it was read) for a single-pair model whose direction is written down."""
    tok, config = loaded.tokenizer, loaded.model.config
    src, tgt = getattr(tok, "source_lang", None), getattr(tok, "target_lang", None)
    if src and tgt:
        return str(src), str(tgt), "its tokenizer"
    langs = getattr(config, "langs", None)
    if isinstance(langs, (list, tuple)) and len(langs) == 2:
        return str(langs[0]), str(langs[1]), "its config"
    for name in _names(loaded):
        match = _PAIR_IN_NAME.search(name.lower())
        if match and languages.lookup(match.group(1)) and languages.lookup(match.group(2)):
            return match.group(1), match.group(2), f"its name ({name})"
    return None


def _same(a: str, b: str) -> bool:
    la, lb = languages.lookup(a), languages.lookup(b)
    return la == lb if la and lb else a.strip().lower() == b.strip().lower()


def _t5_pairs(loaded: LoadedModel) -> list[tuple[str, str]]:
    params = getattr(loaded.model.config, "task_specific_params", None) or {}
    pairs = []
    for key in params:
        parts = key.split("_")
        if len(parts) == 4 and parts[0] == "translation" and parts[2] == "to":
            pairs.append((parts[1], parts[3]))
    return pairs


def _iso1(text: str) -> str:
    lang = languages.lookup(text)
    return lang.iso1 if lang else text.strip().lower()


def plan_translation(loaded: LoadedModel, options: Mapping[str, Any] | None = None) -> TranslationPlan:
    """Decide codes, prefix, forced token and generation settings for `options` (src_lang, tgt_lang...)."""
    from tui_hf.core.tasks.registry import get_task

    spec = get_task("translation")
    user = given(options)
    tok, config = loaded.tokenizer, loaded.model.config
    marked = _tok_codes(tok)
    lang_settings: dict[str, Setting] = {}
    plan_args: dict[str, Any] = {}
    warnings: list[str] = []
    params_key = ""

    def pick(name: str, model_value: str | None, fallback: str) -> tuple[str, Setting]:
        if name in user:
            return str(user[name]), Setting(str(user[name]), GIVEN)
        if model_value:
            return model_value, Setting(model_value, MODEL)
        return fallback, Setting(fallback, TUI_HF)

    if marked is not None:
        family, codes = marked
        # each run sets tok.src_lang; the model's own default is the one it was loaded with
        own_src = loaded.pipelines.setdefault("translation:src_lang", getattr(tok, "src_lang", None))
        src_raw, lang_settings["src_lang"] = pick("src_lang", own_src, DEFAULT_SOURCE)
        tgt_raw, lang_settings["tgt_lang"] = pick("tgt_lang", getattr(tok, "tgt_lang", None), DEFAULT_TARGET)
        src = languages.resolve(src_raw, codes, "source language")
        tgt = languages.resolve(tgt_raw, codes, "target language")
        forced = forced_language_token(tok, family, tgt)
        plan_args.update(
            family="language tokens",
            src_lang=src,
            tgt_lang=tgt,
            forced_token=forced,
            forced_token_id=int(tok.convert_tokens_to_ids(forced)),
        )
    elif getattr(config, "model_type", "") == "marian" or type(tok).__name__.startswith("Marian"):
        targets = list(getattr(tok, "supported_language_codes", None) or [])
        pair = known_pair(loaded)
        src_raw, lang_settings["src_lang"] = pick("src_lang", pair[0] if pair else None, DEFAULT_SOURCE)
        if targets:  # one model, several target languages: a >>fra<< token starts the text
            tgt_raw, lang_settings["tgt_lang"] = pick("tgt_lang", None, targets[0])
            tgt = languages.resolve(tgt_raw, targets, "target language")
            plan_args.update(family="marian multi-target", src_lang=src_raw, tgt_lang=tgt, prefix=tgt + " ")
        else:
            tgt_raw, lang_settings["tgt_lang"] = pick("tgt_lang", pair[1] if pair else None, DEFAULT_TARGET)
            _check_pair(loaded, pair, src_raw, tgt_raw, warnings)
            plan_args.update(family="marian", src_lang=src_raw, tgt_lang=tgt_raw)
    else:
        pairs = _t5_pairs(loaded)
        t5 = getattr(config, "model_type", "") in T5_FAMILY
        if pairs or t5:
            first = pairs[0] if pairs else (None, None)
            src_raw, lang_settings["src_lang"] = pick("src_lang", first[0], DEFAULT_SOURCE)
            tgt_raw, lang_settings["tgt_lang"] = pick("tgt_lang", first[1], DEFAULT_TARGET)
            for key in ("src_lang", "tgt_lang"):
                if lang_settings[key].source == MODEL:
                    lang_settings[key] = Setting(lang_settings[key].value, TASK_PARAMS)
            src, tgt = _iso1(src_raw), _iso1(tgt_raw)
            key = f"translation_{src}_to_{tgt}"
            params = (getattr(config, "task_specific_params", None) or {}).get(key)
            if params is not None:
                params_key, prefix = key, str(params.get("prefix", ""))
            elif t5:
                names = [languages.lookup(x).name if languages.lookup(x) else x.title() for x in (src, tgt)]
                prefix = f"translate {names[0]} to {names[1]}: "  # how T5 was trained to be asked
                if pairs:
                    warnings.append(
                        f"this model's config names prefixes for {_pairs_text(pairs)} only; asking with "
                        f"{prefix.strip()!r}"
                    )
            else:
                raise TaskInputError(f"this model translates {_pairs_text(pairs)}; not {src}→{tgt}")
            plan_args.update(family="t5 prefix", src_lang=src, tgt_lang=tgt, prefix=prefix)
        else:
            pair = known_pair(loaded)
            src_raw, lang_settings["src_lang"] = pick("src_lang", pair[0] if pair else None, DEFAULT_SOURCE)
            tgt_raw, lang_settings["tgt_lang"] = pick("tgt_lang", pair[1] if pair else None, DEFAULT_TARGET)
            _check_pair(loaded, pair, src_raw, tgt_raw, warnings)
            plan_args.update(family="single pair", src_lang=src_raw, tgt_lang=tgt_raw)
    generation = seq2seq_generation(spec, loaded, params_key, options)
    if plan_args.get("forced_token_id") is not None:
        generation.config.forced_bos_token_id = plan_args["forced_token_id"]
        generation.sources["forced_bos_token_id"] = "target language"
    generation.settings = {**generation.settings, **lang_settings}
    return TranslationPlan(generation=generation, params_key=params_key, warnings=warnings, **plan_args)


def _pairs_text(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{s}→{t}" for s, t in pairs)


def _check_pair(
    loaded: LoadedModel, pair: tuple[str, str, str] | None, src: str, tgt: str, warnings: list[str]
) -> None:
    """A single-pair model translates one direction: refuse a request that contradicts what is written down,
    and say so when nothing is (the weights decide, whatever was asked)."""
    if pair is None:
        warnings.append(
            "this model's language pair is not written in its tokenizer, config or name: it translates "
            f"the direction it was trained for, whatever {src}→{tgt} says"
        )
        return
    model_src, model_tgt, where = pair
    for asked, own, side in ((src, model_src, "from"), (tgt, model_tgt, "to")):
        if not _same(asked, own):
            raise TaskInputError(
                f"this model translates {model_src}→{model_tgt} only (from {where}); it cannot "
                f"translate {side} {asked!r}"
            )
