"""What an encoder-decoder is asked with, read from its tokenizer and config: shared by the inference tasks
(core/tasks) and seq2seq training (core/training), which may not import each other.

- A tokenizer that marks languages with tokens (mBART / mBART-50, NLLB, M2M100) and the codes it knows.
- A prefix written in the config for a task (T5's `task_specific_params["summarization"]["prefix"]`).
"""

from __future__ import annotations

import re
from typing import Any

NLLB_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")


def language_codes(tok: Any) -> tuple[str, list[str]] | None:
    """(family, codes) for a tokenizer that marks languages with tokens; None for one that does not."""
    if not callable(getattr(tok, "_build_translation_inputs", None)):
        return None
    if callable(getattr(tok, "get_lang_id", None)) and getattr(tok, "lang_code_to_id", None):
        return "m2m100", list(tok.lang_code_to_id)  # bare codes ("fr"); the token is __fr__
    if getattr(tok, "lang_code_to_id", None):
        return "mbart", list(tok.lang_code_to_id)
    extra = [t for t in (getattr(tok, "extra_special_tokens", None) or []) if isinstance(t, str)]
    extra += [t for t in (getattr(tok, "additional_special_tokens", None) or []) if isinstance(t, str)]
    codes = list(dict.fromkeys(t for t in extra if NLLB_CODE.match(t)))  # NLLB keeps them here in v5
    return ("nllb", codes) if codes else None


def forced_language_token(tok: Any, family: str, code: str) -> str:
    """The token a multilingual model is forced to write first for target language `code`."""
    return tok.get_lang_token(code) if family == "m2m100" else code


def task_params(config: Any, key: str) -> dict[str, Any]:
    params = getattr(config, "task_specific_params", None) or {}
    return dict(params.get(key) or {})


def config_prefix(config: Any) -> str:
    """A model-wide `config.prefix`, which the transformers 4 pipelines put before every input."""
    return str(getattr(config, "prefix", None) or "")
