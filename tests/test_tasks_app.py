"""Every task end to end in the app, on tiny random models of each architecture built offline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, TextArea

from tests.conftest import wait_until
from tests.helpers import slow_each_step, text_of
from tui_hf.ui.app import make_app
from tui_hf.ui.inference.output import OutputPane
from tui_hf.ui.messages import RunProgressed

SIZE = (140, 44)
QA_REFERENCE = Path(__file__).parent / "reference"  # tiny QA models and what transformers 4.57 answered


async def run_in_app(
    app_settings: Any,
    task: str,
    model: Path | str,
    text: str,
    fields: dict[str, str] | None = None,
    messages: list[Any] | None = None,
) -> tuple[Any, Any, str]:
    """Open the app on `task` and `model`, fill the task's fields, run, and return (app, result, screen text)."""
    seen = messages if messages is not None else []
    app = make_app(app_settings(task=task, model=str(model), text=text))
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None or app.last_load_error is not None)
        assert app.last_load_error is None, app.last_load_error
        for name, value in (fields or {}).items():
            widget = app.query_one(f"#field-{name}")
            if isinstance(widget, TextArea):
                widget.text = value
            elif isinstance(widget, Input):
                widget.value = value
            else:
                widget.value = value  # Select / Checkbox
        await pilot.press("ctrl+r")
        out = app.query_one(OutputPane)
        await wait_until(
            pilot,
            lambda: (
                out.result is not None
                and getattr(out.result, "done", True)
                or "failed" in text_of(app.query_one("#status-state"))
            ),
        )
        await app.workers.wait_for_complete()
        await pilot.pause()
        return app, out.result, text_of(app.query_one("#output-view"))


async def test_ner_highlights_entities_with_spans(app_settings: Any, tiny_ner_dir: Path) -> None:
    _app, result, shown = await run_in_app(
        app_settings, "ner", tiny_ner_dir, "John lives in Paris", {"aggregation_strategy": "none"}
    )
    item = result.items[0]
    assert item.entities, "a random 5-label model tags something"
    for e in item.entities:
        assert e.type in {"B-PER", "I-PER", "B-LOC", "I-LOC"}
        assert item.text[e.start : e.end].lower() == e.word.lower().removeprefix("##")
    assert "word" in shown and "type" in shown and "span" in shown


async def test_question_answering_shows_what_transformers_4_57_answered(app_settings: Any) -> None:
    """Through the form, on a context five windows long: the screen shows the v4 pipeline's recorded answers."""
    case = next(
        c for c in json.loads((QA_REFERENCE / "v4_qa.json").read_text())["cases"] if c["name"] == "long top_k 3"
    )
    fields = {"context": case["context"], **{k: str(v) for k, v in case["settings"].items()}}
    _app, result, shown = await run_in_app(
        app_settings, "question-answering", QA_REFERENCE / "models" / case["model"], case["question"], fields
    )
    best = case["answers"][0]
    assert (
        f"A: {best['answer']}  score {best['score']:.4f} · chars {best['start']}:{best['end']} · "
        f"{case['windows']} windows"
    ) in shown
    rows = [re.sub(r"\s+", " ", line).strip() for line in shown.splitlines()]
    for k, a in enumerate(case["answers"], 1):  # the top-k table: rank, answer, score, bar, span
        assert any(
            re.fullmatch(rf"{k} {re.escape(a['answer'])} {a['score']:.4f} \S* ?{a['start']}:{a['end']}", row)
            for row in rows
        ), f"row {k} of the top answers"
    assert f"context[{best['start']}:{best['end']}] = {best['answer']!r}" in result.explanation.steps[-1].value


async def test_question_answering_without_context_says_so(app_settings: Any, tiny_qa_dir: Path) -> None:
    app, result, shown = await run_in_app(app_settings, "question-answering", tiny_qa_dir, "Where?")
    assert result is None
    assert "fill in the Context" in shown


async def test_fill_mask_replaces_the_mask(app_settings: Any, tiny_mlm_dir: Path) -> None:
    _app, result, shown = await run_in_app(
        app_settings, "fill-mask", tiny_mlm_dir, "Paris is the [MASK] of France.", {"top_k": "4"}
    )
    item = result.items[0]
    assert len(item.masks) == 1 and len(item.masks[0]) == 4
    assert "[MASK]" not in item.filled
    assert item.filled.replace(item.masks[0][0].token, "[MASK]", 1) == item.text
    assert sum(c.score for c in item.masks[0]) <= 1.0


async def test_fill_mask_without_mask_token_explains(app_settings: Any, tiny_mlm_dir: Path) -> None:
    _app, result, shown = await run_in_app(app_settings, "fill-mask", tiny_mlm_dir, "no mask here")
    assert result is None and "[MASK]" in shown and "put this model's mask token" in shown


async def test_fill_mask_key_inserts_the_models_mask(app_settings: Any, tiny_mlm_dir: Path) -> None:
    app = make_app(app_settings(task="fill-mask", model=str(tiny_mlm_dir), text="Paris is the "))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.tokenizer is not None)
        area = app.query_one("#input-text", TextArea)
        area.focus()
        area.move_cursor((0, len("Paris is the ")))
        await pilot.press("f8")
        assert area.text == "Paris is the [MASK]"


