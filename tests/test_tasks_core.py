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


@pytest.mark.parametrize(
    "fixture, asked, code, token",
    [
        ("tiny_mbart50_dir", "French", "fr_XX", "fr_XX"),
        ("tiny_mbart50_dir", "de", "de_DE", "de_DE"),
        ("tiny_nllb_dir", "French", "fra_Latn", "fra_Latn"),
        ("tiny_nllb_dir", "deu_Latn", "deu_Latn", "deu_Latn"),
        ("tiny_m2m100_dir", "fr", "fr", "__fr__"),
        ("tiny_m2m100_dir", "German", "de", "__de__"),
    ],
)
def test_multilingual_translation_forces_the_target_language(
    request: pytest.FixtureRequest, fixture: str, asked: str, code: str, token: str
) -> None:
    loaded = load(request.getfixturevalue(fixture), "translation")
    expected_id = loaded.tokenizer.convert_tokens_to_ids(token)  # the tokenizer's own id for the code
    assert expected_id != loaded.tokenizer.unk_token_id
    result = run(
        loaded, "translation", ["The quick brown fox."], {"src_lang": "English", "tgt_lang": asked, "max_new_tokens": 3}
    )
    assert (result.tgt_lang, result.forced_token) == (code, token)
    assert first_new_token(loaded, "The quick brown fox.", {"src_lang": "English", "tgt_lang": asked}) == expected_id


def test_multilingual_source_language_is_encoded(tiny_nllb_dir: Path) -> None:
    loaded = load(tiny_nllb_dir, "translation")
    result = run(
        loaded, "translation", ["Bonjour"], {"src_lang": "French", "tgt_lang": "en", "max_new_tokens": 2}, explain=True
    )
    assert result.src_lang == "fra_Latn"
    assert "fra_Latn" in result.explanation.steps[0].value  # the source code token starts the input


@pytest.mark.parametrize(
    "fixture, lang, listed",
    [
        ("tiny_mbart50_dir", "Klingon", "fr_XX"),
        ("tiny_nllb_dir", "xx", "fra_Latn"),
        ("tiny_m2m100_dir", "Klingon", "fr"),
    ],
)
def test_unknown_language_lists_the_models_codes(
    request: pytest.FixtureRequest, fixture: str, lang: str, listed: str
) -> None:
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
    result = run(
        loaded, "translation", ["The fox."], {"src_lang": "English", "tgt_lang": "French", "max_new_tokens": 2}
    )
    assert result.prefix == "translate English to French: "
    assert any("en→de only" in w for w in result.warnings)


# -- generation settings start from the model -------------------------------------------------------------------


def test_summarization_uses_the_models_task_specific_params(tiny_bart_dir: Path) -> None:
    import torch

    from tui_hf.core.tasks.defaults import GIVEN, TASK_PARAMS
    from tui_hf.core.tasks.forms import task_settings

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
        out = loaded.model.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            num_beams=3,
            max_length=12,
            min_length=9,
            length_penalty=2.0,
            no_repeat_ngram_size=3,
        )
    assert result.items[0].output == loaded.tokenizer.decode(
        out[0], skip_special_tokens=True, clean_up_tokenization_spaces=False
    )
    assert result.settings["num_beams"] == 3 and result.sources["num_beams"] == TASK_PARAMS
    # an explicit value overrides the model's
    assert task_settings("summarization", loaded, {"num_beams": 1})["num_beams"].source == GIVEN
    with torch.inference_mode():
        greedy = loaded.model.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            num_beams=1,
            max_new_tokens=5,
            min_length=9,
            no_repeat_ngram_size=3,
        )
    result = run(loaded, "summarization", [text], {"num_beams": 1, "max_new_tokens": 5})
    assert result.items[0].output == loaded.tokenizer.decode(
        greedy[0], skip_special_tokens=True, clean_up_tokenization_spaces=False
    )


def test_text_generation_starts_from_the_models_generation_config(tmp_path: Path, tiny_gpt2_dir: Path) -> None:
    import shutil

    import torch
    from transformers import GenerationConfig

    from tui_hf.core.tasks.defaults import MODEL, PIPELINE
    from tui_hf.core.tasks.forms import task_settings

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
    assert result.sequences[0] == loaded.tokenizer.decode(out[0][enc["input_ids"].shape[1] :], skip_special_tokens=True)
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
    result = run(
        loaded,
        "summarization",
        ["The quick brown fox."],
        {"max_new_tokens": 300, "min_new_tokens": 200, "num_beams": 1},
    )
    assert any("cut from 300 to 127" in w for w in result.warnings)
    ids = generated_ids(
        loaded,
        "summarization",
        ["The quick brown fox."],
        {"max_new_tokens": 300, "min_new_tokens": 200, "num_beams": 1},
    )
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
    assert {s.label: round(s.score, 5) for s in result.items[0].labels} == {
        r["label"]: round(r["score"], 5) for r in truth
    }


