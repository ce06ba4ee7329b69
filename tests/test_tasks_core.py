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


def generated_ids(loaded: Any, task: str, texts: list[str], options: dict[str, Any]) -> Any:
    """The token ids the runner's own generate call returned (decoder start first, for seq2seq)."""
    import torch

    seen: list[Any] = []
    original = loaded.model.generate

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        seen.append(out)
        return out

    loaded.model.generate = spy
    try:
        run(loaded, task, texts, options)
    finally:
        loaded.model.generate = original
    return seen[0] if isinstance(seen[0], torch.Tensor) else seen[0].sequences


def first_new_token(loaded: Any, text: str, options: dict[str, Any]) -> int:
    """The first token the model generates after the decoder start."""
    return int(generated_ids(loaded, "translation", [text], {"max_new_tokens": 3, **options})[0][1])


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


# -- generation settings start from the model -------------------------------------------------------------------

def test_summarization_uses_the_models_task_specific_params(tiny_bart_dir: Path) -> None:
    import torch

    from tui_hf.core.tasks.defaults import GIVEN, TASK_PARAMS, task_settings

    loaded = load(tiny_bart_dir, "summarization")
    settings = task_settings("summarization", loaded)
    assert settings["num_beams"].value == 3 and settings["num_beams"].source == TASK_PARAMS
    assert settings["max_new_tokens"].value == 11 and "max_length 12" in settings["max_new_tokens"].note
    assert settings["min_new_tokens"].value == 8
    assert (settings["length_penalty"].value, settings["no_repeat_ngram_size"].value) == (2.0, 3)
    text = "The quick brown fox jumps over the lazy dog."
    result = run(loaded, "summarization", [text])
    # the truth: generate called by hand with the config's summarization block
    enc = loaded.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        out = loaded.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], num_beams=3,
                                    max_length=12, min_length=9, length_penalty=2.0, no_repeat_ngram_size=3)
    assert result.items[0].output == loaded.tokenizer.decode(out[0], skip_special_tokens=True,
                                                            clean_up_tokenization_spaces=False)
    assert result.settings["num_beams"] == 3 and result.sources["num_beams"] == TASK_PARAMS
    # an explicit value overrides the model's
    assert task_settings("summarization", loaded, {"num_beams": 1})["num_beams"].source == GIVEN
    with torch.inference_mode():
        greedy = loaded.model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], num_beams=1,
                                       max_new_tokens=5, min_length=9, no_repeat_ngram_size=3)
    result = run(loaded, "summarization", [text], {"num_beams": 1, "max_new_tokens": 5})
    assert result.items[0].output == loaded.tokenizer.decode(greedy[0], skip_special_tokens=True,
                                                            clean_up_tokenization_spaces=False)


def test_text_generation_starts_from_the_models_generation_config(tmp_path: Path, tiny_gpt2_dir: Path) -> None:
    import shutil

    import torch
    from transformers import GenerationConfig

    from tui_hf.core.tasks.defaults import MODEL, PIPELINE, task_settings

    path = tmp_path / "gpt2-greedy"
    shutil.copytree(tiny_gpt2_dir, path)
    GenerationConfig(do_sample=False, max_new_tokens=7, bos_token_id=0, eos_token_id=None).save_pretrained(path)
    loaded = load(path, "text-generation")
    settings = task_settings("text-generation", loaded)
    assert (settings["max_new_tokens"].value, settings["max_new_tokens"].source) == (7, MODEL)
    assert (settings["do_sample"].value, settings["do_sample"].source) == (False, MODEL)
    result = run(loaded, "text-generation", ["The quick brown"])
    enc = loaded.tokenizer("The quick brown", return_tensors="pt")
    with torch.inference_mode():
        out = loaded.model.generate(**enc, do_sample=False, max_new_tokens=7, pad_token_id=1)
    assert result.sequences[0] == loaded.tokenizer.decode(out[0][enc["input_ids"].shape[1]:], skip_special_tokens=True)
    # a model that sets nothing gets the transformers 5 pipeline's defaults
    plain = load(tiny_gpt2_dir, "text-generation")
    assert task_settings("text-generation", plain)["max_new_tokens"] == type(settings["max_new_tokens"])(256, PIPELINE)


def test_fields_whose_default_is_the_models_are_none() -> None:
    from tui_hf.core.tasks import get_task

    for task in ("summarization", "translation", "text2text-generation", "text-generation", "conversational"):
        fields = {f.name: f.default for f in get_task(task).fields}
        assert fields["max_new_tokens"] is None, task


def test_new_tokens_are_capped_to_the_decoders_positions(tiny_bart_dir: Path) -> None:
    loaded = load(tiny_bart_dir, "summarization")
    result = run(loaded, "summarization", ["The quick brown fox."], {"max_new_tokens": 300, "min_new_tokens": 200,
                                                                      "num_beams": 1})
    assert any("cut from 300 to 127" in w for w in result.warnings)
    ids = generated_ids(loaded, "summarization", ["The quick brown fox."], {"max_new_tokens": 300,
                                                                             "min_new_tokens": 200, "num_beams": 1})
    assert ids.shape[1] == 128  # the decoder start and 127 new tokens: every position, none past it


# -- over-long inputs are cut to the model's limit, with a warning ---------------------------------------------

LONG = "word " * 200_000  # 1 MB


def _cut_warning(result: Any) -> bool:
    return any("reads at most" in w and "were used" in w for w in result.warnings)


def test_long_input_classification_matches_the_pipeline_on_the_first_tokens(tiny_bert_cls_dir: Path) -> None:
    from transformers import pipeline

    loaded = load(tiny_bert_cls_dir, "text-classification")
    result = run(loaded, "text-classification", [LONG, "short one"])
    assert _cut_warning(result) and "input 1" in result.warnings[-1]
    pipe = pipeline("text-classification", model=loaded.model, tokenizer=loaded.tokenizer)
    truth = pipe(LONG, top_k=None, truncation=True, max_length=128)
    assert {s.label: round(s.score, 5) for s in result.items[0].labels} == \
        {r["label"]: round(r["score"], 5) for r in truth}


@pytest.mark.parametrize("task, fixture, text, options", [
    ("token-classification", "tiny_ner_dir", LONG, {}),
    ("fill-mask", "tiny_mlm_dir", "Paris is the [MASK] of France. " + LONG, {}),
    ("zero-shot-classification", "tiny_nli_dir", LONG, {"candidate_labels": "sport, politics"}),
    ("feature-extraction", "tiny_bert_cls_dir", LONG, {}),
    ("summarization", "tiny_bart_dir", LONG[:100_000], {"max_new_tokens": 2}),
    ("translation", "tiny_mbart50_dir", LONG[:100_000], {"max_new_tokens": 2}),
], ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "")
def test_long_inputs_are_cut_with_a_warning(request: pytest.FixtureRequest, task: str, fixture: str, text: str,
                                            options: dict[str, Any]) -> None:
    loaded = load(request.getfixturevalue(fixture), task)
    result = run(loaded, task, [text], options)
    assert _cut_warning(result), result.warnings


def test_a_mask_past_the_limit_says_so(tiny_mlm_dir: Path) -> None:
    loaded = load(tiny_mlm_dir, "fill-mask")
    with pytest.raises(TaskInputError, match="past the 128 tokens"):
        run(loaded, "fill-mask", [LONG[:5000] + " [MASK]."])
