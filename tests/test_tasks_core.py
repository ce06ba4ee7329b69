"""Task runners in the core, on tiny random models built offline, against independent truths: the library's
own pipelines and tokenizers, the model's logits computed here, an uninterrupted run."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from tui_hf.core.errors import Cancelled, TaskInputError


def load(path: Path, task: str) -> Any:
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load as load_model
    from tui_hf.core.tasks import get_task

    return load_model(resolve(parse_ref(str(path))), get_task(task), "cpu")


def run(loaded: Any, task: str, texts: list[str], options: dict[str, Any] | None = None, **kw: Any) -> Any:
    from tui_hf.core.tasks import get_task

    return get_task(task).load_runner()(loaded, texts, options, **kw)


def first_new_token(loaded: Any, text: str, options: dict[str, Any]) -> int:
    """The first token the model generates after the decoder start, through the runner's own generate call."""
    import torch

    seen: list[Any] = []
    original = loaded.model.generate

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        seen.append(out)
        return out

    loaded.model.generate = spy
    try:
        run(loaded, "translation", [text], {"max_new_tokens": 3, **options})
    finally:
        loaded.model.generate = original
    out = seen[0]
    sequences = out if isinstance(out, torch.Tensor) else out.sequences
    return int(sequences[0][1])


# -- translation: every family forces or prefixes the target language -----------------------------------------

@pytest.mark.parametrize("fixture, asked, code, token", [
    ("tiny_mbart50_dir", "French", "fr_XX", "fr_XX"),
    ("tiny_mbart50_dir", "de", "de_DE", "de_DE"),
    ("tiny_nllb_dir", "French", "fra_Latn", "fra_Latn"),
    ("tiny_nllb_dir", "deu_Latn", "deu_Latn", "deu_Latn"),
    ("tiny_m2m100_dir", "fr", "fr", "__fr__"),
    ("tiny_m2m100_dir", "German", "de", "__de__"),
])
def test_multilingual_translation_forces_the_target_language(request: pytest.FixtureRequest, fixture: str,
                                                            asked: str, code: str, token: str) -> None:
    loaded = load(request.getfixturevalue(fixture), "translation")
    expected_id = loaded.tokenizer.convert_tokens_to_ids(token)  # the tokenizer's own id for the code
    assert expected_id != loaded.tokenizer.unk_token_id
    result = run(loaded, "translation", ["The quick brown fox."], {"src_lang": "English", "tgt_lang": asked,
                                                                  "max_new_tokens": 3})
    assert (result.tgt_lang, result.forced_token) == (code, token)
    assert first_new_token(loaded, "The quick brown fox.", {"src_lang": "English", "tgt_lang": asked}) == expected_id


def test_multilingual_source_language_is_encoded(tiny_nllb_dir: Path) -> None:
    loaded = load(tiny_nllb_dir, "translation")
    result = run(loaded, "translation", ["Bonjour"], {"src_lang": "French", "tgt_lang": "en", "max_new_tokens": 2},
                 explain=True)
    assert result.src_lang == "fra_Latn"
    assert "fra_Latn" in result.explanation.steps[0].value  # the source code token starts the input


@pytest.mark.parametrize("fixture, lang, listed", [
    ("tiny_mbart50_dir", "Klingon", "fr_XX"),
    ("tiny_nllb_dir", "xx", "fra_Latn"),
    ("tiny_m2m100_dir", "Klingon", "fr"),
])
def test_unknown_language_lists_the_models_codes(request: pytest.FixtureRequest, fixture: str, lang: str,
                                                 listed: str) -> None:
    loaded = load(request.getfixturevalue(fixture), "translation")
    with pytest.raises(TaskInputError) as info:
        run(loaded, "translation", ["hello"], {"src_lang": "en", "tgt_lang": lang})
    assert repr(lang) in str(info.value) and listed in str(info.value)


def test_ambiguous_language_names_the_candidates(tiny_nllb_dir: Path) -> None:
    loaded = load(tiny_nllb_dir, "translation")
    with pytest.raises(TaskInputError, match="zho_Hans, zho_Hant"):
        run(loaded, "translation", ["hello"], {"src_lang": "en", "tgt_lang": "Chinese"})


def test_marian_single_pair_refuses_another_direction(tiny_marian_dir: Path) -> None:
    loaded = load(tiny_marian_dir, "translation")
    result = run(loaded, "translation", ["The quick brown fox."], {"max_new_tokens": 3})
    assert (result.src_lang, result.tgt_lang, result.forced_token, result.prefix) == ("en", "fr", "", "")
    run(loaded, "translation", ["The fox."], {"src_lang": "English", "tgt_lang": "French", "max_new_tokens": 2})
    with pytest.raises(TaskInputError, match="en→fr only"):
        run(loaded, "translation", ["The fox."], {"src_lang": "en", "tgt_lang": "German"})


def test_marian_pair_read_from_its_name(tiny_opus_named_dir: Path) -> None:
    loaded = load(tiny_opus_named_dir, "translation")
    result = run(loaded, "translation", ["The fox."], {"max_new_tokens": 2})
    assert (result.src_lang, result.tgt_lang) == ("en", "de")
    with pytest.raises(TaskInputError, match="en→de only"):
        run(loaded, "translation", ["The fox."], {"tgt_lang": "fr"})


def test_marian_multi_target_puts_the_language_token_first(tiny_marian_multi_dir: Path) -> None:
    loaded = load(tiny_marian_multi_dir, "translation")
    result = run(loaded, "translation", ["The fox."], {"tgt_lang": "Spanish", "max_new_tokens": 2}, explain=True)
    assert result.tgt_lang == ">>spa<<" and result.prefix == ">>spa<< "
    assert ">>spa<<" in result.explanation.steps[0].value


def test_t5_prefix_from_the_models_config(tiny_t5_dir: Path) -> None:
    loaded = load(tiny_t5_dir, "translation")
    result = run(loaded, "translation", ["The fox."], {"max_new_tokens": 2})  # the config's first pair
    assert (result.src_lang, result.tgt_lang, result.prefix) == ("en", "de", "translate English to German: ")
    result = run(loaded, "translation", ["The fox."], {"src_lang": "English", "tgt_lang": "French",
                                                        "max_new_tokens": 2})
    assert result.prefix == "translate English to French: "
    assert any("en→de only" in w for w in result.warnings)