@pytest.mark.parametrize(
    "task, fixture, text, options",
    [
        ("token-classification", "tiny_ner_dir", LONG, {}),
        ("fill-mask", "tiny_mlm_dir", "Paris is the [MASK] of France. " + LONG, {}),
        ("zero-shot-classification", "tiny_nli_dir", LONG, {"candidate_labels": "sport, politics"}),
        ("feature-extraction", "tiny_bert_cls_dir", LONG, {}),
        ("summarization", "tiny_bart_dir", LONG[:100_000], {"max_new_tokens": 2}),
        ("translation", "tiny_mbart50_dir", LONG[:100_000], {"max_new_tokens": 2}),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "",
)
def test_long_inputs_are_cut_with_a_warning(
    request: pytest.FixtureRequest, task: str, fixture: str, text: str, options: dict[str, Any]
) -> None:
    loaded = load(request.getfixturevalue(fixture), task)
    result = run(loaded, task, [text], options)
    assert _cut_warning(result), result.warnings


def test_a_mask_past_the_limit_says_so(tiny_mlm_dir: Path) -> None:
    loaded = load(tiny_mlm_dir, "fill-mask")
    with pytest.raises(TaskInputError, match="past the 128 tokens"):
        run(loaded, "fill-mask", [LONG[:5000] + " [MASK]."])


# -- under the hood: the explanation's numbers are the run's ---------------------------------------------------


def _lines(step: Any) -> list[str]:
    return [line for line in step.value.splitlines() if line.strip()]


def test_fill_mask_explanation_top_k_is_the_pipelines(tiny_mlm_dir: Path) -> None:
    from transformers import pipeline

    loaded = load(tiny_mlm_dir, "fill-mask")
    text = "Paris is the [MASK] of France."
    result = run(loaded, "fill-mask", [text], {"top_k": 4}, explain=True)
    truth = pipeline("fill-mask", model=loaded.model, tokenizer=loaded.tokenizer)(text, top_k=4)
    assert [c.token_id for c in result.items[0].masks[0]] == [int(t["token"]) for t in truth]
    line = _lines(result.explanation.steps[-1])[0]  # "input 1, position p: ids [...] -> 'tok' 0.1234, ..."
    ids = [int(i) for i in line.split("ids [")[1].split("]")[0].split(",")]
    scores = [float(part.rsplit(" ", 1)[1]) for part in line.split(" -> ")[1].split(", ")]
    assert ids == [int(t["token"]) for t in truth]
    assert scores == pytest.approx([t["score"] for t in truth], abs=1e-4)


def test_classification_explanation_reuses_the_runs_logits(tiny_bert_cls_dir: Path) -> None:
    from transformers import pipeline

    loaded = load(tiny_bert_cls_dir, "text-classification")
    texts = ["I love this movie", "This film was terrible and long"]
    calls = []
    original = loaded.model.forward
    loaded.model.forward = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        result = run(loaded, "text-classification", texts, explain=True)
    finally:
        loaded.model.forward = original
    assert len(calls) == 1  # one forward pass serves the result and "under the hood"
    truth = pipeline("text-classification", model=loaded.model, tokenizer=loaded.tokenizer)(texts, top_k=None)
    for item, rows in zip(result.items, truth):
        assert [(s.label, round(s.score, 5)) for s in item.labels] == [(r["label"], round(r["score"], 5)) for r in rows]
    predicted = result.explanation.steps[-1].value.split(" -> ")[1]
    assert predicted == str([item.top.label for item in result.items])


def test_embedding_explanation_reuses_the_runs_forward_pass(tiny_bert_cls_dir: Path) -> None:
    from transformers import pipeline

    loaded = load(tiny_bert_cls_dir, "feature-extraction")
    texts = ["I love this movie", "This film was terrible"]
    calls = []
    original = loaded.model.forward
    loaded.model.forward = lambda *a, **k: calls.append(1) or original(*a, **k)
    try:
        result = run(loaded, "feature-extraction", texts, {"normalize": False}, explain=True)
    finally:
        loaded.model.forward = original
    assert len(calls) == len(texts)
    pipe = pipeline("feature-extraction", model=loaded.model, tokenizer=loaded.tokenizer)
    for item, text in zip(result.items, texts):
        truth = pipe(text, return_tensors=True)[0].mean(dim=0)
        assert item.preview == pytest.approx(truth[:8].tolist(), abs=1e-5)
    assert "mean pooling" in result.explanation.steps[2].note


def test_explanation_is_skipped_for_a_large_batch(tiny_bert_cls_dir: Path) -> None:
    from tui_hf.core.tasks.common import EXPLAIN_LIMIT

    loaded = load(tiny_bert_cls_dir, "text-classification")
    result = run(loaded, "text-classification", [f"text {i}" for i in range(EXPLAIN_LIMIT + 1)], explain=True)
    assert result.explanation.steps == [] and "skipped" in result.explanation.note


def test_generation_explanation_steps_are_the_generated_tokens(tiny_gpt2_dir: Path) -> None:
    import torch

    loaded = load(tiny_gpt2_dir, "text-generation")
    result = run(
        loaded, "text-generation", ["The quick brown"], {"max_new_tokens": 6, "do_sample": False}, explain=True
    )
    enc = loaded.tokenizer("The quick brown", return_tensors="pt")
    with torch.inference_mode():
        out = loaded.model(**enc).logits[0, -1].softmax(-1)
    top_prob, top_id = out.max(-1)
    rows = _lines(result.explanation.steps[2])
    assert len(rows) == 6  # one row per generated token
    first = rows[0]
    assert repr(loaded.tokenizer.decode([int(top_id)])) in first.split("p=")[0]  # greedy: the argmax
    assert float(first.split("p=")[1].split()[0]) == pytest.approx(float(top_prob), abs=1e-3)


@pytest.mark.parametrize("beams", [1, 3])
def test_seq2seq_explanation_shows_encoder_input_and_decoder_steps(tiny_bart_dir: Path, beams: int) -> None:
    loaded = load(tiny_bart_dir, "summarization")
    options = {"num_beams": beams, "max_new_tokens": 6, "min_new_tokens": 6}
    result = run(loaded, "summarization", ["The quick brown fox."], options, explain=True)
    assert result.explanation.steps[0].code.startswith("inputs = tokenizer(")
    rows = _lines(result.explanation.steps[3])
    ids = generated_ids(loaded, "summarization", ["The quick brown fox."], options)[0][1:].tolist()
    assert len(rows) == len(ids) == 6  # one row per token of the returned sequence (the kept beam)
    for row, token in zip(rows, ids):
        assert repr(loaded.tokenizer.decode([token])) in row.split("p=")[0] and "p=?" not in row
    assert result.explanation.steps[-1].value == repr(result.items[0].output)


def test_translation_explanation_starts_with_the_forced_token(tiny_nllb_dir: Path) -> None:
    loaded = load(tiny_nllb_dir, "translation")
    result = run(loaded, "translation", ["Hello"], {"tgt_lang": "French", "max_new_tokens": 3}, explain=True)
    first = _lines(result.explanation.steps[3])[0]
    assert "'fra_Latn'" in first.split("p=")[0] and "p=1.000" in first


def test_chat_explanation_shows_the_rendered_template(tiny_chat_dir: Path) -> None:
    loaded = load(tiny_chat_dir, "conversational")
    result = run(loaded, "conversational", ["hello"], {"max_new_tokens": 3, "do_sample": False}, explain=True)
    assert "<|user|>hello" in result.explanation.steps[0].value and "<|assistant|>" in result.explanation.steps[0].value
    assert len(_lines(result.explanation.steps[2])) == 3


# -- breakage a user would notice --------------------------------------------------------------------------------


def test_cancel_stops_generation_early(tmp_path: Path, tiny_gpt2_dir: Path) -> None:
    """Against an uncancelled run of the same settings: a cancel at the first streamed piece ends it."""
    loaded = load(tiny_gpt2_dir, "text-generation")
    loaded.model.generation_config.eos_token_id = None  # always the full length unless stopped
    options = {"max_new_tokens": 300, "do_sample": False}
    full = run(loaded, "text-generation", ["The quick brown"], options)
    full_tokens = len(loaded.tokenizer(full.sequences[0])["input_ids"])
    assert full_tokens >= 250
    cancel = threading.Event()
    partials: list[str] = []

    def emit(partial: Any) -> None:
        partials.append(partial.sequences[-1])
        cancel.set()

    with pytest.raises(Cancelled):
        run(loaded, "text-generation", ["The quick brown"], options, cancel=cancel, emit=emit)
    assert partials and len(loaded.tokenizer(partials[-1])["input_ids"]) < full_tokens // 4


@pytest.fixture(scope="module")
def tagging_ner_dir(tmp_path_factory: pytest.TempPathFactory, tiny_ner_dir: Path) -> Path:
    """The tiny NER model with its O label suppressed, so every token gets an entity label."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(tiny_ner_dir)
    with torch.no_grad():
        model.classifier.bias[0] = -20.0
    path = tmp_path_factory.mktemp("tagging-ner")
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_ner_dir).save_pretrained(path)
    return path


NER_TEXT = "Huggingface tokenization transformers in Brooklyn by Sylvain"


def test_ner_aggregation_strategies_follow_the_pipeline(tagging_ner_dir: Path) -> None:
    from transformers import pipeline

    loaded = load(tagging_ner_dir, "token-classification")
    pipe = pipeline("token-classification", model=loaded.model, tokenizer=loaded.tokenizer)
    got: dict[str, list[tuple[str, str, int, int]]] = {}
    for strategy in ("none", "simple", "first", "max", "average"):
        result = run(loaded, "token-classification", [NER_TEXT], {"aggregation_strategy": strategy})
        truth = pipe(NER_TEXT, aggregation_strategy=strategy)
        got[strategy] = [(e.word, e.type, e.start, e.end) for e in result.items[0].entities]
        assert got[strategy] == [
            (t["word"], t.get("entity_group") or t["entity"], t["start"], t["end"]) for t in truth
        ], strategy
        assert [e.score for e in result.items[0].entities] == pytest.approx([t["score"] for t in truth], abs=1e-5)
    # the strategies differ on this text: "none" keeps sub-word pieces with B-/I- labels, the others group words
    assert any(word.startswith("##") for word, *_ in got["none"])
    assert all(kind.startswith(("B-", "I-")) for _, kind, *_ in got["none"])
    assert not any(kind.startswith(("B-", "I-")) for _, kind, *_ in got["simple"])
    assert got["first"] != got["max"] or got["first"] != got["simple"]


@pytest.mark.parametrize("multi_label", [False, True])
def test_zero_shot_scores_are_the_entailment_softmax(tiny_nli_dir: Path, multi_label: bool) -> None:
    import torch

    loaded = load(tiny_nli_dir, "zero-shot-classification")
    labels = ["sport", "politics", "cooking"]
    text = "I like football"
    result = run(
        loaded,
        "zero-shot-classification",
        [text],
        {"candidate_labels": ", ".join(labels), "multi_label": multi_label},
        explain=True,
    )
    scores = {s.label: s.score for s in result.items[0].labels}
    # the truth, from the model's logits for each (text, hypothesis) pair, computed here
    tok, model = loaded.tokenizer, loaded.model
    with torch.inference_mode():
        logits = torch.cat(
            [model(**tok(text, f"This example is {label}.", return_tensors="pt")).logits for label in labels]
        )
    entail, contra = 2, 0  # labels: contradiction, neutral, entailment
    if multi_label:
        expected = logits[:, [contra, entail]].softmax(-1)[:, 1]
        assert sum(scores.values()) != pytest.approx(1.0, abs=1e-3)
    else:
        expected = logits[:, entail].softmax(-1)
        assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)
    assert [scores[label] for label in labels] == pytest.approx(expected.tolist(), abs=1e-5)
    shown = {line.split()[0]: float(line.split()[1]) for line in _lines(result.explanation.steps[-1])}
    assert shown == pytest.approx(scores, abs=1e-4)


def test_task_settings_for_every_task_name_each_field(tiny_gpt2_dir: Path, tiny_bert_cls_dir: Path) -> None:
    """The form's view: one Setting per field, the user's value marked as given."""
    from tui_hf.core.tasks import get_task
    from tui_hf.core.tasks.defaults import GIVEN, TUI_HF
    from tui_hf.core.tasks.forms import task_settings

    loaded = load(tiny_gpt2_dir, "text-generation")
    settings = task_settings("text-generation", loaded, {"num_return_sequences": 2, "temperature": 0.3})
    assert set(settings) == {f.name for f in get_task("text-generation").fields}
    assert settings["num_return_sequences"].source == GIVEN and settings["num_return_sequences"].value == 2
    assert settings["temperature"].value == 0.3 and settings["seed"] == type(settings["seed"])(0, TUI_HF)
    loaded = load(tiny_bert_cls_dir, "token-classification")
    assert task_settings("ner", loaded)["aggregation_strategy"].value == "simple"


def test_every_task_reference_resolves_to_a_runner_of_the_contract() -> None:
    import inspect

    from tui_hf.core.tasks.registry import RUNNER_PARAMETERS, TASKS

    for spec in TASKS.values():
        runner = spec.load_runner()
        params = inspect.signature(runner).parameters
        assert tuple(params) == RUNNER_PARAMETERS, spec.name
        assert params["explain"].kind is inspect.Parameter.KEYWORD_ONLY, spec.name
        assert runner.__module__ == f"tui_hf.core.tasks.{spec.runner.module}"


def test_a_runner_off_the_contract_is_refused_at_its_first_load() -> None:
    from tui_hf.core.tasks.registry import RunnerRef

    # tasks.common.check_cancel is a function of the tasks package that is not a runner.
    with pytest.raises(TypeError, match="a Runner takes"):
        RunnerRef("common", "check_cancel").load()
