"""The app's shell as a user meets it: keys that always work, no half states, no stale panes, 80x24."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input, TabbedContent, TextArea

from tests.conftest import wait_until
from tests.helpers import slow_each_step, text_of
from tui_hf.core.tasks import get_task
from tui_hf.ui.app import make_app
from tui_hf.ui.inference.output import OutputPane
from tui_hf.ui.main import TABS

WIDE, SMALL = (200, 50), (80, 24)
TAB_KEYS = [(tab, key) for tab, _title, key in TABS]


def tabs(app: Any) -> TabbedContent:
    return app.query_one("#tabs", TabbedContent)


async def goto(pilot: Any, tab: str) -> None:
    await pilot.press(dict(TAB_KEYS)[tab])
    await wait_until(pilot, lambda: tabs(pilot.app).active == tab)


# Widgets a user clicks, by tab: after each click every tab key must still switch tabs (TabbedContent
# otherwise goes back to the pane that holds focus).
CLICKS = [
    ("tokens", "#tok-special"),
    ("tokens", "#tok-max-length"),
    ("tokens", "#tok-table"),
    ("output", "#output-raw"),
    ("output", "#output-copy"),
    ("compare", "#compare-ref"),
    ("compare", "#compare-load"),
    ("training", "#train-runs"),
    ("tokens", "#input-text"),
]


def _pairs(per_click: int = 2) -> list[tuple[str, str, str, str]]:
    """(tab, widget clicked, tab whose key is pressed, key): every click and every key, each key for another tab
    than the one clicked in (the focus is what pulls TabbedContent back; its own tab's key proves nothing)."""
    others = [[(t, k) for t, k in TAB_KEYS if t != tab] for tab, _selector in CLICKS]
    pairs = [
        (*CLICKS[i], *others[i][(i * per_click + j) % len(others[i])])
        for i in range(len(CLICKS))
        for j in range(per_click)
    ]
    assert {key for *_, key in pairs} == {key for _tab, key in TAB_KEYS}  # every key pressed
    return pairs


async def test_every_tab_key_works_after_clicking_anything(app_settings: Any) -> None:
    app = make_app(app_settings(text="some text"))
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+r")  # an output to click on
        await wait_until(pilot, lambda: app.query_one(OutputPane).result is not None)
        for tab, selector, target, key in _pairs():
            await goto(pilot, tab)
            await pilot.click(selector)
            await pilot.press(key)
            await wait_until(pilot, lambda t=target: tabs(app).active == t, timeout=5)
            focused = app.focused
            assert focused is not None and target in [n.id for n in focused.ancestors_with_self], (
                selector,
                key,
                focused,
            )


async def test_palette_show_commands_work_after_clicking_a_button(app_settings: Any) -> None:
    app = make_app(app_settings(text="some text"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await goto(pilot, "output")
        await pilot.click("#output-raw")
        await pilot.press("ctrl+p")
        await pilot.press(*"Show Tokens")
        await wait_until(
            pilot, lambda: any("Show Tokens" in str(o.prompt) for o in app.screen.query_one("CommandList").options)
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: tabs(app).active == "tokens", timeout=5)


async def test_a_model_that_cannot_serve_the_task_leaves_the_loaded_one_in_charge(
    app_settings: Any, tiny_gpt2_dir: Path
) -> None:
    app = make_app(app_settings(task="text-generation", model=str(tiny_gpt2_dir), text="hello"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+t")
        tasks = app.query_one("#tasks")
        tasks.highlighted = [o.id for o in tasks.options].index("fill-mask")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.last_load_error is not None)
        # What is in memory is what the screen says: the GPT-2 for text-generation, not a half-loaded model.
        assert app.loaded.info.task == "text-generation"
        card = text_of(app.query_one("#model-card"))
        assert "GPT2LMHeadModel" in card and "text-generation" in card and "not loaded" in card
        assert "text-generation" in text_of(app.query_one("#status-model"))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: any("serves text-generation" in n.message for n in app._notifications))
        note = next(n.message for n in app._notifications if "serves text-generation" in n.message)
        assert "fill-mask needs" in note and "ctrl+o" in note
        assert app.query_one(OutputPane).result is None  # nothing ran: no 'has no attribute generate'


async def test_cancel_marks_the_output_and_keeps_what_was_streamed(app_settings: Any, tiny_gpt2_dir: Path) -> None:
    app = make_app(app_settings(task="text-generation", model=str(tiny_gpt2_dir), text="The quick brown fox"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        app.loaded.model.generation_config.eos_token_id = None  # the random model would stop early by chance
        app.query_one("#field-max_new_tokens", Input).value = "900"
        slow_each_step(app.loaded.model)
        await pilot.press("ctrl+r")
        out = app.query_one(OutputPane)
        await wait_until(pilot, lambda: out.result is not None and out.result.sequences and out.result.sequences[0])
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: "cancelled" in text_of(app.query_one("#output-meta")))
        streamed = out.result.sequences[0]
        shown = text_of(app.query_one("#output-view"), width=400)
        assert streamed and "The quick brown fox" in shown and len(shown) > len("The quick brown fox") + 20
        assert "▌" not in shown  # no cursor: nothing more is coming
        await goto(pilot, "hood")
        assert "cancelled" in text_of(app.query_one("#hood-view"))


async def test_under_the_hood_never_shows_another_task(app_settings: Any, tiny_bert_cls_dir: Path) -> None:
    app = make_app(app_settings(task="sentiment-analysis", model=str(tiny_bert_cls_dir), text="I love it"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+r")
        await goto(pilot, "hood")
        await wait_until(pilot, lambda: "softmax" in text_of(app.query_one("#hood-view")))
        await app.main.switch_task(get_task("fill-mask"))
        await pilot.pause()
        assert "by hand" not in text_of(app.query_one("#hood-view"))
        assert "Run the task" in text_of(app.query_one("#hood-view"))


async def test_compare_follows_the_input(app_settings: Any, tiny_gpt2_dir: Path) -> None:
    app = make_app(app_settings(text="hello world"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None)
        await goto(pilot, "compare")
        app.query_one("#compare-ref", Input).value = str(tiny_gpt2_dir)
        await pilot.click("#compare-load")
        summary = app.query_one("#compare-summary")
        await wait_until(pilot, lambda: "tokens (" in text_of(summary))
        before = text_of(summary)
        assert before.startswith("4 vs")  # [CLS] hello world [SEP]
        area = app.query_one("#input-text", TextArea)
        area.text = "hello world and many more words to split into tokens"
        await wait_until(pilot, lambda: text_of(summary) != before, timeout=10)
        assert text_of(summary).startswith(f"{app.breakdown.total_tokens} vs")


async def test_picker_card_follows_a_typed_directory(app_settings: Any, tiny_ner_dir: Path) -> None:
    app = make_app(app_settings())
    async with app.run_test(size=WIDE) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+o")
        search = app.screen.query_one("#picker-search", Input)
        search.value = str(tiny_ner_dir)
        await wait_until(pilot, lambda: "BertForTokenClassification" in text_of(app.screen.query_one("#picker-card")))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.loaded is not None and app.loaded.info.source == str(tiny_ner_dir))


async def test_messages_keep_square_brackets(app_settings: Any, tiny_mlm_dir: Path) -> None:
    app = make_app(app_settings(task="fill-mask", model=str(tiny_mlm_dir), text="no mask here"))
    async with app.run_test(size=WIDE, notifications=True) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "failed" in text_of(app.query_one("#output-view")))
        assert "[MASK]" in text_of(app.query_one("#output-view"))
        # The toast is drawn without markup: the bracketed token stays.
        await wait_until(pilot, lambda: any("[MASK]" in str(t.render()) for t in app.screen.query("Toast")))


async def test_select_all_and_clear_input(app_settings: Any) -> None:
    app = make_app(app_settings(text="first line\nsecond line"))
    async with app.run_test(size=WIDE) as pilot:
        area = app.query_one("#input-text", TextArea)
        await pilot.press("alt+a")
        assert area.selected_text == "first line\nsecond line"
        await pilot.press("ctrl+l")
        assert area.text == ""
        await pilot.press("ctrl+z")
        assert area.text == "first line\nsecond line"


# -- 80x24 --------------------------------------------------------------------------------------------


def visible(app: Any, selector: str) -> bool:
    widget = app.screen.query_one(selector)
    region, screen = widget.region, app.screen.region
    return widget.display and region.width > 0 and region.height > 0 and screen.contains_region(region)


async def test_every_pane_is_usable_at_80x24(app_settings: Any) -> None:
    text = "A man is eating food.\nA man eats a meal."
    app = make_app(app_settings(text=text))
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await wait_until(pilot, lambda: app.breakdown is not None and app.loaded is not None)
        # Tokens: the coloured text has rows, the settings row is whole, the table shows tokens.
        assert app.query_one("#tok-text").region.height >= 3
        for selector in ("#tok-special", "#tok-truncation", "#tok-max-length", "#tok-padding"):
            assert visible(app, selector), selector
        assert app.query_one("#tok-table").region.height >= 2
        # Every key the footer shows is on screen.
        keys = app.screen.query("FooterKey")
        assert len(keys) >= 5 and all(app.screen.region.contains_region(k.region) for k in keys)
        # Output: each input's text is shown whole, on a line of its own.
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.query_one(OutputPane).result is not None)
        shown = text_of(app.query_one("#output-view"), width=app.query_one("#output-view").size.width)
        for line in text.split("\n"):
            assert line in shown
        await goto(pilot, "hood")
        assert visible(app, "#hood-pane")
        await goto(pilot, "compare")
        assert visible(app, "#compare-ref") and visible(app, "#compare-load")
        assert app.query_one("#compare-a").region.height >= 3
        await goto(pilot, "log")
        assert visible(app, "#log-pane")
        # Notifications never cover the status bar.
        app.notify("a message that must not hide the status bar")
        await wait_until(pilot, lambda: len(app.screen.query("Toast")) > 0)
        toast = app.screen.query("Toast").last()
        assert toast.region.bottom <= app.query_one("#status").region.y


async def test_dialogs_fit_at_80x24(app_settings: Any) -> None:
    app = make_app(app_settings())
    async with app.run_test(size=SMALL) as pilot:
        await wait_until(pilot, lambda: app.loaded is not None)
        await pilot.press("ctrl+s")
        await pilot.pause()
        label = app.screen.query_one("#save Label")
        assert "(save_pretrained, safetensors) to:" in " ".join(text_of(label, width=label.size.width).split())
        for selector in ("#save-path", "#save-overwrite", "#save-ok", "#save-cancel"):
            assert visible(app, selector), selector