@pytest.mark.parametrize(
    "task, fields",
    [
        ("summarization", {"max_new_tokens": "6", "min_new_tokens": "2", "num_beams": "2"}),
        ("translation", {"src_lang": "en", "tgt_lang": "de", "max_new_tokens": "6"}),
        ("text2text-generation", {"max_new_tokens": "6"}),
    ],
)
async def test_seq2seq_tasks_generate(app_settings: Any, tiny_t5_dir: Path, task: str, fields: dict[str, str]) -> None:
    _app, result, shown = await run_in_app(
        app_settings, task, tiny_t5_dir, "The quick brown fox jumps over the lazy dog.\nA second input.", fields
    )
    assert [i.input for i in result.items] == ["The quick brown fox jumps over the lazy dog.", "A second input."]
    assert all(i.output for i in result.items)
    expected_prefix = {
        "summarization": "summarize: ",
        "translation": "translate English to German: ",
        "text2text-generation": "",
    }[task]
    assert result.prefix == expected_prefix
    assert "→" in shown


async def test_text_generation_streams_before_the_end(app_settings: Any, tiny_gpt2_dir: Path) -> None:
    seen: list[Any] = []
    _app, result, shown = await run_in_app(
        app_settings,
        "text-generation",
        tiny_gpt2_dir,
        "The quick brown",
        {"max_new_tokens": "12", "num_return_sequences": "2", "seed": "3", "do_sample": "on"},
        messages=seen,
    )
    partials = [m.partial for m in seen if isinstance(m, RunProgressed)]
    assert len(partials) >= 2 and not partials[0].done
    assert len(partials[0].sequences[0]) < len(result.sequences[0])  # tokens arrived before the end
    assert len(result.sequences) == 2 and result.done
    assert shown.count("The quick brown") == 2


async def test_zero_shot_scores_the_given_labels(app_settings: Any, tiny_nli_dir: Path) -> None:
    _app, result, shown = await run_in_app(
        app_settings,
        "zero-shot-classification",
        tiny_nli_dir,
        "I like football",
        {"candidate_labels": "sport, politics, cooking"},
    )
    labels = result.items[0].labels
    assert {s.label for s in labels} == {"sport", "politics", "cooking"}
    assert sum(s.score for s in labels) == pytest.approx(1.0, abs=1e-4)
    assert "cooking" in shown


async def test_zero_shot_on_a_non_nli_model_names_what_it_needs(app_settings: Any, tiny_bert_cls_dir: Path) -> None:
    _app, result, shown = await run_in_app(app_settings, "zero-shot-classification", tiny_bert_cls_dir, "hi")
    assert result is None and "not an NLI model" in shown and "bart-large-mnli" in shown


async def test_chat_streams_keeps_history_and_resets(app_settings: Any, tiny_chat_dir: Path) -> None:
    seen: list[Any] = []
    app = make_app(app_settings(task="conversational", model=str(tiny_chat_dir), text="hello there"))
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        app.query_one("#field-max_new_tokens", Input).value = "8"
        out = app.query_one(OutputPane)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.chat_history) == 2)
        assert [m["role"] for m in app.chat_history] == ["user", "assistant"]
        assert app.query_one("#input-text", TextArea).text == ""  # the message was sent
        assert any(isinstance(m, RunProgressed) for m in seen)
        app.query_one("#input-text", TextArea).text = "and again"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.chat_history) == 4)
        assert app.chat_history[2] == {"role": "user", "content": "and again"}
        shown = text_of(app.query_one("#output-view"))
        assert "hello there" in shown and "and again" in shown
        await pilot.click("#output-new-chat")
        await pilot.pause()
        assert app.chat_history == [] and out.result is None


async def test_chat_longer_than_the_model_reads_says_so(app_settings: Any, tiny_chat_dir: Path) -> None:
    _app, result, shown = await run_in_app(app_settings, "conversational", tiny_chat_dir, "word " * 1100)
    assert result is None and "reads at most 1024" in shown


async def test_chat_without_template_names_what_it_needs(app_settings: Any, tiny_gpt2_dir: Path) -> None:
    _app, result, shown = await run_in_app(app_settings, "conversational", tiny_gpt2_dir, "hello")
    assert result is None and "no chat template" in shown


async def test_cancel_stops_a_running_generation(app_settings: Any, tiny_gpt2_dir: Path) -> None:
    app = make_app(app_settings(task="text-generation", model=str(tiny_gpt2_dir), text="The quick brown"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        app.query_one("#field-max_new_tokens", Input).value = "100000"
        app.query_one("#field-num_return_sequences", Input).value = "1"
        slow_each_step(app.loaded.model)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "streaming" in text_of(app.query_one("#output-meta")))
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "cancelled" in text_of(app.query_one("#status-state"))
        assert app.query_one("#run").disabled is False and app.query_one("#cancel").disabled is True
        assert app.query_one(OutputPane).result is None or not app.query_one(OutputPane).result.done


async def test_translation_shows_the_codes_and_the_forced_token(app_settings: Any, tiny_nllb_dir: Path) -> None:
    _app, result, shown = await run_in_app(
        app_settings,
        "translation",
        tiny_nllb_dir,
        "Hello there",
        {"src_lang": "English", "tgt_lang": "French", "max_new_tokens": "3"},
    )
    assert (result.src_lang, result.tgt_lang) == ("eng_Latn", "fra_Latn")
    assert "eng_Latn → fra_Latn" in shown and "fra_Latn forced first" in shown


async def test_summarization_shows_where_its_settings_come_from(app_settings: Any, tiny_bart_dir: Path) -> None:
    _app, result, shown = await run_in_app(app_settings, "summarization", tiny_bart_dir, "The quick brown fox.")
    assert result.settings["num_beams"] == 3
    assert "num_beams 3 (task_specific_params)" in shown
